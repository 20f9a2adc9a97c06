"""Persistence: the repository interface and the two engines behind it (MongoDB, embedded)."""

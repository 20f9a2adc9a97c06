"""A FHIR R4 (4.0.1) server for national virtual care, persisted in MongoDB."""

__version__ = "0.1.0"

"""Real MongoDB through PyMongo's async API (``AsyncMongoClient``; Motor is deprecated).

Production deployments run a replica set (or Atlas / a sharded cluster) so that Bundle
transactions use multi-document transactions; on a standalone server they fall back to the
compensating path (see ``repository.py``).
"""

from __future__ import annotations

from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase


async def open_mongo(uri: str, database: str) -> tuple[AsyncMongoClient, AsyncDatabase, bool]:
    """Connect and report whether the deployment supports multi-document transactions."""
    client: AsyncMongoClient = AsyncMongoClient(uri, tz_aware=True)
    hello = await client.admin.command("hello")
    transactions = bool(hello.get("setName")) or hello.get("msg") == "isdbgrid"
    return client, client[database], transactions

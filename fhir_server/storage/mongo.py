"""Real MongoDB through PyMongo's async API (``AsyncMongoClient``; Motor is deprecated).

Production deployments run a replica set (or Atlas / a sharded cluster) so that Bundle
transactions use multi-document transactions; on a standalone server they fall back to the
compensating path (see ``repository.py``).

The client is ``tz_aware``: stored datetimes come back as aware UTC datetimes (the embedded engine
returns naive UTC ones; see ``repository.as_utc``).
"""

from __future__ import annotations

from typing import Any

from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import OperationFailure

COMMAND_NOT_FOUND = 59


async def open_mongo(uri: str, database: str) -> tuple[AsyncMongoClient, AsyncDatabase, bool]:
    """Connect and report whether the deployment supports multi-document transactions."""
    client: AsyncMongoClient = AsyncMongoClient(uri, tz_aware=True)
    try:
        hello = await _hello(client)
    except BaseException:
        await client.close()
        raise
    return client, client[database], supports_transactions(hello)


async def _hello(client: AsyncMongoClient) -> dict[str, Any]:
    try:
        return await client.admin.command("hello")
    except OperationFailure as error:  # servers before 4.4.2 know the command by its legacy name only
        if error.code != COMMAND_NOT_FOUND:
            raise
        return await client.admin.command("isMaster")


def supports_transactions(hello: dict[str, Any]) -> bool:
    """Multi-document transactions: a replica set member (``setName``) or a mongos (``msg:
    isdbgrid``), with sessions (``logicalSessionTimeoutMinutes``); not a standalone server."""
    if hello.get("logicalSessionTimeoutMinutes") is None:
        return False
    return bool(hello.get("setName")) or hello.get("msg") == "isdbgrid"

"""Short-lived exclusive keys across processes: documents with a unique ``_id`` in ``locks``.

A key is held by inserting ``{_id: key, exp}`` and released by deleting it; a TTL index on
``exp`` (and the waiter itself) clears keys whose holder died. Conditional creates and updates
hold the key of their criteria, so concurrent identical requests cannot create duplicates
(http://hl7.org/fhir/R4/http.html#ccreate).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

from pymongo.errors import BulkWriteError


class LockBusy(Exception):
    """A lock stayed held by another writer for longer than the caller would wait."""


def _now() -> datetime:
    return datetime.now(timezone.utc)


@contextlib.asynccontextmanager
async def hold(locks: Any, keys: Sequence[str], *, hold_seconds: float = 30, wait_seconds: float = 10) -> AsyncIterator[None]:
    """Hold every one of ``keys`` at once (one ``insert_many``), waiting up to ``wait_seconds``.

    Either all keys are taken or, on contention, the ones taken are released before waiting and
    retrying, so two holders of overlapping key sets never deadlock.
    """
    wanted = sorted(set(keys))
    if not wanted:
        yield
        return
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_seconds
    delay = 0.001
    while True:
        now = _now()
        try:
            await locks.insert_many([{"_id": k, "exp": now + timedelta(seconds=hold_seconds)} for k in wanted], ordered=False)
            break
        except BulkWriteError as error:
            busy = [wanted[e["index"]] for e in error.details.get("writeErrors", [])]
            taken = [k for k in wanted if k not in busy]
            if taken:
                await locks.delete_many({"_id": {"$in": taken}})
            await locks.delete_many({"_id": {"$in": busy}, "exp": {"$lt": now}})
            if loop.time() > deadline:
                raise LockBusy(", ".join(busy)) from None
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.05)
    try:
        yield
    finally:
        await locks.delete_many({"_id": {"$in": wanted}})

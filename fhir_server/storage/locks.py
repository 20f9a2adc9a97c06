"""Short-lived exclusive keys across processes: documents with a unique ``_id`` in ``locks``.

A key is held by inserting ``{_id: key, exp, o: owner}`` and released by deleting it. A holder
that died leaves its keys behind until ``exp``: waiters delete expired keys themselves, and a TTL
index on ``exp`` clears forgotten ones in the background. Correctness never waits for the TTL
monitor (it runs about once a minute on MongoDB, never on the embedded engine). Conditional creates
and updates hold the key of their criteria, so concurrent identical requests cannot create
duplicates (http://hl7.org/fhir/R4/http.html#ccreate).

``o`` is a token of the holder: releasing deletes only the keys that still carry it, so a holder
that overran ``exp`` (its keys taken over by a waiter meanwhile) does not release the new holder's.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

from pymongo.errors import BulkWriteError

DUPLICATE_KEY = (11000, 11001)


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
    owner = secrets.token_hex(8)
    mine = {"_id": {"$in": wanted}, "o": owner}
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_seconds
    delay = 0.001
    while True:
        now = _now()
        try:
            await locks.insert_many([{"_id": k, "exp": now + timedelta(seconds=hold_seconds), "o": owner} for k in wanted], ordered=False)
            break
        except BulkWriteError as error:
            errors = error.details.get("writeErrors") or []
            if not errors or any(e.get("code") not in DUPLICATE_KEY for e in errors):
                await locks.delete_many(mine)  # not contention (e.g. a write concern error): give back and fail
                raise
            busy = [wanted[e["index"]] for e in errors]
            await locks.delete_many(mine)
            await locks.delete_many({"_id": {"$in": busy}, "exp": {"$lt": now}})
            if loop.time() > deadline:
                raise LockBusy(", ".join(busy)) from None
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.05)
        except BaseException:
            await locks.delete_many(mine)  # whatever part of the batch was inserted before the failure
            raise
    try:
        yield
    finally:
        await locks.delete_many(mine)

"""The one repository: FHIR resources, their versions and history, over a MongoDB-shaped database.

Layout (the same on MongoDB and on the embedded engine):

* one collection per resource type holds the **current** version of each resource:
  ``{_id: id, vid: int, ts: datetime, del: bool, raw: bytes, <search index fields>}``; ``raw`` is
  the resource's JSON exactly as served, so reads serve stored bytes without re-serialising;
* ``history`` holds **every** version, immutable: ``{_id: "Type/id/vid", t, i, v, ts, del, m, raw}``
  (``m`` is the HTTP method that made it; a delete is a tombstone with ``raw = None``);
* ``locks`` holds short-lived keys (TTL index) serialising conditional creates.

No lost updates (http://hl7.org/fhir/R4/http.html#concurrency): a new version n+1 is first
inserted into ``history`` under the unique ``_id`` "Type/id/n+1", so of two writers that both read
version n exactly one succeeds; the winner then swaps the current document guarded by ``vid = n``.
Every query passes through :meth:`Repository._scoped`, which adds the caller's access filter.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.errors import DuplicateKeyError

from fhir_server.context import RequestContext

HISTORY = "history"
LOCKS = "locks"
_SERVED_FIELDS = {"_id": 1, "vid": 1, "ts": 1, "del": 1, "raw": 1}


class VersionConflict(Exception):
    """The version a write expected to replace is no longer current (or already exists)."""


class LockBusy(Exception):
    """A lock stayed held by another writer for longer than the caller would wait."""


@dataclass(frozen=True, slots=True)
class StoredVersion:
    """One version of one resource as stored: ``raw`` is None for a delete tombstone."""

    type: str
    id: str
    vid: int
    ts: datetime
    deleted: bool
    raw: bytes | None
    method: str = ""


@dataclass(frozen=True, slots=True)
class NewVersion:
    """A version to write. ``expected_vid`` is the version it replaces (0: none may exist)."""

    type: str
    id: str
    vid: int
    ts: datetime
    raw: bytes | None
    index: dict[str, Any]
    method: str
    expected_vid: int

    @property
    def deleted(self) -> bool:
        return self.raw is None


def utc_now() -> datetime:
    """Now, truncated to the millisecond MongoDB stores, so stored and served times agree."""
    now = datetime.now(timezone.utc)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def _as_utc(ts: datetime) -> datetime:
    return ts if ts.tzinfo else ts.replace(tzinfo=timezone.utc)


def _current_version(resource_type: str, doc: dict[str, Any]) -> StoredVersion:
    return StoredVersion(resource_type, doc["_id"], doc["vid"], _as_utc(doc["ts"]), doc["del"], doc.get("raw"))


def _history_version(doc: dict[str, Any]) -> StoredVersion:
    return StoredVersion(doc["t"], doc["i"], doc["v"], _as_utc(doc["ts"]), doc["del"], doc.get("raw"), doc.get("m", ""))


def current_document(new: NewVersion) -> dict[str, Any]:
    """The current-collection document for ``new`` (a tombstone carries no search index)."""
    doc = {"_id": new.id, "vid": new.vid, "ts": new.ts, "del": new.deleted, "raw": new.raw}
    if not new.deleted:
        doc.update(new.index)
    return doc


def history_document(new: NewVersion) -> dict[str, Any]:
    return {
        "_id": f"{new.type}/{new.id}/{new.vid}", "t": new.type, "i": new.id, "v": new.vid,
        "ts": new.ts, "del": new.deleted, "m": new.method, "raw": new.raw,
    }


class Repository:
    """Reads and writes FHIR resources; the only code that talks to the database."""

    def __init__(
        self, database: Any, index_keys: Sequence[Sequence[tuple[str, int]]], *,
        supports_transactions: bool = False, client: Any = None,
    ) -> None:
        self.db = database
        self.client = client
        self.supports_transactions = supports_transactions
        self._index_keys = [list(keys) for keys in index_keys]
        self._indexed: set[str] = set()

    # -- set-up -----------------------------------------------------------------------------
    async def ensure_indexes(self) -> None:
        """Create the shared collections' indexes (idempotent). Type collections get theirs on first write."""
        history = self.db[HISTORY]
        await history.create_index([("t", ASCENDING), ("i", ASCENDING), ("v", DESCENDING)])
        await history.create_index([("ts", DESCENDING)])
        await history.create_index([("t", ASCENDING), ("ts", DESCENDING)])
        await self.db[LOCKS].create_index([("exp", ASCENDING)], expireAfterSeconds=0)

    async def ensure_type_indexes(self, resource_type: str) -> None:
        """The indexes of one type's current collection: ``(del, ts)`` and the search attribute indexes."""
        if resource_type in self._indexed:
            return
        collection = self.db[resource_type]
        await collection.create_index([("del", ASCENDING), ("ts", DESCENDING)])
        for keys in self._index_keys:
            await collection.create_index(keys)
        self._indexed.add(resource_type)

    # -- access seam --------------------------------------------------------------------------
    @staticmethod
    def _scoped(ctx: RequestContext, resource_type: str, filter: dict[str, Any]) -> dict[str, Any]:
        """``filter`` restricted to what ``ctx`` may see; every read query goes through here."""
        access = ctx.access_filter(resource_type)
        return {"$and": [filter, access]} if access else filter

    # -- reads --------------------------------------------------------------------------------
    async def current(self, ctx: RequestContext, resource_type: str, resource_id: str, *, session: Any = None) -> StoredVersion | None:
        """The current version (possibly a tombstone), or None if the id never existed."""
        doc = await self.db[resource_type].find_one(
            self._scoped(ctx, resource_type, {"_id": resource_id}), _SERVED_FIELDS, session=session
        )
        return _current_version(resource_type, doc) if doc else None

    async def version(self, ctx: RequestContext, resource_type: str, resource_id: str, vid: int) -> StoredVersion | None:
        if not await self.current(ctx, resource_type, resource_id):
            return None
        doc = await self.db[HISTORY].find_one({"_id": f"{resource_type}/{resource_id}/{vid}"})
        return _history_version(doc) if doc else None

    async def find(
        self, ctx: RequestContext, resource_type: str, filter: dict[str, Any], *,
        sort: Sequence[tuple[str, int]] | None = None, skip: int = 0, limit: int = 0,
        fields: dict[str, int] | None = None, session: Any = None,
    ) -> list[dict[str, Any]]:
        """Current, non-deleted documents matching ``filter`` (search index fields included on request)."""
        query = self._scoped(ctx, resource_type, {"del": False, **filter})
        cursor = self.db[resource_type].find(query, fields or _SERVED_FIELDS, session=session)
        if sort:
            cursor = cursor.sort(list(sort))
        if skip:
            cursor = cursor.skip(skip)
        if limit:
            cursor = cursor.limit(limit)
        return await cursor.to_list(None)

    async def count(self, ctx: RequestContext, resource_type: str, filter: dict[str, Any]) -> int:
        return await self.db[resource_type].count_documents(self._scoped(ctx, resource_type, {"del": False, **filter}))

    @staticmethod
    def stored(resource_type: str, doc: dict[str, Any]) -> StoredVersion:
        """A document returned by :meth:`find` as a StoredVersion."""
        return _current_version(resource_type, doc)

    async def history(
        self, ctx: RequestContext, *, resource_type: str | None = None, resource_id: str | None = None,
        since: datetime | None = None, before: datetime | None = None, skip: int = 0, limit: int = 50,
    ) -> tuple[list[StoredVersion], int]:
        """Versions newest first (http://hl7.org/fhir/R4/http.html#history) and their total."""
        filter: dict[str, Any] = {}
        if resource_type:
            filter["t"] = resource_type
            if resource_id:
                filter["i"] = resource_id
        window: dict[str, datetime] = {}
        if since:
            window["$gte"] = since
        if before:
            window["$lte"] = before
        if window:
            filter["ts"] = window
        history = self.db[HISTORY]
        total = await history.count_documents(filter)
        cursor = history.find(filter).sort([("ts", DESCENDING), ("v", DESCENDING)]).skip(skip).limit(limit)
        return [_history_version(d) for d in await cursor.to_list(None)], total

    # -- writes -------------------------------------------------------------------------------
    async def save(self, new: NewVersion, *, session: Any = None) -> None:
        """Write ``new`` unless ``new.expected_vid`` is no longer current: then VersionConflict."""
        await self.ensure_type_indexes(new.type)
        try:
            await self.db[HISTORY].insert_one(history_document(new), session=session)
        except DuplicateKeyError:
            raise VersionConflict(f"{new.type}/{new.id} version {new.vid} already exists") from None
        try:
            await self._swap_current(new, session)
        except VersionConflict:
            await self.db[HISTORY].delete_one({"_id": f"{new.type}/{new.id}/{new.vid}"}, session=session)
            raise

    async def _swap_current(self, new: NewVersion, session: Any) -> None:
        collection = self.db[new.type]
        doc = current_document(new)
        if new.expected_vid == 0:
            try:
                await collection.insert_one(doc, session=session)
            except DuplicateKeyError:
                raise VersionConflict(f"{new.type}/{new.id} already exists") from None
            return
        result = await collection.replace_one({"_id": new.id, "vid": new.expected_vid}, doc, session=session)
        if result.matched_count != 1:
            raise VersionConflict(f"{new.type}/{new.id} is no longer at version {new.expected_vid}")

    # -- locks --------------------------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def lock(self, key: str, *, hold_seconds: float = 30, wait_seconds: float = 10) -> AsyncIterator[None]:
        """Hold ``key`` exclusively across processes (a unique ``_id`` in ``locks``, expiring by TTL)."""
        locks = self.db[LOCKS]
        deadline = asyncio.get_running_loop().time() + wait_seconds
        delay = 0.001
        while True:
            now = utc_now()
            try:
                await locks.insert_one({"_id": key, "exp": now + timedelta(seconds=hold_seconds)})
                break
            except DuplicateKeyError:
                await locks.delete_one({"_id": key, "exp": {"$lt": now}})
                if asyncio.get_running_loop().time() > deadline:
                    raise LockBusy(key) from None
                await asyncio.sleep(delay)
                delay = min(delay * 2, 0.05)
        try:
            yield
        finally:
            await locks.delete_one({"_id": key})

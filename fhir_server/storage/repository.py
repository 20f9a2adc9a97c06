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

All or nothing (http://hl7.org/fhir/R4/http.html#trules): :meth:`Repository.apply` writes many
versions in bulk (one ``insert_many`` into ``history``, then per type one ``insert_many`` and one
``bulk_write`` of guarded replacements) inside a session transaction where the deployment has
multi-document transactions (replica set, sharded cluster); on a standalone server and on the
embedded engine it undoes exactly what it applied when any step fails: it deletes the history
versions it inserted and the current documents it created, and puts back, byte for byte, the
current documents it replaced (read before replacing). Every undo step is guarded by the version
it wrote, so it never touches another writer's data. :meth:`Repository.revert` takes back a
completed unit of work the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from pymongo import ASCENDING, DESCENDING, DeleteOne, IndexModel, ReplaceOne
from pymongo.errors import BulkWriteError, DuplicateKeyError, OperationFailure, PyMongoError

from fhir_server.context import RequestContext
from fhir_server.storage import locks
from fhir_server.storage.export_store import ExportStore
from fhir_server.storage.locks import LockBusy
from fhir_server.storage.stored_form import StoredForm, stored_time

__all__ = ["AlreadyRecorded", "Applied", "LockBusy", "NewVersion", "Repository", "StoredVersion", "VersionConflict", "as_utc", "utc_now"]

HISTORY = "history"
ORPHAN_SECONDS = 60
# Newest first; versions written in the same millisecond by different resources are ordered by
# their "Type/id/vid" key, so every history page has one total, repeatable order.
HISTORY_ORDER = [("ts", DESCENDING), ("v", DESCENDING), ("_id", DESCENDING)]
LOCKS = "locks"
TRANSACTIONS = "transactions"
"""Identified transactions already applied (``interactions/replay.py``): ``_id`` the key of their
``Bundle.identifier``, expiring by TTL on ``exp``."""
TRANSACTION_ATTEMPTS = 3  # runs of a unit of work whose transaction failed transiently (not a write conflict)
COMMIT_ATTEMPTS = 5  # commits of a transaction whose outcome the server left unknown
WRITE_CONFLICT = 112  # MongoDB's WriteConflict: another writer changed a document this transaction writes
INDEX_CONFLICTS = (85, 86)  # IndexOptionsConflict, IndexKeySpecsConflict: an index of the same keys or name differs
_SERVED_FIELDS = {"_id": 1, "vid": 1, "ts": 1, "del": 1, "raw": 1}


class AlreadyRecorded(Exception):
    """Another unit of work has recorded the same identified transaction (:meth:`Repository.apply`)."""


class VersionConflict(Exception):
    """The version a write expected to replace is no longer current (or already exists).

    ``resource`` is the ``(type, id)`` that conflicted, when it is known.
    """

    def __init__(self, message: str, resource: tuple[str, str] | None = None) -> None:
        super().__init__(message)
        self.resource = resource


@dataclass(slots=True)
class StoredVersion:
    """One version of one resource as stored: ``raw`` is None for a delete tombstone.

    A value: never changed once made. Not ``frozen``: a frozen dataclass sets each field through
    ``object.__setattr__``, four times the cost of making it, and several are made per written
    resource (this one, :class:`NewVersion`, ``plans.Planned``)."""

    type: str
    id: str
    vid: int
    ts: datetime
    deleted: bool
    raw: bytes | None
    method: str = ""


@dataclass(slots=True)
class NewVersion:
    """A version to write. ``expected_vid`` is the version it replaces (0: none may exist).
    A value, like :class:`StoredVersion` (and not frozen for the same reason)."""

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
    """Now, truncated to the millisecond MongoDB stores, so stored and served times agree.

    The writes of one millisecond (several, during a bulk load) share one datetime object."""
    global _now
    millis = time.time_ns() // 1_000_000
    if _now[0] != millis:
        _now = (millis, _EPOCH + timedelta(0, 0, 0, millis))  # positional: keyword arguments cost more than the rest
    return _now[1]


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_now: tuple[int, datetime] = (0, _EPOCH)


def as_utc(ts: datetime) -> datetime:
    """A stored datetime as aware UTC: MongoDB (``tz_aware=True``) returns aware UTC datetimes, the
    embedded engine naive UTC ones; compare or compute with a stored datetime only through this."""
    return ts if ts.tzinfo else ts.replace(tzinfo=timezone.utc)


def _current_version(resource_type: str, doc: dict[str, Any]) -> StoredVersion:
    return StoredVersion(resource_type, doc["_id"], doc["vid"], as_utc(doc["ts"]), doc["del"], doc.get("raw"))


def _history_version(doc: dict[str, Any]) -> StoredVersion:
    return StoredVersion(doc["t"], doc["i"], doc["v"], as_utc(doc["ts"]), doc["del"], doc.get("raw"), doc.get("m", ""))


def current_document(new: NewVersion) -> StoredForm:
    """The current-collection document for ``new`` (a tombstone carries no search index).

    Handed to the store as it is: the search index comes from extraction in stored form and is
    not changed after (``NewVersion.index`` is read, never written, once the version exists)."""
    doc = StoredForm({"_id": new.id, "vid": new.vid, "ts": stored_time(new.ts), "del": new.deleted, "raw": new.raw})
    if not new.deleted:
        doc.update(new.index)
    return doc


def history_document(new: NewVersion) -> StoredForm:
    return StoredForm({
        "_id": f"{new.type}/{new.id}/{new.vid}", "t": new.type, "i": new.id, "v": new.vid,
        "ts": stored_time(new.ts), "del": new.deleted, "m": new.method, "raw": new.raw,
    })


@dataclass
class Applied:
    """What :meth:`Repository.apply` wrote and the documents it replaced: enough to take it back."""

    versions: list[NewVersion]
    previous: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    history_ids: list[str] | None = field(default_factory=list)  # None: not known which were inserted
    touched_current: bool = False
    record: dict[str, Any] | None = None  # written to TRANSACTIONS in the same unit of work
    recorded: bool = False


async def _commit_again(session: Any, error: PyMongoError) -> None:
    """Commit again a transaction whose commit ended with ``UnknownTransactionCommitResult``."""
    for attempt in range(1, COMMIT_ATTEMPTS + 1):
        await asyncio.sleep(0.05 * attempt)
        try:
            await session.commit_transaction()
            return
        except PyMongoError as again:
            if not again.has_error_label("UnknownTransactionCommitResult") or attempt == COMMIT_ATTEMPTS:
                raise
            error = again
    raise error


def _by_type(versions: Sequence[NewVersion]) -> dict[str, list[NewVersion]]:
    groups: dict[str, list[NewVersion]] = {}
    for version in versions:
        groups.setdefault(version.type, []).append(version)
    return groups


def _conflict(error: BulkWriteError, versions: Sequence[NewVersion], what: str) -> Exception:
    """A duplicate key in a bulk insert is a VersionConflict naming the version; other errors stay."""
    first = (error.details.get("writeErrors") or [{}])[0]
    if first.get("code") not in (11000, 11001):
        return error
    version = versions[first.get("index", 0)]
    return VersionConflict(f"{version.type}/{version.id} " + what.format(vid=version.vid), (version.type, version.id))


class Repository(ExportStore):
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
        self._indexing: dict[str, asyncio.Future[None]] = {}

    # -- set-up -----------------------------------------------------------------------------
    async def ensure_indexes(self) -> None:
        """Create the shared collections' indexes (idempotent). Type collections get theirs on first write."""
        history = self.db[HISTORY]
        await history.create_index([("t", ASCENDING), ("i", ASCENDING), ("v", DESCENDING)])
        await history.create_index([("ts", DESCENDING)])
        await history.create_index([("t", ASCENDING), ("ts", DESCENDING)])
        await self.db[LOCKS].create_index([("exp", ASCENDING)], expireAfterSeconds=0)
        await self.db[TRANSACTIONS].create_index([("exp", ASCENDING)], expireAfterSeconds=0)

    async def ensure_type_indexes(self, resource_type: str) -> None:
        """The indexes of one type's current collection: ``(del, ts)`` and the search attribute indexes.

        Created outside any transaction (MongoDB creates indexes in a transaction only on a new
        collection, and not in a cross-shard one), once per process and type: concurrent first
        writes of a type share one ``createIndexes``."""
        if resource_type in self._indexed:
            return
        pending = self._indexing.get(resource_type)
        if pending is None:
            pending = self._indexing[resource_type] = asyncio.ensure_future(self._create_type_indexes(resource_type))
            pending.add_done_callback(lambda _: self._indexing.pop(resource_type, None))
        await asyncio.shield(pending)

    async def _create_type_indexes(self, resource_type: str) -> None:
        models = [IndexModel([("del", ASCENDING), ("ts", DESCENDING)])] + [IndexModel(keys) for keys in self._index_keys]
        try:
            await self.db[resource_type].create_indexes(models)  # one round trip; a no-op for existing indexes
        except OperationFailure as error:  # another process creating the collection or the same indexes at once
            if error.code in INDEX_CONFLICTS:
                raise
            await self.db[resource_type].create_indexes(models)
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
        if sort:  # a sort no index serves may pass MongoDB's 100 MB in-memory limit (before 6.0)
            cursor = cursor.sort(list(sort)).allow_disk_use(True)
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
        cursor = history.find(filter).sort(HISTORY_ORDER).allow_disk_use(True).skip(skip).limit(limit)
        return [_history_version(d) for d in await cursor.to_list(None)], total

    # -- writes -------------------------------------------------------------------------------
    async def save(self, new: NewVersion, *, session: Any = None) -> None:
        """Write ``new`` unless ``new.expected_vid`` is no longer current: then VersionConflict."""
        await self.ensure_type_indexes(new.type)
        if not await self._insert_history(new, session):
            if not (await self._drop_orphan(new, session) and await self._insert_history(new, session)):
                raise VersionConflict(f"{new.type}/{new.id} version {new.vid} already exists")
        try:
            await self._swap_current(new, session)
        except VersionConflict:
            await self.db[HISTORY].delete_one({"_id": f"{new.type}/{new.id}/{new.vid}"}, session=session)
            raise

    async def _insert_history(self, new: NewVersion, session: Any) -> bool:
        try:
            await self.db[HISTORY].insert_one(history_document(new), session=session)
        except DuplicateKeyError:
            return False
        return True

    async def _drop_orphan(self, new: NewVersion, session: Any) -> bool:
        """Remove version ``new.vid`` if a writer that crashed left it in history without ever making
        it current (current is still at ``new.expected_vid`` and the version is older than
        ``ORPHAN_SECONDS``): that write was never acknowledged, so it is rolled back."""
        current = await self.db[new.type].find_one({"_id": new.id}, {"vid": 1}, session=session)
        if (current["vid"] if current else 0) != new.expected_vid:
            return False
        cutoff = utc_now() - timedelta(seconds=ORPHAN_SECONDS)
        result = await self.db[HISTORY].delete_one(
            {"_id": f"{new.type}/{new.id}/{new.vid}", "ts": {"$lt": cutoff}}, session=session
        )
        return result.deleted_count == 1

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

    async def recorded_transaction(self, key: str) -> dict[str, Any] | None:
        """The record of an identified transaction already applied (``apply(..., record)``), if any."""
        return await self.db[TRANSACTIONS].find_one({"_id": key})

    async def current_many(self, ctx: RequestContext, resource_type: str, ids: Sequence[str]) -> dict[str, StoredVersion]:
        """The current versions (tombstones included) of those of ``ids`` that exist, by id: one query."""
        if not ids:
            return {}
        filter = self._scoped(ctx, resource_type, {"_id": {"$in": list(ids)}})
        docs = await self.db[resource_type].find(filter, _SERVED_FIELDS).to_list(None)
        return {doc["_id"]: _current_version(resource_type, doc) for doc in docs}

    # -- units of work: all-or-nothing bulk writes --------------------------------------------
    async def apply(self, versions: Sequence[NewVersion], record: dict[str, Any] | None = None) -> Applied:
        """Write every one of ``versions`` or none of them (http://hl7.org/fhir/R4/http.html#trules).

        ``record``, a document for ``TRANSACTIONS`` (an identified transaction's outcome, with a
        ``run`` token of its own), is written first in the same unit of work: it is stored exactly
        when the versions are. One already stored under its ``_id`` raises :class:`AlreadyRecorded`
        before anything is written.

        In bulk: one ``insert_many`` into ``history`` (whose unique ids arbitrate races, as in
        :meth:`save`), then per type one ``insert_many`` of new documents and one ``bulk_write`` of
        replacements guarded by ``expected_vid``. Where the deployment has multi-document
        transactions this runs in a session transaction; elsewhere (a standalone server, the
        embedded engine) any failure undoes exactly what was applied before the error propagates.
        A guard that no longer holds raises :class:`VersionConflict`. Keep the returned
        :class:`Applied` to :meth:`revert` the writes if a later step of the caller fails.
        """
        applied = Applied(list(versions), record=record)
        if not applied.versions:
            return applied
        for resource_type in {v.type for v in applied.versions}:
            await self.ensure_type_indexes(resource_type)
        if self.supports_transactions and self.client is not None:
            await self._in_transaction(lambda session: self._write_all(applied, session))
            return applied
        try:
            await self._write_all(applied, None)
        except BaseException:
            await self._undo(applied, None)
            raise
        return applied

    async def revert(self, applied: Applied) -> None:
        """Take back a completed :meth:`apply`: restore each replaced document exactly, drop the rest."""
        applied.touched_current = True
        if self.supports_transactions and self.client is not None:
            await self._in_transaction(lambda session: self._undo(applied, session))
            return
        await self._undo(applied, None)

    async def _in_transaction(self, work: Callable[[Any], Awaitable[None]]) -> None:
        """Run ``work(session)`` in one session transaction and commit it.

        MongoDB labels the errors after which the whole transaction may simply be run again
        ``TransientTransactionError`` (a primary stepping down, a lock or snapshot timeout, the
        server having aborted the transaction) and a commit whose outcome it does not know
        ``UnknownTransactionCommitResult`` (https://www.mongodb.com/docs/manual/core/transactions-in-applications/).
        A write conflict with another writer (also transient) is this server's VersionConflict, as
        a lost race is on a deployment without transactions; other transient failures run ``work``
        again, at most TRANSACTION_ATTEMPTS times (``work`` re-reads what it guards on, so a
        change made meanwhile still ends in a VersionConflict); an unknown commit is committed
        again (committing is idempotent) until its outcome is known.
        """
        async with self.client.start_session() as session:
            attempt = 0
            while True:
                attempt += 1
                try:
                    async with await session.start_transaction():
                        await work(session)
                    return
                except PyMongoError as error:
                    if error.has_error_label("UnknownTransactionCommitResult"):
                        await _commit_again(session, error)
                        return
                    if not error.has_error_label("TransientTransactionError"):
                        raise
                    if getattr(error, "code", None) == WRITE_CONFLICT:
                        raise VersionConflict("A resource this unit of work writes was changed concurrently") from error
                    if attempt >= TRANSACTION_ATTEMPTS:
                        raise
                await asyncio.sleep(0.01 * attempt)

    async def _write_all(self, applied: Applied, session: Any) -> None:
        if applied.record is not None:
            applied.recorded = True  # until known otherwise: an insert whose answer is lost may have happened
            try:
                await self.db[TRANSACTIONS].insert_one(applied.record, session=session)
            except DuplicateKeyError:
                applied.recorded = False  # another unit of work's record: not ours to undo
                raise AlreadyRecorded(applied.record["_id"]) from None
        versions = applied.versions
        applied.previous = await self._documents([v for v in versions if v.expected_vid], session)
        history = [history_document(v) for v in versions]
        try:
            await self.db[HISTORY].insert_many(history, ordered=True, session=session)
        except BulkWriteError as error:
            applied.history_ids = [doc["_id"] for doc in history[: error.details.get("nInserted", 0)]]
            raise _conflict(error, versions, "version {vid} already exists") from error
        except BaseException:
            applied.history_ids = None  # unknown: undo by guarded deletes
            raise
        applied.history_ids = [doc["_id"] for doc in history]
        applied.touched_current = True
        for resource_type, group in _by_type(versions).items():
            await self._write_current(resource_type, group, session)

    async def _write_current(self, resource_type: str, group: list[NewVersion], session: Any) -> None:
        collection = self.db[resource_type]
        created = [v for v in group if not v.expected_vid]
        if created:
            try:
                await collection.insert_many([current_document(v) for v in created], ordered=True, session=session)
            except BulkWriteError as error:
                raise _conflict(error, created, "already exists") from error
        replaced = [v for v in group if v.expected_vid]
        if replaced:
            requests = [ReplaceOne({"_id": v.id, "vid": v.expected_vid}, current_document(v)) for v in replaced]
            result = await collection.bulk_write(requests, ordered=True, session=session)
            if result.matched_count != len(replaced):
                now = await self._documents(replaced, session)
                lost = next((v for v in replaced if now.get((v.type, v.id), {}).get("vid") != v.vid), replaced[0])
                raise VersionConflict(f"{lost.type}/{lost.id} is no longer at version {lost.expected_vid}", (lost.type, lost.id))

    async def _documents(self, versions: list[NewVersion], session: Any) -> dict[tuple[str, str], dict[str, Any]]:
        """The whole current documents of ``versions``' resources, keyed by (type, id)."""
        found: dict[tuple[str, str], dict[str, Any]] = {}
        for resource_type, group in _by_type(versions).items():
            cursor = self.db[resource_type].find({"_id": {"$in": [v.id for v in group]}}, session=session)
            for doc in await cursor.to_list(None):
                found[(resource_type, doc["_id"])] = doc
        return found

    async def _undo(self, applied: Applied, session: Any) -> None:
        """Undo what :meth:`_write_all` applied; every step is guarded to touch only this unit's writes."""
        if applied.touched_current:
            for resource_type, group in _by_type(applied.versions).items():
                requests: list[Any] = []
                for v in group:
                    previous = applied.previous.get((v.type, v.id))
                    ours = {"_id": v.id, "vid": v.vid, "ts": v.ts}  # this unit's document, not one that was there
                    if not v.expected_vid:
                        requests.append(DeleteOne(ours))
                    elif previous is not None:
                        requests.append(ReplaceOne(ours, previous))
                if requests:
                    await self.db[resource_type].bulk_write(requests, ordered=False, session=session)
        if applied.recorded:  # guarded by this unit's own token: never another copy's record
            record = applied.record or {}
            await self.db[TRANSACTIONS].delete_one({"_id": record["_id"], "run": record["run"]}, session=session)
        history = self.db[HISTORY]
        if applied.history_ids is None:
            guarded = [DeleteOne({"_id": d["_id"], "ts": d["ts"], "raw": d["raw"]}) for d in map(history_document, applied.versions)]
            await history.bulk_write(guarded, ordered=False, session=session)
        elif applied.history_ids:
            await history.delete_many({"_id": {"$in": applied.history_ids}}, session=session)

    # -- locks --------------------------------------------------------------------------------
    def lock(self, key: str, *, hold_seconds: float = 30, wait_seconds: float = 10) -> contextlib.AbstractAsyncContextManager[None]:
        """Hold ``key`` exclusively across processes (a unique ``_id`` in ``locks``, expiring by TTL)."""
        return locks.hold(self.db[LOCKS], [key], hold_seconds=hold_seconds, wait_seconds=wait_seconds)

    def lock_many(self, keys: Sequence[str], *, hold_seconds: float = 30, wait_seconds: float = 10) -> contextlib.AbstractAsyncContextManager[None]:
        """Hold all ``keys`` at once; on contention release them all and retry (no deadlocks)."""
        return locks.hold(self.db[LOCKS], keys, hold_seconds=hold_seconds, wait_seconds=wait_seconds)

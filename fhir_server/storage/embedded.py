"""The embedded in-process engine: mongomock behind PyMongo's async collection interface.

For trials and tests, where no MongoDB server is at hand. mongomock evaluates MongoDB filters
faithfully (array paths, ``$elemMatch``, regex, unique indexes) but scans every document; this
facade adds a direct look-up for filters on ``_id`` so reads by id do not scan. Each call runs to
completion without yielding to the event loop, so every single operation is atomic with respect
to other requests of the same process. It offers only calls that exist with the same shape on
``pymongo.asynchronous.collection.AsyncCollection`` and ``AsyncCursor`` (a test checks this), so
code that passes here does not call an API real PyMongo lacks.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any

import mongomock
from mongomock.collection import BulkOperationBuilder, BulkWriteResult
from mongomock.filtering import filter_applies
from pymongo.errors import BulkWriteError, DuplicateKeyError
from pymongo.operations import ReplaceOne
from pymongo.results import InsertManyResult, InsertOneResult, UpdateResult

from fhir_server.storage.stored_form import StoredForm, stored_time

CHECK_STORED_FORM = False
"""Check every :class:`StoredForm` document against the conversion it skips (the tests turn this on)."""


def _ids_in(filter: Mapping[str, Any] | None) -> list[Any] | None:
    """The ids a filter restricts ``_id`` to at its top level, or None if it does not."""
    if not filter or "_id" not in filter:
        return None
    wanted = filter["_id"]
    if isinstance(wanted, dict):
        if set(wanted) == {"$in"}:
            return list(wanted["$in"])
        return None
    return [wanted]


def _with_id_lookup(collection: mongomock.Collection) -> mongomock.Collection:
    """Make ``collection`` fetch documents by ``_id`` directly instead of scanning them all."""
    scan = collection._iter_documents
    store = collection._store

    def iter_documents(filter: Mapping[str, Any]) -> Iterator[dict]:
        ids = _ids_in(filter)
        if ids is None:
            return scan(filter)
        found = (store[i] for i in ids if _hashable(i) and i in store)
        return (doc for doc in list(found) if filter_applies(filter, doc))

    collection._iter_documents = iter_documents
    return collection


def _hashable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


class EmbeddedCursor:
    """The subset of ``AsyncCursor`` the server uses: sort, skip, limit, allow_disk_use, to_list, async iteration."""

    def __init__(self, cursor: mongomock.collection.Cursor) -> None:
        self._cursor = cursor

    def sort(self, key_or_list: Any, direction: Any = None) -> "EmbeddedCursor":
        self._cursor.sort(key_or_list, direction)
        return self

    def skip(self, skip: int) -> "EmbeddedCursor":
        self._cursor.skip(skip)
        return self

    def limit(self, limit: int) -> "EmbeddedCursor":
        self._cursor.limit(limit)
        return self

    def allow_disk_use(self, allow_disk_use: bool) -> "EmbeddedCursor":
        """MongoDB may spill a large sort to disk; the embedded engine sorts in memory anyway."""
        return self

    async def to_list(self, length: int | None = None) -> list[dict]:
        if length is None:
            return list(self._cursor)
        out = []
        for doc in self._cursor:
            out.append(doc)
            if len(out) >= length:
                break
        return out

    def __aiter__(self) -> "EmbeddedCursor":
        return self

    async def __anext__(self) -> dict:
        try:
            return next(self._cursor)
        except StopIteration:
            raise StopAsyncIteration from None

    async def close(self) -> None:
        self._cursor.close()


class EmbeddedCollection:
    """The subset of ``AsyncCollection`` the server uses, with the same names and parameters."""

    def __init__(self, collection: mongomock.Collection) -> None:
        self._coll = _with_id_lookup(collection)
        self.name = collection.name

    async def find_one(self, filter: Any | None = None, *args: Any, **kwargs: Any) -> dict | None:
        return self._coll.find_one(filter, *args, **_no_session(kwargs))

    def find(self, *args: Any, **kwargs: Any) -> EmbeddedCursor:
        return EmbeddedCursor(self._coll.find(*args, **_no_session(kwargs)))

    async def insert_one(self, document: Any, bypass_document_validation: bool | None = None, session: Any = None) -> Any:
        if self._plain():
            try:
                stored = _taken(document)
                hash(stored["_id"])
            except (_Unusual, KeyError, TypeError):
                pass  # left to mongomock, which assigns missing ids and checks every value
            else:
                existing = _documents_of(self._coll._store)
                if stored["_id"] in existing:
                    raise DuplicateKeyError("E11000 Duplicate Key Error", 11000)
                existing[stored["_id"]] = stored
                return InsertOneResult(stored["_id"], acknowledged=True)
        return self._coll.insert_one(document)

    def _plain(self) -> bool:
        """True when ``_id`` is the only unique index, so the fast write paths may skip index checks."""
        return not any(index.get("unique") for index in self._coll._store.indexes.values())

    async def insert_many(
        self, documents: Iterable[Any], ordered: bool = True, bypass_document_validation: bool | None = None, session: Any = None
    ) -> Any:
        documents = list(documents)
        if documents and self._plain():
            try:
                stored = [_taken(document) for document in documents]
                keys = [doc["_id"] for doc in stored]
                [hash(key) for key in keys]
            except (_Unusual, KeyError, TypeError):
                pass  # left to mongomock, which assigns missing ids and checks every value
            else:
                return _insert_fast(self._coll._store, documents, stored, ordered)
        return self._coll.insert_many(documents, ordered=ordered)

    async def replace_one(self, filter: Mapping[str, Any], replacement: Mapping[str, Any], upsert: bool = False, session: Any = None) -> Any:
        if not upsert and self._plain():
            replaced = _replace_fast(self._coll._store, filter, replacement)
            if replaced is not None:
                matched, modified = replaced
                return UpdateResult({"n": matched, "nModified": modified, "updatedExisting": bool(matched)}, acknowledged=True)
        return self._coll.replace_one(filter, replacement, upsert=upsert)

    async def update_one(self, filter: Mapping[str, Any], update: Mapping[str, Any], upsert: bool = False, session: Any = None) -> Any:
        return self._coll.update_one(filter, update, upsert=upsert)

    async def update_many(self, filter: Mapping[str, Any], update: Mapping[str, Any], upsert: bool = False, session: Any = None) -> Any:
        return self._coll.update_many(filter, update, upsert=upsert)

    async def delete_one(self, filter: Mapping[str, Any], session: Any = None) -> Any:
        return self._coll.delete_one(filter)

    async def delete_many(self, filter: Mapping[str, Any], session: Any = None) -> Any:
        return self._coll.delete_many(filter)

    async def find_one_and_update(
        self, filter: Mapping[str, Any], update: Mapping[str, Any], projection: Any = None, sort: Any = None,
        upsert: bool = False, return_document: bool = False, session: Any = None,
    ) -> dict | None:
        return self._coll.find_one_and_update(
            filter, update, projection=projection, sort=sort, upsert=upsert, return_document=return_document
        )

    async def count_documents(self, filter: Mapping[str, Any], session: Any = None, **kwargs: Any) -> int:
        return self._coll.count_documents(filter, **kwargs)

    async def distinct(self, key: str, filter: Mapping[str, Any] | None = None, session: Any = None) -> list[Any]:
        return self._coll.distinct(key, filter)

    async def bulk_write(self, requests: list[Any], ordered: bool = True, session: Any = None) -> Any:
        if requests and self._plain() and all(_fast_replaceable(r) for r in requests):
            matched = modified = 0
            for request in requests:
                one, changed = _replace_fast(self._coll._store, request._filter, request._doc) or (0, 0)
                matched, modified = matched + one, modified + changed
            return BulkWriteResult({"nMatched": matched, "nModified": modified, "nInserted": 0, "nUpserted": 0,
                                    "nRemoved": 0, "upserted": [], "writeErrors": [], "writeConcernErrors": []}, True)
        bulk = _Bulk(self._coll, ordered=ordered)
        for operation in requests:
            operation._add_to_bulk(bulk)
        return BulkWriteResult(bulk.execute(), True)

    async def create_index(self, keys: Any, session: Any = None, **kwargs: Any) -> str:
        return self._coll.create_index(keys, **kwargs)

    async def create_indexes(self, indexes: list[Any], session: Any = None, **kwargs: Any) -> list[str]:
        return self._coll.create_indexes(indexes)

    async def drop(self, session: Any = None) -> None:
        self._coll.drop()


class _Bulk(BulkOperationBuilder):
    """mongomock's bulk builder, taking the ``sort`` argument PyMongo 4.11+ passes (only as None)."""

    def add_update(self, *args: Any, sort: Any = None, **kwargs: Any) -> None:
        if sort is not None:
            raise NotImplementedError("bulk updates with sort are not supported by the embedded engine")
        super().add_update(*args, **kwargs)

    def add_replace(self, *args: Any, sort: Any = None, **kwargs: Any) -> None:
        if sort is not None:
            raise NotImplementedError("bulk replaces with sort are not supported by the embedded engine")
        super().add_replace(*args, **kwargs)


class _Unusual(Exception):
    """A value the fast insert path does not handle (left to mongomock)."""


_ATOMIC = frozenset({str, int, float, bool, type(None), bytes})
"""Value types stored as they are (immutable, so shared rather than copied)."""


def _stored(value: Any) -> Any:
    """A copy of ``value`` as MongoDB stores it (naive UTC datetimes, millisecond precision).

    The same as mongomock's ``patch_datetime_awareness_in_document`` for the types our documents
    hold, several times faster (atomic members are taken as they are, without a call each);
    anything else raises :class:`_Unusual`.
    """
    kind = type(value)
    if kind is dict:
        out = {}
        for key, member in value.items():
            if type(key) is not str:
                raise _Unusual
            out[key] = member if type(member) in _ATOMIC else _stored(member)
        return out
    if kind is list or kind is tuple:
        return [member if type(member) in _ATOMIC else _stored(member) for member in value]
    if kind in _ATOMIC:
        return value
    if kind is datetime:
        return stored_time(value)
    raise _Unusual


def _taken(document: Any) -> dict:
    """The document to keep for ``document``: a :class:`StoredForm`'s members as they are (in a
    top-level dict of the engine's own), any other document converted by :func:`_stored`."""
    if type(document) is not StoredForm:
        return _stored(document)
    if CHECK_STORED_FORM and not in_stored_form(document):
        raise AssertionError(f"a StoredForm document is not in stored form: {document!r}")
    return dict(document)


def in_stored_form(document: Mapping[str, Any]) -> bool:
    """True when ``document`` is already what :func:`_stored` would make of it (see StoredForm)."""
    plain = dict(document)
    try:
        return _same_document(_stored(plain), plain)
    except _Unusual:
        return False


def _insert_fast(store: Any, documents: list[Any], stored_documents: list[dict], ordered: bool) -> InsertManyResult:
    """mongomock's ``insert_many`` (same results and errors) for plain documents with an ``_id`` in a
    collection with no unique index but ``_id``, without its slow per-value checks."""
    inserted: list[Any] = []
    write_errors: list[dict[str, Any]] = []
    existing = _documents_of(store)
    for index, (document, stored) in enumerate(zip(documents, stored_documents)):
        key = stored["_id"]
        if key in existing:
            write_errors.append({"index": index, "code": 11000, "errmsg": "E11000 Duplicate Key Error", "op": document})
            if ordered:
                break
            continue
        existing[key] = stored
        inserted.append(key)
    if write_errors:  # the details PyMongo's BulkWriteError carries
        raise BulkWriteError({
            "writeErrors": write_errors, "writeConcernErrors": [], "nInserted": len(inserted), "nUpserted": 0,
            "nMatched": 0, "nModified": 0, "nRemoved": 0, "upserted": [],
        })
    return InsertManyResult(inserted, acknowledged=True)


def _documents_of(store: Any) -> dict[Any, dict]:
    """The ``_id`` → document dict of a mongomock collection store, its expired TTL documents
    removed first. The fast paths use it directly: the store's reader/writer lock guards against
    other threads, and the embedded engine is only used from the event loop's thread."""
    store._remove_expired_documents()
    return store._documents


def _fast_replaceable(request: Any) -> bool:
    return type(request) is ReplaceOne and not request._upsert and request._sort is None and _single_id(request._filter) is not None


def _single_id(filter: Mapping[str, Any]) -> Any:
    ids = _ids_in(filter)
    return ids[0] if ids is not None and len(ids) == 1 and _hashable(ids[0]) else None


def _replace_fast(store: Any, filter: Mapping[str, Any], replacement: Mapping[str, Any]) -> tuple[int, int] | None:
    """mongomock's ``replace_one`` for a filter on one ``_id`` (plus plain conditions), without its
    deep copies: (matched, modified) as MongoDB counts them (a replacement identical to the stored
    document matches but does not modify); None when the call is not of that simple form (then
    mongomock does it)."""
    key = _single_id(filter)
    if key is None or replacement.get("_id", key) != key or any(k.startswith("$") for k in replacement):
        return None
    try:
        stored = _taken(replacement)
        stored.setdefault("_id", key)
        query = _stored(dict(filter))  # values as MongoDB compares them: datetimes naive UTC, to the millisecond
    except _Unusual:
        return None
    documents = _documents_of(store)
    current = documents.get(key)
    if current is None or not filter_applies(query, current):
        return 0, 0
    if _same_document(current, stored):
        return 1, 0
    documents[key] = stored
    return 1, 1


def _same_document(a: Any, b: Any) -> bool:
    """Equal as BSON documents: the same fields in the same order with the same values."""
    if type(a) is dict and type(b) is dict:
        return list(a) == list(b) and all(_same_document(a[k], b[k]) for k in a)
    if type(a) is list and type(b) is list:
        return len(a) == len(b) and all(_same_document(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


def _no_session(kwargs: dict[str, Any]) -> dict[str, Any]:
    kwargs.pop("session", None)
    return kwargs


class EmbeddedDatabase:
    """The subset of ``AsyncDatabase`` the server uses: collections by name."""

    def __init__(self, database: mongomock.Database) -> None:
        self._db = database
        self._collections: dict[str, EmbeddedCollection] = {}
        self.name = database.name

    def __getitem__(self, name: str) -> EmbeddedCollection:
        found = self._collections.get(name)
        if found is None:
            found = self._collections[name] = EmbeddedCollection(self._db[name])
        return found

    get_collection = __getitem__

    async def list_collection_names(self, session: Any = None) -> list[str]:
        return self._db.list_collection_names()

    async def drop_collection(self, name_or_collection: str, session: Any = None) -> None:
        self._collections.pop(name_or_collection, None)
        self._db.drop_collection(name_or_collection)


def open_embedded(database: str) -> EmbeddedDatabase:
    """A fresh, empty in-memory database."""
    return EmbeddedDatabase(mongomock.MongoClient()[database])

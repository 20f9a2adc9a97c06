"""What the storage layer relies on from a real MongoDB, where the embedded engine (mongomock) may
behave differently: aware datetimes, transactions committing and aborting, write conflicts, replace
counts, duplicate-key error shapes, expiry checked without waiting for the TTL monitor, idempotent
index creation, ``raw`` as bytes.

Run only against the server named by ``FHIR_TEST_MONGODB_URI`` (each test on its own database,
dropped afterwards); the transaction tests need a replica set (a single-node one will do:
``mongod --replSet rs0`` then ``rs.initiate()``) and skip on a standalone server.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from typing import Any

import orjson
import pytest
from pymongo import ReplaceOne
from pymongo.errors import BulkWriteError, DuplicateKeyError

from fhir_server.operations import export_job
from fhir_server.operations.reindex import as_stored
from fhir_server.search.index import INDEX_FIELDS, extract_index
from fhir_server.search.index_keys import INDEX_KEYS
from fhir_server.storage import reindex_store
from fhir_server.storage.embedded import open_embedded
from fhir_server.storage.mongo import open_mongo, supports_transactions
from fhir_server.storage.repository import HISTORY, LOCKS, NewVersion, Repository, VersionConflict, utc_now
from fhir_server.storage.snapshots import SEARCHES, ensure_snapshot_indexes, load_snapshot, save_snapshot
from tests.conftest import snapshot

MONGODB_URI = os.environ.get("FHIR_TEST_MONGODB_URI")
NEEDS_SERVER = "needs a real MongoDB: set FHIR_TEST_MONGODB_URI (a replica set also runs the transaction tests)"
BIRTH = {"resourceType": "Patient", "birthDate": "1970-01-02", "name": [{"family": "Doe"}]}


class Store:
    """A fresh database on the server, its client, and repositories over it."""

    def __init__(self, client: Any, db: Any, transactions: bool) -> None:
        self.client, self.db, self.transactions = client, db, transactions
        self.repository = Repository(db, INDEX_KEYS, supports_transactions=transactions, client=client)
        self.compensating = Repository(db, INDEX_KEYS)  # the standalone path, on the same server

    def repositories(self) -> list[Repository]:
        return [self.repository, self.compensating] if self.transactions else [self.compensating]


@pytest.fixture
async def store() -> AsyncIterator[Store]:
    if not MONGODB_URI:
        pytest.skip(NEEDS_SERVER)
    name = f"fhir_contract_{uuid.uuid4().hex[:12]}"
    client, db, transactions = await open_mongo(MONGODB_URI, name)
    try:
        opened = Store(client, db, transactions)
        await opened.repository.ensure_indexes()
        await ensure_snapshot_indexes(opened.repository)
        yield opened
    finally:
        await client.drop_database(name)  # before closing: the client must still be open
        await client.close()


def version(rid: str, vid: int, resource: dict[str, Any] | None = None, *, expected: int | None = None) -> NewVersion:
    body = {**(resource or {"resourceType": "Patient"}), "id": rid, "meta": {"versionId": str(vid)}}
    raw = orjson.dumps(body)
    return NewVersion("Patient", rid, vid, utc_now(), raw, extract_index(body), "PUT", vid - 1 if expected is None else expected)


def need_transactions(store: Store) -> None:
    if not store.transactions:
        pytest.skip("the server is a standalone: multi-document transactions need a replica set or a sharded cluster")


# --- connection ---------------------------------------------------------------------------------------
async def test_transactions_are_detected_as_the_server_describes_itself(store):
    hello = await store.client.admin.command("hello")
    assert store.transactions == supports_transactions(hello)
    assert store.transactions == (bool(hello.get("setName")) or hello.get("msg") == "isdbgrid")


# --- datetimes and bytes ------------------------------------------------------------------------------
async def test_stored_datetimes_come_back_aware_utc_and_equal_the_written_ones(store):
    repository = store.repository
    written = version("dt", 1)
    await repository.save(written)
    document = await store.db["Patient"].find_one({"_id": "dt"})
    assert document["ts"].tzinfo is not None and document["ts"].utcoffset() == timedelta(0)
    current = await repository.current(_ctx(), "Patient", "dt")
    assert current.ts == written.ts  # utc_now() is millisecond-precise, as BSON stores
    assert type(current.raw) is bytes and current.raw == written.raw
    versions, total = await repository.history(_ctx(), since=written.ts - timedelta(seconds=1), before=utc_now())
    assert total == 1 and versions[0].ts == written.ts
    naive_bound = (written.ts + timedelta(seconds=1)).replace(tzinfo=None)  # naive query values are UTC too
    assert await store.db[HISTORY].count_documents({"ts": {"$lt": naive_bound}}) == 1


async def test_tombstones_store_raw_as_null_and_bytes_as_bytes(store):
    repository = store.compensating
    await repository.save(version("gone", 1))
    deleted = NewVersion("Patient", "gone", 2, utc_now(), None, {}, "DELETE", 1)
    await repository.save(deleted)
    versions, _ = await repository.history(_ctx(), resource_type="Patient", resource_id="gone")
    assert [(v.vid, v.deleted, type(v.raw)) for v in versions] == [(2, True, type(None)), (1, False, bytes)]


async def test_the_reindex_comparison_sees_no_change_in_an_index_read_back(store):
    written = version("born", 1, BIRTH)
    await store.repository.save(written)
    document = await store.db["Patient"].find_one({"_id": "born"}, {name: 1 for name in INDEX_FIELDS})
    stored = {name: document[name] for name in INDEX_FIELDS if name in document}
    assert stored["_dt"][0]["hi"].tzinfo is not None  # aware, and cut to the millisecond
    assert as_stored(stored) == as_stored(extract_index(orjson.loads(written.raw)))
    assert await reindex_store.replace_index(store.repository, "Patient", "born", 1, written.index, INDEX_FIELDS)


# --- write results and errors -------------------------------------------------------------------------
async def test_a_replacement_identical_to_the_stored_document_matches_but_does_not_modify(store):
    embedded = open_embedded("contract")["c"]
    for collection in (store.db["c"], embedded):
        await collection.insert_one({"_id": "a", "vid": 1, "raw": b"{}"})
        same = await collection.replace_one({"_id": "a", "vid": 1}, {"_id": "a", "vid": 1, "raw": b"{}"})
        assert (same.matched_count, same.modified_count) == (1, 0)
        result = await collection.bulk_write([
            ReplaceOne({"_id": "a", "vid": 1}, {"_id": "a", "vid": 1, "raw": b"{}"}),
            ReplaceOne({"_id": "a", "vid": 1}, {"_id": "a", "vid": 2, "raw": b"{}"}),
            ReplaceOne({"_id": "a", "vid": 1}, {"_id": "a", "vid": 3, "raw": b"{}"}),
        ])
        assert (result.matched_count, result.modified_count) == (2, 1)


@pytest.mark.parametrize("ordered", [True, False])
async def test_duplicate_keys_are_reported_as_the_storage_layer_reads_them(store, ordered):
    embedded = open_embedded("contract")["c"]
    shapes = []
    for collection in (store.db["c"], embedded):
        await collection.insert_one({"_id": "b"})
        with pytest.raises(DuplicateKeyError) as single:
            await collection.insert_one({"_id": "b"})
        assert single.value.code == 11000
        with pytest.raises(BulkWriteError) as bulk:
            await collection.insert_many([{"_id": "a"}, {"_id": "b"}, {"_id": "c"}], ordered=ordered)
        details = bulk.value.details
        shapes.append((details["nInserted"], [(e["index"], e["code"]) for e in details["writeErrors"]]))
    assert shapes[0] == shapes[1] == ((1, [(1, 11000)]) if ordered else (2, [(1, 11000)]))


# --- units of work ------------------------------------------------------------------------------------
async def test_a_unit_of_work_commits_and_a_lost_race_leaves_nothing(store):
    for n, repository in enumerate(store.repositories()):
        a, b = f"a{n}", f"b{n}"
        await repository.apply([version(a, 1), version(b, 1)])
        stale = version(a, 2, {"resourceType": "Patient", "gender": "male"})
        await repository.apply([stale])
        before = await snapshot(store.db)
        with pytest.raises(VersionConflict) as raised:
            await repository.apply([version(b, 2), version(f"new{n}", 1), version(a, 2)])  # a is at 2 already
        assert raised.value.resource == ("Patient", a)
        assert await snapshot(store.db) == before


async def test_a_failure_after_the_history_insert_takes_the_history_back(store):
    for n, repository in enumerate(store.repositories()):
        rid = f"half{n}"
        earlier = utc_now() - timedelta(seconds=1)  # another writer's document (one without history)
        await store.db["Patient"].insert_one({"_id": rid, "vid": 1, "ts": earlier, "del": False, "raw": b"{}"})
        before = await snapshot(store.db)
        with pytest.raises(VersionConflict):
            await repository.apply([version(f"other{n}", 1), version(rid, 1)])  # its current document exists
        assert await snapshot(store.db) == before


async def test_revert_restores_the_replaced_documents_byte_for_byte(store):
    for n, repository in enumerate(store.repositories()):
        await repository.apply([version(f"keep{n}", 1, BIRTH)])
        before = await snapshot(store.db)
        applied = await repository.apply([version(f"keep{n}", 2), version(f"fresh{n}", 1)])
        assert await snapshot(store.db) != before
        await repository.revert(applied)
        assert await snapshot(store.db) == before


async def test_a_write_conflict_with_an_open_transaction_is_a_version_conflict(store):
    need_transactions(store)
    repository = store.repository
    await repository.apply([version("x", 1)])
    before = await snapshot(store.db)
    async with store.client.start_session() as other:
        await other.start_transaction()
        await store.db["Patient"].update_one({"_id": "x"}, {"$set": {"held": True}}, session=other)
        with pytest.raises(VersionConflict):
            await repository.apply([version("y", 1), version("x", 2)])
        await other.abort_transaction()
    assert await snapshot(store.db) == before  # y and the history of x/2 were rolled back with the transaction
    await repository.apply([version("x", 2)])  # once the other transaction is gone, the write goes through


async def test_concurrent_units_of_work_on_one_resource_make_one_winner(store):
    for n, repository in enumerate(store.repositories()):
        rid = f"race{n}"
        await repository.apply([version(rid, 1)])
        attempts = [repository.apply([version(f"{rid}-side{i}", 1), version(rid, 2)]) for i in range(8)]
        results = await asyncio.gather(*attempts, return_exceptions=True)
        assert sum(1 for r in results if not isinstance(r, BaseException)) == 1
        assert all(isinstance(r, VersionConflict) for r in results if isinstance(r, BaseException)), results
        assert await store.db["Patient"].count_documents({"_id": {"$regex": f"^{rid}-side"}}) == 1
        assert await store.db[HISTORY].count_documents({"t": "Patient", "i": rid}) == 2


# --- expiry without the TTL monitor -------------------------------------------------------------------
async def test_ttl_indexes_exist_as_declared(store):
    for name in (LOCKS, SEARCHES):
        indexes = await store.db[name].index_information()
        assert [i.get("expireAfterSeconds") for i in indexes.values() if i["key"] == [("exp", 1)]] == [0]


async def test_an_expired_lock_is_taken_over_at_once_and_its_late_release_spares_the_new_holder(store):
    repository = store.repository
    await store.db[LOCKS].insert_one({"_id": "dead", "exp": utc_now() - timedelta(seconds=1), "o": "gone"})
    started = asyncio.get_running_loop().time()
    async with repository.lock("dead", wait_seconds=5):  # the TTL monitor (every 60 s) is not waited for
        assert asyncio.get_running_loop().time() - started < 2
    assert await store.db[LOCKS].count_documents({}) == 0

    async with repository.lock("k", hold_seconds=0.05):
        await asyncio.sleep(0.2)  # overrun: the key expires while held
        async with repository.lock("k", hold_seconds=30, wait_seconds=5):
            pass  # taken over and released by the second holder
        async with repository.lock("k", hold_seconds=30, wait_seconds=5):
            pass
        await store.db[LOCKS].insert_one({"_id": "k", "exp": utc_now() + timedelta(seconds=30), "o": "someone"})
    assert await store.db[LOCKS].count_documents({"_id": "k", "o": "someone"}) == 1  # the late release spared it


async def test_an_expired_snapshot_is_gone_before_the_ttl_monitor_deletes_it(store):
    key = await save_snapshot(store.repository, [("Patient", "a")], "Patient?", keep_seconds=-1)
    assert await load_snapshot(store.repository, key) is None
    live = await save_snapshot(store.repository, [("Patient", "a")], "Patient?", keep_seconds=60)
    assert await load_snapshot(store.repository, live) == ("Patient?", [("Patient", "a")], 1)


async def test_export_expiry_and_staleness_compare_with_stored_aware_times(store):
    repository = store.repository
    now = utc_now()
    await repository.export_create({"_id": "old", "status": "completed", "expires": now - timedelta(minutes=1), "hb": now})
    await repository.export_create({"_id": "new", "status": "in-progress", "expires": now + timedelta(hours=1),
                                    "hb": now - timedelta(hours=1)})
    assert await repository.export_expired(utc_now()) == ["old"]
    job = await repository.export_job("new")
    assert job["hb"].tzinfo is not None
    assert export_job.is_stale(job, utc_now())


async def test_an_orphaned_version_is_recognised_by_its_stored_time(store):
    repository = store.compensating
    await repository.save(version("orphan", 1))
    await store.db[HISTORY].insert_one({"_id": "Patient/orphan/2", "t": "Patient", "i": "orphan", "v": 2,
                                        "ts": utc_now() - timedelta(minutes=5), "del": False, "m": "PUT", "raw": b"{}"})
    await repository.save(version("orphan", 2))
    await store.db[HISTORY].insert_one({"_id": "Patient/orphan/3", "t": "Patient", "i": "orphan", "v": 3,
                                        "ts": utc_now(), "del": False, "m": "PUT", "raw": b"{}"})
    with pytest.raises(VersionConflict):
        await repository.save(version("orphan", 3))


# --- indexes and queries ------------------------------------------------------------------------------
async def test_index_creation_is_idempotent_concurrent_and_within_limits(store):
    fresh = [Repository(store.db, INDEX_KEYS) for _ in range(3)]
    await asyncio.gather(*(r.ensure_type_indexes("Observation") for r in fresh))
    await store.repository.ensure_indexes()
    await ensure_snapshot_indexes(store.repository)
    await store.repository.ensure_export_indexes()
    await store.repository.ensure_export_indexes()
    indexes = await store.db["Observation"].index_information()
    assert len(indexes) == len(INDEX_KEYS) + 2 <= 64


async def test_sorted_searches_may_spill_to_disk_and_sort_on_the_sort_keys(store):
    repository = store.repository
    born = ["1990-05-01", "1970-01-02", "1980-03-04"]
    await repository.apply([version(f"s{i}", 1, {**BIRTH, "birthDate": day}) for i, day in enumerate(born)])
    docs = await repository.find(_ctx(), "Patient", {}, sort=[("_sort.birthdate", -1), ("_id", 1)], limit=2,
                                 fields={"_id": 1, "_sort.birthdate": 1})
    assert [d["_id"] for d in docs] == ["s0", "s2"]
    assert docs[0]["_sort"]["birthdate"] == datetime(1990, 5, 1, tzinfo=timezone.utc)


def _ctx():
    from fhir_server.context import RequestContext

    return RequestContext(base_url="http://test/fhir")

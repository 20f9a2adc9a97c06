"""Storage behaviour that must hold on real MongoDB as on the embedded engine, checked here without a
server: the transaction protocol of ``Repository.apply`` (retries, write conflicts, unknown commit
results) against a scripted session, lock ownership, the facade's MongoDB-faithful results, the
undo guard, transaction detection and the background jobs' shutdown.
(tests/storage/test_mongo_contract.py checks the same against a real server.)
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import orjson
import pytest
from pymongo import ReplaceOne
from pymongo.errors import BulkWriteError, OperationFailure

from fhir_server.operations import export_job, reindex
from fhir_server.operations.reindex import as_stored
from fhir_server.search.index import INDEX_FIELDS, extract_index
from fhir_server.storage import locks, mongo
from fhir_server.storage.embedded import open_embedded
from fhir_server.storage.repository import HISTORY, LOCKS, NewVersion, Repository, VersionConflict, utc_now


def version(rid: str, vid: int, resource: dict[str, Any] | None = None) -> NewVersion:
    body = {**(resource or {"resourceType": "Patient"}), "id": rid}
    return NewVersion("Patient", rid, vid, utc_now(), orjson.dumps(body), extract_index(body), "PUT", vid - 1)


def failure(code: int, *labels: str) -> OperationFailure:
    return OperationFailure(f"error {code}", code, {"errorLabels": list(labels)})


# --- the transaction protocol ---------------------------------------------------------------------------
class ScriptedSession:
    """PyMongo's session protocol as ``Repository.apply`` uses it; ``commits`` scripts what each
    commit does (an exception to raise, or None to succeed)."""

    def __init__(self, log: list[str], commits: list[BaseException | None]) -> None:
        self.log, self.commits = log, commits

    async def __aenter__(self) -> ScriptedSession:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        self.log.append("end")

    async def start_transaction(self) -> ScriptedTransaction:
        self.log.append("start")
        return ScriptedTransaction(self)

    async def commit_transaction(self) -> None:
        self.log.append("commit")
        outcome = self.commits.pop(0) if self.commits else None
        if outcome is not None:
            raise outcome


class ScriptedTransaction:
    def __init__(self, session: ScriptedSession) -> None:
        self.session = session

    async def __aenter__(self) -> None:
        return None

    async def __aexit__(self, exc_type: Any, *exc: Any) -> None:
        if exc_type is None:
            await self.session.commit_transaction()
        else:
            self.session.log.append("abort")


def transactional(log: list[str], commits: list[BaseException | None] | None = None) -> Repository:
    session = ScriptedSession(log, commits or [])
    client = type("Client", (), {"start_session": lambda self: session})()
    return Repository(open_embedded("t"), [], supports_transactions=True, client=client)


def failing_writes(repository: Repository, errors: list[BaseException]) -> None:
    """Make the first ``len(errors)`` runs of the unit of work fail with these errors."""
    write_all = repository._write_all

    async def scripted(applied: Any, session: Any) -> None:
        if errors:
            raise errors.pop(0)
        await write_all(applied, session)

    repository._write_all = scripted  # type: ignore[method-assign]


async def test_a_transient_failure_runs_the_unit_of_work_again():
    log: list[str] = []
    repository = transactional(log)
    failing_writes(repository, [failure(251, "TransientTransactionError")])  # NoSuchTransaction: aborted by the server
    await repository.apply([version("a", 1)])
    assert log == ["start", "abort", "start", "commit", "end"]
    assert await repository.db["Patient"].count_documents({}) == 1


async def test_transient_failures_that_persist_surface_as_themselves():
    log: list[str] = []
    repository = transactional(log)
    failing_writes(repository, [failure(24, "TransientTransactionError") for _ in range(5)])  # LockTimeout
    with pytest.raises(OperationFailure) as raised:
        await repository.apply([version("a", 1)])
    assert raised.value.code == 24
    assert log == ["start", "abort"] * 3 + ["end"]


async def test_a_write_conflict_is_a_version_conflict_at_once():
    log: list[str] = []
    repository = transactional(log)
    failing_writes(repository, [failure(112, "TransientTransactionError")])
    with pytest.raises(VersionConflict):
        await repository.apply([version("a", 1)])
    assert log == ["start", "abort", "end"]


async def test_other_errors_are_not_retried():
    log: list[str] = []
    repository = transactional(log)
    failing_writes(repository, [failure(2)])
    with pytest.raises(OperationFailure):
        await repository.apply([version("a", 1)])
    assert log == ["start", "abort", "end"]


async def test_a_commit_with_an_unknown_outcome_is_committed_again():
    log: list[str] = []
    unknown = failure(91, "UnknownTransactionCommitResult")  # ShutdownInProgress during the commit
    repository = transactional(log, commits=[unknown, unknown, None])
    await repository.apply([version("a", 1)])
    assert log == ["start", "commit", "commit", "commit", "end"]


async def test_a_commit_that_fails_transiently_runs_the_unit_of_work_again():
    log: list[str] = []
    repository = transactional(log, commits=[failure(251, "TransientTransactionError"), None])

    async def work(applied: Any, session: Any) -> None:  # the scripted session cannot roll real writes back
        log.append("work")

    repository._write_all = work  # type: ignore[method-assign]
    await repository.apply([version("a", 1)])
    assert log == ["start", "work", "commit", "start", "work", "commit", "end"]


async def test_revert_runs_in_a_transaction_with_the_same_protocol():
    log: list[str] = []
    repository = transactional(log, commits=[None, failure(91, "UnknownTransactionCommitResult"), None])
    applied = await repository.apply([version("a", 1)])
    await repository.revert(applied)
    assert log == ["start", "commit", "end", "start", "commit", "commit", "end"]
    assert await repository.db["Patient"].count_documents({}) == 0


# --- undo guard, facade results -----------------------------------------------------------------------
async def test_undoing_a_create_that_conflicted_spares_the_document_that_was_there():
    repository = Repository(open_embedded("t"), [])
    earlier = (utc_now() - timedelta(seconds=1)).replace(tzinfo=None)  # as the embedded engine returns it
    theirs = {"_id": "x", "vid": 1, "ts": earlier, "del": False, "raw": b"{}"}
    await repository.db["Patient"].insert_one(dict(theirs))
    with pytest.raises(VersionConflict):
        await repository.apply([version("other", 1), version("x", 1)])
    assert await repository.db["Patient"].find({}).to_list(None) == [theirs]
    assert await repository.db[HISTORY].count_documents({}) == 0


async def test_replacements_match_aware_datetimes_and_count_modifications_as_mongodb_does():
    collection = open_embedded("t")["c"]
    ts = utc_now()  # aware; stored naive
    await collection.insert_one({"_id": "a", "vid": 1, "ts": ts})
    same = await collection.replace_one({"_id": "a", "vid": 1, "ts": ts}, {"_id": "a", "vid": 1, "ts": ts})
    assert (same.matched_count, same.modified_count) == (1, 0)
    result = await collection.bulk_write([ReplaceOne({"_id": "a", "ts": ts}, {"_id": "a", "vid": 2, "ts": ts})])
    assert (result.matched_count, result.modified_count) == (1, 1)
    assert (await collection.replace_one({"_id": "a"}, {"vid": True, "ts": ts})).modified_count == 1  # 2 -> true: a change


async def test_the_reindex_comparison_takes_stored_values_as_unchanged():
    repository = Repository(open_embedded("t"), [])
    body = {"resourceType": "Patient", "id": "b", "birthDate": "1970-01-02"}
    await repository.save(NewVersion("Patient", "b", 1, utc_now(), orjson.dumps(body), extract_index(body), "PUT", 0))
    document = await repository.db["Patient"].find_one({"_id": "b"})
    stored = {name: document[name] for name in INDEX_FIELDS if name in document}
    assert stored == extract_index(body)  # extraction gives stored form: naive UTC, milliseconds
    assert as_stored(stored) == as_stored(extract_index(body))
    aware = {"_dt": [{**e, "lo": e["lo"].replace(tzinfo=utc_now().tzinfo)} for e in stored["_dt"]]}
    assert as_stored(aware)["_dt"] == as_stored(stored)["_dt"]


# --- locks ------------------------------------------------------------------------------------------------
async def test_a_late_release_spares_the_holder_that_took_an_expired_lock_over():
    collection = open_embedded("t")[LOCKS]
    async with locks.hold(collection, ["k"], hold_seconds=0.01):
        await asyncio.sleep(0.05)
        async with locks.hold(collection, ["k"], wait_seconds=1):
            pass
        await collection.insert_one({"_id": "k", "exp": utc_now() + timedelta(seconds=30), "o": "someone"})
    assert await collection.count_documents({"_id": "k"}) == 1


async def test_a_lock_failure_that_is_not_contention_gives_the_keys_back_and_surfaces():
    collection = open_embedded("t")[LOCKS]
    insert_many = collection.insert_many

    async def half_then_fail(documents: Any, ordered: bool = True, **kwargs: Any) -> None:
        await insert_many(list(documents)[:1], ordered=ordered)
        raise BulkWriteError({"writeErrors": [], "writeConcernErrors": [{"code": 64, "errmsg": "waiting for replication"}],
                              "nInserted": 1})

    collection.insert_many = half_then_fail  # type: ignore[method-assign]
    with pytest.raises(BulkWriteError):
        async with locks.hold(collection, ["a", "b"]):
            pass
    assert await collection.count_documents({}) == 0


# --- connection ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("hello", "expected"), [
    ({"isWritablePrimary": True, "logicalSessionTimeoutMinutes": 30}, False),  # standalone
    ({"isWritablePrimary": True, "setName": "rs0", "logicalSessionTimeoutMinutes": 30}, True),
    ({"isWritablePrimary": True, "msg": "isdbgrid", "logicalSessionTimeoutMinutes": 30}, True),  # mongos
    ({"isWritablePrimary": True, "setName": "rs0"}, False),  # no sessions
])
def test_transactions_are_supported_by_replica_sets_and_sharded_clusters(hello, expected):
    assert mongo.supports_transactions(hello) is expected


async def test_open_mongo_falls_back_to_is_master_and_closes_the_client_when_it_fails(monkeypatch):
    made: list[Any] = []

    class Client:
        def __init__(self, uri: str, tz_aware: bool) -> None:
            assert tz_aware
            self.closed, self.asked = False, []
            self.admin = self
            made.append(self)

        async def command(self, name: str) -> dict[str, Any]:
            self.asked.append(name)
            if name == "hello" or made[0].fail:
                raise OperationFailure("no such command: hello", 59)
            return {"ismaster": True, "setName": "rs0", "logicalSessionTimeoutMinutes": 30}

        def __getitem__(self, name: str) -> str:
            return name

        async def close(self) -> None:
            self.closed = True

    monkeypatch.setattr(mongo, "AsyncMongoClient", Client)
    Client.fail = False
    client, database, transactions = await mongo.open_mongo("mongodb://x", "fhir")
    assert (client.asked, database, transactions, client.closed) == (["hello", "isMaster"], "fhir", True, False)
    made.clear()
    Client.fail = True
    with pytest.raises(OperationFailure):
        await mongo.open_mongo("mongodb://x", "fhir")
    assert made[0].closed


# --- background jobs ---------------------------------------------------------------------------------------
async def test_stopping_the_jobs_of_a_repository_cancels_them_and_waits():
    ours, theirs = object(), object()
    tasks = {name: asyncio.create_task(asyncio.sleep(60)) for name in ("export-ours", "export-theirs", "reindex-ours")}
    export_job._TASKS.update({"export-ours": tasks["export-ours"], "export-theirs": tasks["export-theirs"]})
    export_job._REPOSITORIES.update({"export-ours": ours, "export-theirs": theirs})  # type: ignore[dict-item]
    reindex._RUNNING[tasks["reindex-ours"]] = ours
    try:
        await export_job.stop_all(ours)  # type: ignore[arg-type]
        await reindex.stop_all(ours)
        assert tasks["export-ours"].cancelled() and tasks["reindex-ours"].cancelled()
        assert not tasks["export-theirs"].done()
    finally:
        tasks["export-theirs"].cancel()
        await asyncio.gather(*tasks.values(), return_exceptions=True)
        for key in ("export-ours", "export-theirs"):
            export_job._TASKS.pop(key, None)
            export_job._REPOSITORIES.pop(key, None)
        reindex._RUNNING.pop(tasks["reindex-ours"], None)


# --- indexes ------------------------------------------------------------------------------------------------
async def test_concurrent_first_writes_of_a_type_create_its_indexes_once():
    repository = Repository(open_embedded("t"), [[("_str.p", 1), ("_str.v", 1)]])
    collection = repository.db["Patient"]
    calls: list[int] = []
    create_indexes = collection.create_indexes

    async def counted(indexes: Any, **kwargs: Any) -> list[str]:
        calls.append(len(indexes))
        await asyncio.sleep(0.01)  # a server round trip, during which the other writers arrive
        return await create_indexes(indexes)

    collection.create_indexes = counted  # type: ignore[method-assign]
    await asyncio.gather(*(repository.save(version(f"p{i}", 1)) for i in range(5)))
    assert calls == [2]
    assert await collection.count_documents({}) == 5

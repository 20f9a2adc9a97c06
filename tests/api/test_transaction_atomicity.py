"""Transactions are all or nothing (http://hl7.org/fhir/R4/http.html#transaction).

Every failure is injected at every position of a transaction that exercises every kind of entry
(delete, conditional delete, create, conditional create, update, conditional update, update-as-create,
patch, conditional reference, read, search): a resource that fails validation, an ``ifMatch`` that
does not hold (on PUT, PATCH and DELETE), a conditional reference without a match, a read that
fails after the writes were committed, and an exception raised by the storage on its k-th call
(before the call, after it - a lost acknowledgement - and halfway through a bulk write). After
each, every collection's documents are byte-for-byte what they were; also when the transaction
carries a ``Bundle.identifier`` and so writes its record in the same unit of work.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from fhir_server.context import RequestContext
from fhir_server.interactions.versioning import next_version
from fhir_server.main import create_app
from fhir_server.storage.embedded import EmbeddedCollection
from fhir_server.storage.repository import Repository, VersionConflict
from tests.api.test_bundles import NATIONAL, bundle, patient, post, put, request, send
from tests.api.test_crud import PATIENT
from tests.conftest import BASE, MONGODB_URI, snapshot
from tests.conftest import test_settings as settings_with

FHIRPATH_PATCH = {"resourceType": "Parameters", "parameter": [{"name": "operation", "part": [
    {"name": "type", "valueCode": "replace"}, {"name": "path", "valueString": "Patient.gender"},
    {"name": "value", "valueCode": "other"}]}]}
OBSERVATION = {"resourceType": "Observation", "status": "final", "code": {"text": "weight"}}

EXISTING = bundle(
    put("Patient/keep", {**PATIENT, "id": "keep"}),
    put("Patient/gone", {**PATIENT, "id": "gone"}),
    put("Patient/patch-me", {**PATIENT, "id": "patch-me"}),
    put("Patient/conflict", {**PATIENT, "id": "conflict"}),
    post(patient("A-DEL")),
    post(patient("A-UPD")),
    post({**OBSERVATION, "subject": {"reference": "Patient/keep"}}),
)
"""The state every test starts from (Patient/keep is then updated once more, to version 2)."""

EVERY_KIND = [
    request("DELETE", "Patient/gone"),
    request("DELETE", f"Patient?identifier={NATIONAL}|A-DEL"),
    post(patient("A-NEW-1"), "urn:uuid:new-pat"),
    post(patient("A-NEW-2"), ifNoneExist=f"identifier={NATIONAL}|A-NEW-2"),
    post({**OBSERVATION, "subject": {"reference": "urn:uuid:new-pat"},
          "performer": [{"reference": f"Patient?identifier={NATIONAL}|A-UPD"}]}),
    put("Patient/keep", {**PATIENT, "id": "keep", "gender": "male"}),
    put(f"Patient?identifier={NATIONAL}|A-UPD", {**patient("A-UPD"), "gender": "other"}),
    put("Patient/brand-new", {**PATIENT, "id": "brand-new"}),
    {"resource": FHIRPATH_PATCH, "request": {"method": "PATCH", "url": "Patient/patch-me"}},
    request("GET", "Patient/keep"),
    request("GET", "Observation?subject=urn:uuid:new-pat"),
]

FAILURES = {
    "invalid-post": (post({**PATIENT, "gender": "nope"}), 400),
    "invalid-put": (put("Patient/conflict", {**PATIENT, "id": "conflict", "birthDate": "not-a-date"}), 400),
    "if-match-put": (put("Patient/conflict", {**PATIENT, "id": "conflict"}, ifMatch='W/"9"'), 412),
    "if-match-patch": ({"resource": FHIRPATH_PATCH, "request": {"method": "PATCH", "url": "Patient/conflict", "ifMatch": 'W/"9"'}}, 412),
    "if-match-delete": (request("DELETE", "Patient/conflict", ifMatch='W/"9"'), 412),
    "conditional-reference": (post({**OBSERVATION, "subject": {"reference": f"Patient?identifier={NATIONAL}|nobody"}}), 412),
    "failing-read": (request("GET", "Patient/nobody"), 404),
}


@pytest.fixture
async def fresh() -> AsyncIterator[tuple[httpx.AsyncClient, Repository]]:
    async with open_app() as opened:
        yield opened


@contextlib.asynccontextmanager
async def open_app() -> AsyncIterator[tuple[httpx.AsyncClient, Repository]]:
    settings = settings_with()
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as client:
            assert (await send(client, EXISTING)).status_code == 200
            assert (await client.put("/Patient/keep", json={**PATIENT, "id": "keep", "gender": "other"})).status_code == 200
            repository = app.state.backend.repository
            try:
                yield client, repository
            finally:
                if MONGODB_URI:
                    await repository.client.drop_database(settings.database)


async def test_the_transaction_with_every_kind_of_entry_succeeds_without_faults(fresh):
    client, repository = fresh
    before = await snapshot(repository.db)
    response = await send(client, bundle(*EVERY_KIND))
    assert response.status_code == 200, response.text
    statuses = [e["response"]["status"] for e in response.json()["entry"]]
    assert statuses == ["204 No Content", "200 OK", "201 Created", "201 Created", "201 Created", "200 OK", "200 OK",
                        "201 Created", "200 OK", "200 OK", "200 OK"]
    assert await snapshot(repository.db) != before


def transaction(*entries: dict, identified: bool = False) -> dict:
    """The transaction of ``entries``; ``identified``: with a Bundle.identifier, so its outcome is
    recorded in the same unit of work (``interactions/replay.py``) and must be undone with it."""
    body = bundle(*entries)
    return {**body, "identifier": {"system": "urn:test:connector", "value": "every-kind"}} if identified else body


@pytest.mark.parametrize("identified", [False, True], ids=["plain", "identified"])
@pytest.mark.parametrize("position", range(len(EVERY_KIND) + 1))
@pytest.mark.parametrize("failure", sorted(FAILURES))
async def test_a_failing_entry_at_any_position_leaves_the_database_unchanged(fresh, failure, position, identified):
    client, repository = fresh
    before = await snapshot(repository.db)
    failing, status = FAILURES[failure]
    entries = [*EVERY_KIND[:position], failing, *EVERY_KIND[position:]]
    response = await send(client, transaction(*entries, identified=identified))
    assert response.status_code == status, response.text
    issue = response.json()["issue"][0]
    assert issue["diagnostics"].startswith(f"Bundle.entry[{position}] ")
    assert await snapshot(repository.db) == before


CALLS = ("find_one", "find", "insert_one", "insert_many", "replace_one", "update_one", "delete_one", "delete_many", "bulk_write")


class StorageFault(Exception):
    """The injected failure."""


def inject(monkeypatch: pytest.MonkeyPatch, fail_at: int, mode: str) -> list[int]:
    """Make the ``fail_at``-th storage call (outside ``locks``) fail; returns the live call counter."""
    counter = [0]

    def wrap(name: str, original: Any) -> Any:
        if asyncio.iscoroutinefunction(original):
            @functools.wraps(original)
            async def call(self: EmbeddedCollection, *args: Any, **kwargs: Any) -> Any:
                if self.name == "locks":
                    return await original(self, *args, **kwargs)
                counter[0] += 1
                if counter[0] != fail_at:
                    return await original(self, *args, **kwargs)
                if mode == "before":
                    raise StorageFault(name)
                if mode == "partial" and name in ("insert_many", "bulk_write") and len(args[0]) > 1:
                    await original(self, list(args[0])[: len(args[0]) // 2], *args[1:], **kwargs)
                    raise StorageFault(name)
                await original(self, *args, **kwargs)
                raise StorageFault(name)
            return call

        @functools.wraps(original)
        def call_sync(self: EmbeddedCollection, *args: Any, **kwargs: Any) -> Any:
            if self.name != "locks":
                counter[0] += 1
                if counter[0] == fail_at:
                    raise StorageFault(name)
            return original(self, *args, **kwargs)
        return call_sync

    for name in CALLS:
        monkeypatch.setattr(EmbeddedCollection, name, wrap(name, getattr(EmbeddedCollection, name)))
    return counter


@pytest.mark.skipif(bool(MONGODB_URI), reason="faults are injected into the embedded engine's collections")
@pytest.mark.parametrize("identified", [False, True], ids=["plain", "identified"])
@pytest.mark.parametrize("mode", ["before", "after", "partial"])
async def test_a_storage_failure_on_any_call_leaves_the_database_unchanged(monkeypatch, mode, identified):
    """Fail call 1, then call 2, ... of one run of the transaction, until a run makes fewer calls."""
    fail_at = 1
    while True:
        async with open_app() as (client, repository):
            before = await snapshot(repository.db)
            with monkeypatch.context() as patched:
                counter = inject(patched, fail_at, mode)
                response = await send(client, transaction(*EVERY_KIND, identified=identified))
            if counter[0] < fail_at:
                assert response.status_code == 200, response.text
                break
            assert response.status_code == 500, f"call {fail_at}: {response.text}"
            assert response.json() == {"resourceType": "OperationOutcome", "issue": [
                {"severity": "error", "code": "exception", "diagnostics": "Internal server error"}]}
            assert await snapshot(repository.db) == before, f"{mode} failure of storage call {fail_at} left changes"
        fail_at += 1
    assert fail_at > 10  # the run made many storage calls, each of which was failed once


async def test_racing_units_of_work_conflict_and_the_loser_leaves_nothing(fresh):
    _, repository = fresh
    ctx = RequestContext(base_url=BASE)
    current = await repository.current(ctx, "Patient", "keep")
    winner = next_version("Patient", "keep", {**PATIENT, "gender": "male"}, current, "PUT")
    loser = next_version("Patient", "keep", {**PATIENT, "gender": "unknown"}, current, "PUT")
    bystander = next_version("Patient", "bystander", dict(PATIENT), None, "PUT")
    await repository.apply([winner])
    before = await snapshot(repository.db)
    with pytest.raises(VersionConflict) as raised:
        await repository.apply([bystander, loser])
    assert raised.value.resource == ("Patient", "keep")
    assert await snapshot(repository.db) == before


async def test_revert_restores_replaced_documents_exactly(fresh):
    _, repository = fresh
    ctx = RequestContext(base_url=BASE)
    before = await snapshot(repository.db)
    keep = await repository.current(ctx, "Patient", "keep")
    gone = await repository.current(ctx, "Patient", "gone")
    versions = [
        next_version("Patient", "keep", {**PATIENT, "gender": "male"}, keep, "PUT"),
        next_version("Patient", "gone", None, gone, "DELETE"),
        next_version("Patient", "fresh-one", dict(PATIENT), None, "PUT"),
    ]
    applied = await repository.apply(versions)
    assert await snapshot(repository.db) != before
    await repository.revert(applied)
    assert await snapshot(repository.db) == before


class FakeSession:
    """Records the transaction calls ``Repository.apply`` makes on a deployment with transactions."""

    def __init__(self, log: list[str]) -> None:
        self.log = log

    async def __aenter__(self) -> "FakeSession":
        self.log.append("session")
        return self

    async def __aexit__(self, *exc: Any) -> None:
        self.log.append("end")

    async def start_transaction(self) -> "FakeTransaction":
        return FakeTransaction(self.log)


class FakeTransaction:
    def __init__(self, log: list[str]) -> None:
        self.log = log

    async def __aenter__(self) -> None:
        self.log.append("start")

    async def __aexit__(self, exc_type: Any, *exc: Any) -> None:
        self.log.append("abort" if exc_type else "commit")


@pytest.mark.skipif(bool(MONGODB_URI), reason="fake sessions need the embedded engine; tests/storage/test_mongo_contract.py covers the real ones")
async def test_with_transactions_the_unit_of_work_runs_in_a_session_transaction(fresh):
    _, repository = fresh
    log: list[str] = []
    transactional = Repository(repository.db, [], supports_transactions=True,
                               client=type("Client", (), {"start_session": lambda self: FakeSession(log)})())
    ctx = RequestContext(base_url=BASE)
    keep = await repository.current(ctx, "Patient", "keep")
    first = next_version("Patient", "keep", {**PATIENT, "gender": "male"}, keep, "PUT")
    await transactional.apply([first, next_version("Patient", "tx-new", dict(PATIENT), None, "PUT")])
    stale = next_version("Patient", "keep", {**PATIENT, "gender": "other"}, keep, "PUT")
    with pytest.raises(VersionConflict):
        await transactional.apply([next_version("Patient", "tx-newer", dict(PATIENT), None, "PUT"), stale])
    assert log == ["session", "start", "commit", "end", "session", "start", "abort", "end"]


@pytest.mark.skipif(bool(MONGODB_URI), reason="fake sessions need the embedded engine; tests/storage/test_mongo_contract.py covers the real ones")
async def test_a_write_conflict_between_mongodb_transactions_is_a_version_conflict(fresh, monkeypatch):
    from pymongo.errors import OperationFailure

    _, repository = fresh
    log: list[str] = []
    transactional = Repository(repository.db, [], supports_transactions=True,
                               client=type("Client", (), {"start_session": lambda self: FakeSession(log)})())

    async def write_conflict(self: EmbeddedCollection, *args: Any, **kwargs: Any) -> None:
        raise OperationFailure("WriteConflict", 112, {"errorLabels": ["TransientTransactionError"]})

    monkeypatch.setattr(EmbeddedCollection, "insert_many", write_conflict)
    with pytest.raises(VersionConflict):
        await transactional.apply([next_version("Patient", "tx-1", dict(PATIENT), None, "PUT")])
    assert log == ["session", "start", "abort", "end"]

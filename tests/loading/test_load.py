"""Loading files in-process (and over HTTP) into a fresh store; resuming after an interruption."""

from __future__ import annotations

import asyncio
import io
import tarfile
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from fhir_server.context import RequestContext
from fhir_server.loading import cli as load_cli
from fhir_server.loading.journal import Journal
from fhir_server.loading.loader import load
from fhir_server.loading.outcomes import Failure
from fhir_server.loading.targets import HttpTarget, InProcessTarget
from fhir_server.main import create_app
from fhir_server.spec.resource_types import RESOURCE_TYPES
from tests import conftest
from tests.conftest import BASE

SYNTHEA = Path(__file__).resolve().parents[3] / "shared" / "data" / "synthea-r4-100.tgz"
ID_SYSTEM = "urn:test:key"


def key(value: str) -> list[dict[str, str]]:
    return [{"system": ID_SYSTEM, "value": value}]


def transaction(n: int) -> dict[str, Any]:
    """A Synthea-like transaction: POSTs with urn:uuid fullUrls and references between them."""
    patient = f"urn:uuid:00000000-0000-4000-8000-{n:012d}"
    entries = [{"fullUrl": patient, "resource": {"resourceType": "Patient", "identifier": key(f"pat-{n}"), "gender": "female"},
                "request": {"method": "POST", "url": "Patient"}}]
    for k in range(2):
        observation = {"resourceType": "Observation", "identifier": key(f"obs-{n}-{k}"), "status": "final",
                       "code": {"text": "weight"}, "subject": {"reference": patient}}
        entries.append({"fullUrl": f"urn:uuid:10000000-0000-4000-8000-{n:06d}{k:06d}", "resource": observation,
                        "request": {"method": "POST", "url": "Observation"}})
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def practitioner(i: int, with_id: bool = True) -> dict[str, Any]:
    resource = {"resourceType": "Practitioner", "identifier": key(f"pr-{i}"), "name": [{"family": f"Doc{i}"}]}
    return {**resource, "id": f"pr-{i}"} if with_id else resource


def write_inputs(root: Path) -> Path:
    """Five data files, an archive of three more and a README: 21 good resources, one bad entry, one bad line."""
    root.mkdir(parents=True, exist_ok=True)
    for n in range(2):
        (root / f"patient-{n}.json").write_bytes(orjson.dumps(transaction(n)))
    lines = [orjson.dumps(practitioner(i)) for i in range(5)] + [b"{broken"] + [orjson.dumps(practitioner(5, with_id=False))]
    (root / "practitioners.ndjson").write_bytes(b"\n".join(lines) + b"\n")
    organization = {"resourceType": "Organization", "id": "org-1", "identifier": key("org-1"), "name": "Clinic"}
    (root / "nested").mkdir(exist_ok=True)
    (root / "nested" / "organization.json").write_bytes(orjson.dumps(organization))
    bad = {"resourceType": "Patient", "id": "bad", "identifier": key("bad"), "gender": "not-a-gender"}
    collection = {"resourceType": "Bundle", "type": "collection", "entry": [
        {"resource": {"resourceType": "Location", "id": "loc-1", "identifier": key("loc-1"), "name": "Ward"}},
        {"resource": bad},
    ]}
    (root / "nested" / "collection.json").write_bytes(orjson.dumps(collection))
    (root / "README.txt").write_text("not data")
    with tarfile.open(root / "more.tgz", "w:gz") as archive:
        members = {f"p/patient-{n}.json": orjson.dumps(transaction(n)) for n in (2, 3)}
        members["extra.ndjson"] = orjson.dumps(practitioner(6))
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return root


EXPECTED_COUNTS = {"Patient": 4, "Observation": 8, "Practitioner": 7, "Organization": 1, "Location": 1}


async def snapshot(backend) -> list[str]:
    """Every current resource without meta, with ids and references replaced by their test keys."""
    repository = backend.repository
    ctx = RequestContext(base_url=BASE)
    resources = []
    for resource_type in sorted(await repository.stored_types() & RESOURCE_TYPES):
        resources.extend(orjson.loads(doc["raw"]) for doc in await repository.find(ctx, resource_type, {}))
    keys = {f"{r['resourceType']}/{r['id']}": r["identifier"][0]["value"] for r in resources}
    out = []
    for resource in resources:
        plain = {k: v for k, v in resource.items() if k not in ("meta", "id")}
        text = orjson.dumps(plain, option=orjson.OPT_SORT_KEYS).decode()
        for reference, value in keys.items():
            text = text.replace(f'"{reference}"', f'"key:{value}"')
        out.append(text)
    return sorted(out)


def counts(shot: list[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for text in shot:
        resource_type = orjson.loads(text)["resourceType"]
        found[resource_type] = found.get(resource_type, 0) + 1
    return found


async def test_everything_is_loaded_in_process_with_failures_reported(app, tmp_path):
    root = write_inputs(tmp_path / "in")
    target = InProcessTarget(app.state.backend, "test")
    summary = await load([root], target, journal=Journal(tmp_path / "j.jsonl", "test"), concurrency=3, batch_size=2, progress=False)
    assert counts(await snapshot(app.state.backend)) == EXPECTED_COUNTS
    assert (summary.files, summary.loaded, summary.skipped, summary.incomplete, summary.ignored) == (8, 8, 0, 0, 1)
    assert summary.resources == 21
    assert sorted((f.file.rsplit("/", 1)[-1], f.location, f.status) for f in summary.failures) == [
        ("collection.json", "entry 1", "400"), ("practitioners.ndjson", "line 6", "invalid"),
    ]
    assert not summary.ok


async def test_a_rerun_skips_every_file_and_writes_nothing(app, tmp_path):
    root = write_inputs(tmp_path / "in")
    target = InProcessTarget(app.state.backend, "test")
    journal_path = tmp_path / "j.jsonl"
    await load([root], target, journal=Journal(journal_path, "test"), progress=False)
    before = await snapshot(app.state.backend)
    again = await load([root], target, journal=Journal(journal_path, "test"), progress=False)
    assert (again.files, again.loaded, again.skipped, again.resources, again.failures) == (8, 0, 8, 0, [])
    assert await snapshot(app.state.backend) == before


class Crash(Exception):
    """Stands in for the process dying."""


class CrashingTarget:
    """Delegates ``limit`` posts, then crashes on the next one (before or after the server applied it)."""

    def __init__(self, target, limit: int, after_apply: bool = False) -> None:
        self.target, self.limit, self.after_apply, self.name, self.posts = target, limit, after_apply, target.name, 0

    async def post(self, bundle):
        self.posts += 1
        if self.posts > self.limit:
            if self.after_apply:
                await self.target.post(bundle)
            raise Crash()
        return await self.target.post(bundle)


async def clean_load(root: Path) -> list[str]:
    application = create_app(conftest.test_settings())
    async with application.router.lifespan_context(application):
        await load([root], InProcessTarget(application.state.backend, "clean"), batch_size=2, progress=False)
        return await snapshot(application.state.backend)


@pytest.mark.parametrize("posts_before_crash", [1, 3, 6])
async def test_an_interrupted_load_resumes_without_duplicates(app, tmp_path, posts_before_crash):
    root = write_inputs(tmp_path / "in")
    journal_path = tmp_path / "j.jsonl"
    target = InProcessTarget(app.state.backend, "test")
    with pytest.raises(Crash):
        await load([root], CrashingTarget(target, posts_before_crash), journal=Journal(journal_path, "test"),
                   concurrency=1, batch_size=2, progress=False)
    partial = await snapshot(app.state.backend)
    assert 0 < len(partial) < 21

    resumed = await load([root], target, journal=Journal(journal_path, "test"), concurrency=2, batch_size=2, progress=False)
    assert resumed.skipped + resumed.loaded == 8 and resumed.skipped > 0
    final = await snapshot(app.state.backend)
    assert counts(final) == EXPECTED_COUNTS
    assert final == await clean_load(root)


async def test_a_request_applied_but_not_journaled_is_replayed_idempotently_when_it_puts(app, tmp_path):
    root = tmp_path / "in"
    root.mkdir()
    (root / "practitioners.ndjson").write_bytes(b"\n".join(orjson.dumps(practitioner(i)) for i in range(6)))
    target = InProcessTarget(app.state.backend, "test")
    with pytest.raises(Crash):
        await load([root], CrashingTarget(target, 1, after_apply=True), journal=Journal(tmp_path / "j.jsonl", "test"),
                   batch_size=2, progress=False)
    summary = await load([root], target, journal=Journal(tmp_path / "j.jsonl", "test"), batch_size=2, progress=False)
    assert (summary.loaded, summary.resumed, summary.resources) == (1, 2, 4)
    assert counts(await snapshot(app.state.backend)) == {"Practitioner": 6}


@pytest.mark.parametrize("over_http", [False, True], ids=["in-process", "http"])
async def test_a_transaction_applied_but_not_journaled_is_applied_once_on_resume(app, tmp_path, over_http):
    """The loader was killed after the server committed a Synthea-like transaction (plain POSTs)
    but before its answer was journaled: the rerun sends it again and the server, recognising the
    identifier the loader gave it, answers from its record instead of creating it twice."""
    root = tmp_path / "in"
    root.mkdir()
    (root / "patient-0.json").write_bytes(orjson.dumps(transaction(0)))
    target = HttpTarget(BASE, transport=httpx.ASGITransport(app=app)) if over_http else InProcessTarget(app.state.backend, "test")
    try:
        with pytest.raises(Crash):
            await load([root], CrashingTarget(target, 0, after_apply=True), journal=Journal(tmp_path / "j.jsonl", target.name),
                       progress=False)
        assert counts(await snapshot(app.state.backend)) == {"Patient": 1, "Observation": 2}
        summary = await load([root], target, journal=Journal(tmp_path / "j.jsonl", target.name), progress=False)
    finally:
        if over_http:
            await target.close()
    assert (summary.loaded, summary.resources, summary.failures) == (1, 3, [])
    assert counts(await snapshot(app.state.backend)) == {"Patient": 1, "Observation": 2}


async def test_a_graceful_stop_lets_the_file_in_flight_finish_and_resume_goes_on(app, tmp_path):
    root = write_inputs(tmp_path / "in")
    stop = asyncio.Event()
    target = InProcessTarget(app.state.backend, "test")

    class StopAfterFirst:
        name = "test"

        async def post(self, bundle):
            stop.set()  # as the first Ctrl-C would, while this request is in flight
            return await target.post(bundle)

    first = await load([root / "practitioners.ndjson", root], StopAfterFirst(), journal=Journal(tmp_path / "j.jsonl", "test"),
                       concurrency=1, batch_size=2, progress=False, stop=stop)
    assert first.interrupted and (first.files, first.loaded, first.incomplete, first.resources) == (1, 0, 1, 2)
    second = await load([root], target, journal=Journal(tmp_path / "j.jsonl", "test"), batch_size=2, progress=False)
    assert (second.loaded, second.resumed, second.resources) == (8, 2, 19)
    assert counts(await snapshot(app.state.backend)) == EXPECTED_COUNTS


async def test_loading_over_http_gives_the_same_data(app, tmp_path):
    root = write_inputs(tmp_path / "in")
    target = HttpTarget(BASE, transport=httpx.ASGITransport(app=app))
    try:
        summary = await load([root], target, journal=Journal(tmp_path / "j.jsonl", target.name), batch_size=2, progress=False)
    finally:
        await target.close()
    assert (summary.loaded, summary.resources, len(summary.failures)) == (8, 21, 2)
    assert await snapshot(app.state.backend) == await clean_load(root)


async def test_an_unreachable_server_stops_the_run(tmp_path):
    root = write_inputs(tmp_path / "in")

    def refuse(request):
        raise httpx.ConnectError("refused", request=request)

    target = HttpTarget(BASE, transport=httpx.MockTransport(refuse), retries=0)
    summary = await load([root], target, progress=False)
    await target.close()
    assert summary.interrupted and summary.loaded == 0
    assert summary.stop_reason.startswith("cannot connect to http://test/fhir")


async def test_three_synthea_bundles_from_the_archive(app, tmp_path):
    if not SYNTHEA.exists():
        pytest.skip(f"the Synthea sample {SYNTHEA} is not here (it lives in shared/data beside the repository)")
    root = tmp_path / "synthea"
    root.mkdir()
    with tarfile.open(SYNTHEA) as archive:
        members = sorted((m for m in archive.getmembers() if m.isfile()), key=lambda m: m.size)[:3]
        expected = 0
        for member in members:
            data = archive.extractfile(member).read()
            expected += len(orjson.loads(data)["entry"])
            (root / Path(member.name).name).write_bytes(data)
    summary = await load([root], InProcessTarget(app.state.backend, "test"), concurrency=3, progress=False)
    assert (summary.loaded, summary.resources, summary.failures) == (3, expected, [])
    ctx = RequestContext(base_url=BASE)
    assert await app.state.backend.repository.count(ctx, "Patient", {}) == 3


def test_the_cli_warns_that_the_embedded_store_vanishes(tmp_path, capsys):
    root = tmp_path / "in"
    root.mkdir()
    (root / "org.json").write_bytes(orjson.dumps({"resourceType": "Organization", "id": "o1", "name": "x"}))
    args = type("Args", (), {"paths": [str(root)], "url": None, "concurrency": 2, "journal": None, "no_journal": False, "batch_size": 500})
    assert load_cli.run_load(conftest.test_settings(), args) == 0
    captured = capsys.readouterr()
    assert load_cli.EMBEDDED_WARNING in captured.err
    assert "files: 1 (1 loaded, 0 already loaded, 0 to retry, 0 ignored)" in captured.out
    assert not (root / ".fhir-load-journal.jsonl").exists()
    args.paths = [str(root / "missing")]
    assert load_cli.run_load(conftest.test_settings(), args) == 2


def test_failures_print_with_their_file_and_reason():
    from fhir_server.loading.summary import Summary

    summary = Summary(files=2, loaded=2, resources=5, seconds=2.0, failures=[Failure("a.ndjson", "line 3", "400", "bad gender")])
    assert summary.text() == (
        "files: 2 (2 loaded, 0 already loaded, 0 to retry, 0 ignored)\n"
        "resources: 5 in 2.0 s (2 resources/s)\n"
        "failures: 1\n"
        "  a.ndjson line 3: 400 bad gender"
    )

"""Bulk Data export through the ASGI app (https://hl7.org/fhir/uv/bulkdata/export.html)."""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta

import orjson
import pytest

from fhir_server.context import RequestContext
from fhir_server.loading.loader import load
from fhir_server.loading.targets import InProcessTarget
from fhir_server.main import create_app
from fhir_server.operations import export_job
from fhir_server.spec.resource_types import RESOURCE_TYPES
from fhir_server.storage.repository import utc_now
from tests import conftest
from tests.conftest import BASE, without_meta

ASYNC = {"Prefer": "respond-async", "Accept": "application/fhir+json"}
INSTANT = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00$")


def put(resource_type, resource_id, **fields):
    resource = {"resourceType": resource_type, "id": resource_id, **fields}
    return {"resource": resource, "request": {"method": "PUT", "url": f"{resource_type}/{resource_id}"}}


def observation(resource_id, subject):
    return put("Observation", resource_id, status="final", code={"text": "weight"}, subject={"reference": subject})


DATA = [
    put("Patient", "p1", gender="female"),
    put("Patient", "p2", gender="male"),
    put("Patient", "p3", gender="other"),
    put("Organization", "org1", name="Clinic"),
    observation("o1", "Patient/p1"),
    observation("o2", "Patient/p2"),
    observation("o3", "Patient/p3"),
    observation("o4", "Group/g1"),  # not in any Patient compartment
    put("Encounter", "e1", status="finished", subject={"reference": "Patient/p1"},
        serviceProvider={"reference": "Organization/org1"}, **{"class": {"code": "AMB"}}),
    put("Group", "g1", type="person", actual=True,
        member=[{"entity": {"reference": "Patient/p1"}}, {"entity": {"reference": f"{BASE}/Patient/p3"}}]),
]


async def seed(client, entries=DATA):
    response = await client.post("", json={"resourceType": "Bundle", "type": "transaction", "entry": entries})
    assert response.status_code == 200, response.text


async def stored(backend) -> dict[str, dict[str, dict]]:
    """Type -> id -> resource, for every current resource."""
    ctx = RequestContext(base_url=BASE)
    out: dict[str, dict[str, dict]] = {}
    for resource_type in sorted(await backend.repository.stored_types() & RESOURCE_TYPES):
        docs = await backend.repository.find(ctx, resource_type, {})
        if docs:
            out[resource_type] = {doc["_id"]: orjson.loads(doc["raw"]) for doc in docs}
    return out


async def kick_off(client, path="/$export", headers=ASYNC, **kwargs):
    response = await client.get(path, headers=headers, **kwargs)
    assert response.status_code == 202, response.text
    location = response.headers["content-location"]
    assert re.fullmatch(rf"{re.escape(BASE)}/\$export-poll-status\?_jobId=[0-9a-f]{{32}}", location)
    return location


async def finished(client, location):
    for _ in range(200):
        response = await client.get(location)
        if response.status_code != 202:
            return response
        assert response.headers["x-progress"]
        await asyncio.sleep(0.01)
    raise AssertionError("the export did not finish")


async def download(client, manifest) -> dict[str, list[dict]]:
    """Type -> resources of the manifest's files."""
    out: dict[str, list[dict]] = {}
    for output in manifest["output"]:
        response = await client.get(output["url"])
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/fhir+ndjson"
        lines = [orjson.loads(line) for line in response.content.splitlines()]
        assert len(lines) == output["count"]
        out.setdefault(output["type"], []).extend(lines)
    return out


def job_of(location):
    return location.rsplit("=", 1)[1]


async def test_system_export_runs_to_a_manifest_and_files_of_the_stored_resources(client, app):
    await seed(client)
    location = await kick_off(client)
    done = await finished(client, location)
    assert done.status_code == 200
    assert done.headers["content-type"] == "application/json"
    assert done.headers["expires"].endswith(" GMT")
    manifest = done.json()
    assert INSTANT.match(manifest["transactionTime"])
    job = job_of(location)
    types = ["Encounter", "Group", "Observation", "Organization", "Patient"]
    counts = {"Encounter": 1, "Group": 1, "Observation": 4, "Organization": 1, "Patient": 3}
    assert manifest == {
        "transactionTime": manifest["transactionTime"],
        "request": f"{BASE}/$export",
        "requiresAccessToken": False,
        "output": [{"type": t, "url": f"{BASE}/$export-file/{job}/{t}.ndjson", "count": counts[t]} for t in types],
        "error": [],
    }
    files = await download(client, manifest)
    everything = await stored(app.state.backend)
    assert {t: {r["id"]: r for r in rs} for t, rs in files.items()} == everything


async def test_kick_off_needs_prefer_respond_async(client):
    response = await client.get("/$export")
    assert response.status_code == 400
    assert response.json() == {"resourceType": "OperationOutcome", "issue": [{
        "severity": "error", "code": "invalid",
        "diagnostics": "$export runs asynchronously: send the header Prefer: respond-async",
    }]}


@pytest.mark.parametrize(("query", "diagnostics"), [
    ("_outputFormat=text/csv", "_outputFormat 'text/csv' is not supported: only application/fhir+ndjson"),
    ("_type=Patient,Nonsense", "_type names unknown resource type(s) Nonsense"),
    ("_since=yesterday", "_since must be a FHIR instant such as 2024-01-31T12:00:00Z, got 'yesterday'"),
    ("_typeFilter=Patient%3Fgender%3Dmale",
     "$export does not support the parameter(s) _typeFilter (send Prefer: handling=lenient to have them ignored)"),
])
async def test_parameters_that_cannot_be_honoured_are_a_400(client, query, diagnostics):
    response = await client.get(f"/$export?{query}", headers=ASYNC)
    assert response.status_code == 400
    code = "invalid" if query.startswith("_since") else "not-supported"
    assert response.json() == {"resourceType": "OperationOutcome", "issue": [
        {"severity": "error", "code": code, "diagnostics": diagnostics},
    ]}


async def test_type_outside_the_patient_compartment_is_a_400_for_patient_export(client):
    response = await client.get("/Patient/$export?_type=Organization", headers=ASYNC)
    assert response.status_code == 400
    assert response.json()["issue"][0]["diagnostics"] == "_type names type(s) outside the Patient compartment Organization"


async def test_lenient_handling_ignores_what_is_not_supported(client):
    await seed(client)
    headers = {**ASYNC, "Prefer": "respond-async, handling=lenient"}
    location = await kick_off(client, "/$export?_type=Patient,Nonsense&_typeFilter=Patient%3Fgender%3Dmale", headers=headers)
    manifest = (await finished(client, location)).json()
    assert [(o["type"], o["count"]) for o in manifest["output"]] == [("Patient", 3)]


async def test_type_and_since_select_what_is_exported(client):
    await seed(client)
    await asyncio.sleep(0.005)
    since = utc_now()
    await asyncio.sleep(0.005)
    await seed(client, [put("Patient", "p2", gender="unknown"), observation("o9", "Patient/p2")])
    stamp = since.strftime("%Y-%m-%dT%H:%M:%S.") + f"{since.microsecond // 1000:03d}Z"
    location = await kick_off(client, f"/$export?_type=Patient,Organization&_since={stamp}")
    manifest = (await finished(client, location)).json()
    assert manifest["request"] == f"{BASE}/$export?_type=Patient%2COrganization&_since={stamp.replace(':', '%3A')}"
    files = await download(client, manifest)
    assert {t: [r["id"] for r in rs] for t, rs in files.items()} == {"Patient": ["p2"]}


async def test_patient_export_is_the_patient_compartments(client):
    await seed(client)
    manifest = (await finished(client, await kick_off(client, "/Patient/$export"))).json()
    assert manifest["request"] == f"{BASE}/Patient/$export"
    files = await download(client, manifest)
    assert {t: sorted(r["id"] for r in rs) for t, rs in files.items()} == {  # Group is in it too, by ``member``
        "Encounter": ["e1"], "Group": ["g1"], "Observation": ["o1", "o2", "o3"], "Patient": ["p1", "p2", "p3"],
    }


async def test_group_export_is_the_compartments_of_its_members(client):
    await seed(client)
    location = await kick_off(client, "/Group/g1/$export?_type=Patient,Observation")
    files = await download(client, (await finished(client, location)).json())
    assert {t: sorted(r["id"] for r in rs) for t, rs in files.items()} == {"Observation": ["o1", "o3"], "Patient": ["p1", "p3"]}


async def test_group_export_of_an_unknown_group_is_a_404(client):
    response = await client.get("/Group/nope/$export", headers=ASYNC)
    assert response.status_code == 404
    assert response.json()["issue"][0]["diagnostics"] == "Group/nope is not known"


async def test_post_kick_off_takes_parameters(client):
    await seed(client)
    parameters = {"resourceType": "Parameters", "parameter": [
        {"name": "_type", "valueString": "Organization"}, {"name": "_outputFormat", "valueString": "application/fhir+ndjson"},
    ]}
    response = await client.post("/$export", json=parameters, headers=ASYNC)
    assert response.status_code == 202
    files = await download(client, (await finished(client, response.headers["content-location"])).json())
    assert list(files) == ["Organization"]


async def test_an_empty_export_has_no_output(client):
    manifest = (await finished(client, await kick_off(client))).json()
    assert (manifest["output"], manifest["error"]) == ([], [])


async def test_large_types_are_split_into_several_files(client, monkeypatch):
    monkeypatch.setattr(export_job, "MAX_FILE_BYTES", 300)
    await seed(client)
    manifest = (await finished(client, await kick_off(client, "/$export?_type=Observation"))).json()
    names = [o["url"].rsplit("/", 1)[1] for o in manifest["output"]]
    assert names[:2] == ["Observation.ndjson", "Observation-2.ndjson"] and len(names) == 4
    assert sum(o["count"] for o in manifest["output"]) == 4


async def test_delete_cancels_or_discards_and_then_the_status_is_gone(client):
    await seed(client)
    location = await kick_off(client)
    manifest = (await finished(client, location)).json()
    deleted = await client.delete(location)
    assert deleted.status_code == 202
    assert deleted.json() == {"resourceType": "OperationOutcome", "issue": [
        {"severity": "information", "code": "informational", "diagnostics": "The export and its files are deleted"},
    ]}
    assert (await client.get(location)).status_code == 404
    assert (await client.get(manifest["output"][0]["url"])).status_code == 404
    assert (await client.delete(location)).status_code == 404


async def test_delete_while_running_stops_the_job(client, app):
    await seed(client)
    location = await kick_off(client)
    assert (await client.delete(location)).status_code == 202
    await asyncio.sleep(0.05)
    job = job_of(location)
    assert await app.state.backend.repository.export_job(job) is None
    assert await app.state.backend.repository.export_files(job) == []


async def test_delete_is_refused_on_other_operations(client):
    response = await client.delete("/$export")
    assert response.status_code == 405
    assert response.json()["issue"][0]["diagnostics"] == "$export is invoked with GET or POST, not DELETE"


async def test_unknown_jobs_and_files_are_404(client):
    assert (await client.get("/$export-poll-status")).status_code == 400
    assert (await client.get("/$export-poll-status?_jobId=nope")).status_code == 404
    location = await kick_off(client)
    await finished(client, location)
    assert (await client.get(f"/$export-file/{job_of(location)}/Patient.ndjson")).status_code == 404
    assert (await client.get(f"/$export-file/{job_of(location)}")).status_code == 404


async def test_a_job_whose_task_was_lost_reports_failure(client, app):
    repository = app.state.backend.repository
    old = utc_now() - timedelta(hours=1)
    await repository.export_create({"_id": "lost", "status": "in-progress", "hb": old, "transactionTime": old,
                                    "request": f"{BASE}/$export", "tenant": None})
    response = await client.get("/$export-poll-status?_jobId=lost")
    assert response.status_code == 500
    assert response.json() == {"resourceType": "OperationOutcome", "issue": [
        {"severity": "error", "code": "exception", "diagnostics": "The export failed: the server stopped while the export ran"},
    ]}


async def test_round_trip_export_then_load_gives_the_same_resources(client, app, tmp_path):
    await seed(client)
    files = await download(client, (await finished(client, await kick_off(client))).json())
    for resource_type, resources in files.items():
        (tmp_path / f"{resource_type}.ndjson").write_bytes(b"\n".join(orjson.dumps(r) for r in resources) + b"\n")
    original = await stored(app.state.backend)

    fresh = create_app(conftest.test_settings())
    async with fresh.router.lifespan_context(fresh):
        summary = await load([tmp_path], InProcessTarget(fresh.state.backend, "fresh"), progress=False)
        assert (summary.loaded, summary.resources, summary.failures) == (5, 10, [])
        copied = await stored(fresh.state.backend)
    strip = lambda data: {t: {i: without_meta(r) for i, r in rs.items()} for t, rs in data.items()}  # noqa: E731
    assert strip(copied) == strip(original)


async def test_expired_output_is_discarded_at_the_next_kick_off(client, app):
    repository = app.state.backend.repository
    old = utc_now() - timedelta(days=2)
    await repository.export_create({"_id": "old", "status": "completed", "expires": old, "transactionTime": old,
                                    "request": f"{BASE}/$export", "tenant": None})
    await repository.export_add_file({"_id": "old/Patient.ndjson", "job": "old", "seq": 1, "type": "Patient",
                                      "name": "Patient.ndjson", "count": 0, "data": b""})
    assert (await client.get("/$export-poll-status?_jobId=old")).status_code == 200
    await finished(client, await kick_off(client))
    assert (await client.get("/$export-poll-status?_jobId=old")).status_code == 404
    assert await repository.export_files("old") == []

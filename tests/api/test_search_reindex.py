"""``$reindex`` at instance, type and system level (fhir_server/operations/reindex.py): resources
written before a custom SearchParameter become searchable by it.
"""

from __future__ import annotations

import asyncio

from fhir_server.operations import reindex
from tests.conftest import BASE
from tests.search.support import get_bundle, matches, outcome, put_all

NICKNAME = {
    "resourceType": "SearchParameter", "id": "patient-nickname", "url": "http://example.org/fhir/SearchParameter/patient-nickname",
    "name": "nickname", "status": "active", "description": "A patient's nickname", "code": "nickname",
    "base": ["Patient", "Practitioner"], "type": "string",
    "expression": "Patient.name.where(use='nickname').given | Practitioner.name.where(use='nickname').given",
}  # fmt: skip


def person(resource_type: str, rid: str, nickname: str) -> dict:
    return {"resourceType": resource_type, "id": rid, "name": [{"use": "nickname", "given": [nickname]}]}


async def poll(client, url: str) -> dict:
    for _ in range(200):
        response = await client.get(url)
        if response.status_code == 200:
            return response.json()
        assert response.status_code == 202, response.text
        assert response.headers["x-progress"].endswith(" resources")
        await asyncio.sleep(0.01)
    raise AssertionError("the reindex job did not finish")


def job_values(parameters: dict) -> dict:
    out: dict = {}
    for p in parameters["parameter"]:
        value = next(v for k, v in p.items() if k.startswith("value"))
        out.setdefault(p["name"], []).append(value)
    return {k: v if k == "type" else v[0] for k, v in out.items()}


async def test_instance_reindex_is_synchronous(client, sync):
    await put_all(client, [person("Patient", "p1", "Bo"), person("Patient", "p2", "Al")])
    await put_all(client, [NICKNAME])
    assert matches(await get_bundle(client, "/Patient", params={"nickname": "bo"})) == []
    response = await client.post("/Patient/p1/$reindex")
    assert (response.status_code, response.json()) == (200, {
        "resourceType": "Parameters",
        "parameter": [{"name": "processed", "valueInteger": 1}, {"name": "changed", "valueInteger": 1}],
    })
    assert matches(await get_bundle(client, "/Patient", params={"nickname": "bo"})) == ["Patient/p1"]
    again = await client.post("/Patient/p1/$reindex")
    assert again.json()["parameter"][1] == {"name": "changed", "valueInteger": 0}
    missing = await client.post("/Patient/nobody/$reindex")
    assert (missing.status_code, missing.json()) == (404, outcome("not-found", "Patient/nobody is not known"))


async def test_type_reindex_runs_in_the_background_with_progress(client, sync):
    patients = [person("Patient", f"p{i:03}", f"Nick{i}") for i in range(12)]
    await put_all(client, patients + [person("Practitioner", "pr1", "Doc")])
    await put_all(client, [NICKNAME])
    await client.delete("/Patient/p011")
    response = await client.post("/Patient/$reindex")
    assert response.status_code == 202
    location = response.headers["content-location"]
    assert location.startswith(f"{BASE}/$reindex-status?job=")
    job = job_values(await poll(client, location.removeprefix(BASE)))
    assert {k: v for k, v in job.items() if k not in ("job", "started", "finished")} == {
        "status": "completed", "type": ["Patient"], "total": 11, "processed": 11, "changed": 11,
    }
    assert job["finished"] >= job["started"]
    assert matches(await get_bundle(client, "/Patient", params={"nickname": "nick1"})) == ["Patient/p001", "Patient/p010"]
    assert matches(await get_bundle(client, "/Practitioner", params={"nickname": "doc"})) == []  # not reindexed


async def test_system_reindex_covers_every_stored_type_in_batches(client, sync, monkeypatch):
    monkeypatch.setattr(reindex, "BATCH", 2)
    await put_all(client, [person("Patient", "p1", "Bo"), person("Patient", "p2", "Cy"), person("Practitioner", "pr1", "Doc")])
    await put_all(client, [NICKNAME])
    response = await client.post("/$reindex")
    assert response.status_code == 202
    job = job_values(await poll(client, response.headers["content-location"].removeprefix(BASE)))
    assert job["status"] == "completed"
    assert job["type"] == ["Patient", "Practitioner", "SearchParameter"]
    assert (job["total"], job["processed"], job["changed"]) == (4, 4, 3)  # the SearchParameter's index is unchanged
    assert matches(await get_bundle(client, "/", params={"_type": "Patient,Practitioner", "nickname": "bo,doc"})) == [
        "Patient/p1", "Practitioner/pr1"
    ]


async def test_system_reindex_of_chosen_types_and_errors(client, sync):
    await put_all(client, [person("Patient", "p1", "Bo"), person("Practitioner", "pr1", "Doc")])
    await put_all(client, [NICKNAME])
    response = await client.post("/$reindex?type=Practitioner")
    job = job_values(await poll(client, response.headers["content-location"].removeprefix(BASE)))
    assert (job["type"], job["changed"]) == (["Practitioner"], 1)
    bad = await client.post("/$reindex?type=Nope")
    assert (bad.status_code, bad.json()) == (400, outcome("invalid", "Unknown resource type(s) for $reindex: Nope"))
    assert (await client.get("/Patient/$reindex")).status_code == 405
    unknown = await client.get("/$reindex-status", params={"job": "nope"})
    assert (unknown.status_code, unknown.json()) == (404, outcome("not-found", "No reindex job 'nope'"))


async def test_reindex_is_listed_in_the_capability_statement(client):
    statement = (await client.get("/metadata")).json()
    system_ops = statement["rest"][0]["operation"]
    assert {"name": "reindex", "definition": "OperationDefinition/reindex"} in system_ops
    patient = next(r for r in statement["rest"][0]["resource"] if r["type"] == "Patient")
    assert {"name": "reindex", "definition": "OperationDefinition/reindex"} in patient["operation"]

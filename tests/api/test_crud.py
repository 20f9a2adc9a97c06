"""create, read, vread, update, delete through the ASGI app (http://hl7.org/fhir/R4/http.html)."""

from __future__ import annotations

import re

import orjson

from tests.conftest import BASE, without_meta

PATIENT = {
    "resourceType": "Patient",
    "identifier": [{"system": "https://fhir.example-health.org/identifier/national-id", "value": "1000000001"}],
    "name": [{"family": "Al-Harbi", "given": ["Aisha"]}],
    "gender": "female",
    "birthDate": "1990-04-12",
}
INSTANT = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00$")


async def create(client, resource=PATIENT, **kwargs):
    response = await client.post(f"/{resource['resourceType']}", json=resource, **kwargs)
    assert response.status_code == 201, response.text
    return response


def expected(resource: dict, resource_id: str, vid: int, last_updated: str) -> dict:
    meta = {**resource.get("meta", {}), "versionId": str(vid), "lastUpdated": last_updated}
    return {"resourceType": resource["resourceType"], "id": resource_id, "meta": meta,
            **{k: v for k, v in resource.items() if k not in ("resourceType", "id", "meta")}}


async def test_create_then_read_returns_the_resource_with_server_meta(client):
    created = await create(client)
    body = created.json()
    assert INSTANT.match(body["meta"]["lastUpdated"])
    assert body == expected(PATIENT, body["id"], 1, body["meta"]["lastUpdated"])
    assert created.headers["location"] == f"{BASE}/Patient/{body['id']}/_history/1"
    assert created.headers["etag"] == 'W/"1"'
    assert created.headers["content-type"] == "application/fhir+json; charset=utf-8"

    read = await client.get(f"/Patient/{body['id']}")
    assert read.status_code == 200
    assert read.json() == body
    assert read.headers["etag"] == 'W/"1"'
    assert read.headers["last-modified"].endswith(" GMT")


async def test_create_ignores_a_client_id(client):
    created = await create(client, {**PATIENT, "id": "client-chosen"})
    assert created.json()["id"] != "client-chosen"


async def test_update_makes_a_new_version_and_vread_serves_each(client):
    first = (await create(client)).json()
    changed = {**first, "gender": "other"}
    updated = await client.put(f"/Patient/{first['id']}", json=changed)
    assert updated.status_code == 200
    second = updated.json()
    assert second == expected(without_meta(changed), first["id"], 2, second["meta"]["lastUpdated"])
    assert updated.headers["etag"] == 'W/"2"'
    assert (await client.get(f"/Patient/{first['id']}/_history/1")).json() == first
    assert (await client.get(f"/Patient/{first['id']}/_history/2")).json() == second
    assert (await client.get(f"/Patient/{first['id']}")).json() == second


async def test_update_as_create_with_a_client_id(client):
    response = await client.put("/Patient/pat-1", json={**PATIENT, "id": "pat-1"})
    assert response.status_code == 201
    assert response.json() == expected(PATIENT, "pat-1", 1, response.json()["meta"]["lastUpdated"])
    assert response.headers["location"] == f"{BASE}/Patient/pat-1/_history/1"


async def test_delete_then_read_is_gone_and_history_keeps_a_tombstone(client):
    await client.put("/Patient/pat-2", json={**PATIENT, "id": "pat-2"})
    deleted = await client.delete("/Patient/pat-2")
    assert deleted.status_code == 204
    assert deleted.headers["etag"] == 'W/"2"'
    gone = await client.get("/Patient/pat-2")
    assert gone.status_code == 410
    assert gone.json() == {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": "deleted", "diagnostics": "Patient/pat-2 was deleted (version 2)"}],
    }
    assert (await client.delete("/Patient/pat-2")).status_code == 204
    assert (await client.get("/Patient/pat-2/_history/1")).status_code == 200
    assert (await client.get("/Patient/pat-2/_history/2")).status_code == 410
    recreated = await client.put("/Patient/pat-2", json={**PATIENT, "id": "pat-2"})
    assert recreated.status_code == 201
    assert recreated.json()["meta"]["versionId"] == "3"


async def test_delete_of_an_unknown_resource_is_a_no_op(client):
    response = await client.delete("/Patient/never-was")
    assert response.status_code == 204
    assert (await client.get("/Patient/never-was")).status_code == 404


async def test_stored_json_is_served_byte_for_byte(client):
    created = await create(client)
    read = await client.get(f"/Patient/{created.json()['id']}")
    assert read.content == orjson.dumps(created.json())

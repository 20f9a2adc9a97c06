"""PATCH over HTTP in its three formats (http://hl7.org/fhir/R4/http.html#patch)."""

from __future__ import annotations

import orjson

from tests.api.test_crud import PATIENT


async def put_patient(client, resource_id: str) -> dict:
    return (await client.put(f"/Patient/{resource_id}", json={**PATIENT, "id": resource_id})).json()


def next_version(before: dict, after: dict, **changes) -> dict:
    return {**before, **changes, "meta": {**before["meta"], "versionId": "2", "lastUpdated": after["meta"]["lastUpdated"]}}


async def test_json_patch(client):
    before = await put_patient(client, "jp")
    patch = [{"op": "replace", "path": "/gender", "value": "male"}, {"op": "add", "path": "/active", "value": True}]
    response = await client.patch("/Patient/jp", content=orjson.dumps(patch), headers={"content-type": "application/json-patch+json"})
    assert response.status_code == 200
    assert response.json() == next_version(before, response.json(), gender="male", active=True)
    assert response.headers["etag"] == 'W/"2"'


async def test_merge_patch_and_fhirpy_partial_object(client):
    before = await put_patient(client, "mp")
    response = await client.patch("/Patient/mp", content=b'{"gender": "other", "birthDate": null}',
                                  headers={"content-type": "application/merge-patch+json"})
    expected = next_version(before, response.json(), gender="other")
    del expected["birthDate"]
    assert response.json() == expected
    partial = await client.patch("/Patient/mp", json={"active": False}, headers={"content-type": "application/json"})
    assert partial.status_code == 200
    assert partial.json()["active"] is False


async def test_fhirpath_patch(client):
    before = await put_patient(client, "fp")
    parameters = {"resourceType": "Parameters", "parameter": [{"name": "operation", "part": [
        {"name": "type", "valueCode": "add"}, {"name": "path", "valueString": "Patient.name[0]"},
        {"name": "name", "valueString": "given"}, {"name": "value", "valueString": "Noor"},
    ]}]}
    response = await client.patch("/Patient/fp", json=parameters, headers={"content-type": "application/fhir+json"})
    assert response.status_code == 200
    assert response.json() == next_version(before, response.json(), name=[{"family": "Al-Harbi", "given": ["Aisha", "Noor"]}])


async def test_a_patch_that_breaks_r4_is_400_and_changes_nothing(client):
    before = await put_patient(client, "bad")
    patch = [{"op": "replace", "path": "/gender", "value": "robot"}]
    response = await client.patch("/Patient/bad", json=patch, headers={"content-type": "application/json-patch+json"})
    assert response.status_code == 400
    assert response.json()["issue"][0]["expression"] == ["Patient.gender"]
    assert (await client.get("/Patient/bad")).json() == before


async def test_patch_with_a_stale_if_match_is_412(client):
    await put_patient(client, "stale")
    response = await client.patch("/Patient/stale", json=[{"op": "remove", "path": "/gender"}],
                                  headers={"content-type": "application/json-patch+json", "if-match": 'W/"9"'})
    assert response.status_code == 412

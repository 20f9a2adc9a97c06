"""Conditional create, update, patch and delete over HTTP (http://hl7.org/fhir/R4/http.html#ccreate)."""

from __future__ import annotations

from tests.api.test_crud import PATIENT

SYSTEM = "urn:test:national-id"


def with_identifier(value: str, **extra) -> dict:
    return {**PATIENT, "identifier": [{"system": SYSTEM, "value": value}], **extra}


async def test_if_none_exist_returns_the_existing_resource_instead_of_creating(client):
    first = await client.post("/Patient", json=with_identifier("c1"), headers={"if-none-exist": f"identifier={SYSTEM}|c1"})
    again = await client.post("/Patient", json=with_identifier("c1"), headers={"if-none-exist": f"identifier={SYSTEM}|c1"})
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    assert again.headers["location"] == first.headers["location"]


async def test_post_with_criteria_in_the_url_is_a_conditional_create(client):
    url = f"/Patient?identifier={SYSTEM}|c2"
    first = await client.post(url, json=with_identifier("c2"))
    again = await client.post(url, json=with_identifier("c2"))
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]


async def test_conditional_create_with_several_matches_is_412(client):
    for _ in range(2):
        await client.post("/Patient", json=with_identifier("dup"))
    response = await client.post("/Patient", json=with_identifier("dup"), headers={"if-none-exist": f"identifier={SYSTEM}|dup"})
    assert response.status_code == 412
    assert response.json() == {"resourceType": "OperationOutcome", "issue": [{
        "severity": "error", "code": "conflict", "diagnostics": "The If-None-Exist criteria match more than one Patient",
    }]}


async def test_conditional_update_creates_then_updates_the_match(client):
    url = f"/Patient?identifier={SYSTEM}|u1"
    created = await client.put(url, json=with_identifier("u1"))
    updated = await client.put(url, json=with_identifier("u1", gender="male"))
    assert (created.status_code, updated.status_code) == (201, 200)
    assert updated.json()["id"] == created.json()["id"]
    assert updated.json()["meta"]["versionId"] == "2"
    assert updated.json()["gender"] == "male"


async def test_conditional_update_with_a_different_body_id_is_400(client):
    url = f"/Patient?identifier={SYSTEM}|u2"
    created = (await client.put(url, json=with_identifier("u2"))).json()
    response = await client.put(url, json=with_identifier("u2", id="other"))
    assert response.status_code == 400
    assert response.json() == {"resourceType": "OperationOutcome", "issue": [{
        "severity": "error", "code": "invalid",
        "diagnostics": f"The body's id 'other' differs from the matching resource '{created['id']}'", "expression": ["Patient.id"],
    }]}


async def test_conditional_patch_patches_the_single_match(client):
    created = (await client.post("/Patient", json=with_identifier("p1"))).json()
    patch = [{"op": "replace", "path": "/gender", "value": "other"}]
    response = await client.patch(
        f"/Patient?identifier={SYSTEM}|p1", json=patch, headers={"content-type": "application/json-patch+json"}
    )
    assert response.status_code == 200
    assert response.json() == {**created, "gender": "other", "meta": {**response.json()["meta"], "versionId": "2"}}
    missing = await client.patch(f"/Patient?identifier={SYSTEM}|none", json=patch,
                                 headers={"content-type": "application/json-patch+json"})
    assert missing.status_code == 404


async def test_conditional_delete_removes_every_match(client):
    ids = [(await client.post("/Patient", json=with_identifier("d1"))).json()["id"] for _ in range(3)]
    keep = (await client.post("/Patient", json=with_identifier("d2"))).json()["id"]
    response = await client.delete(f"/Patient?identifier={SYSTEM}|d1")
    assert response.status_code == 200
    assert response.json() == {"resourceType": "OperationOutcome", "issue": [{
        "severity": "information", "code": "informational", "diagnostics": "Deleted 3 Patient resource(s)",
    }]}
    assert [(await client.get(f"/Patient/{i}")).status_code for i in ids] == [410, 410, 410]
    assert (await client.get(f"/Patient/{keep}")).status_code == 200
    nothing = await client.delete(f"/Patient?identifier={SYSTEM}|d1")
    assert nothing.json()["issue"][0]["diagnostics"] == "No Patient matched; nothing was deleted"


async def test_conditional_delete_of_a_single_match(client):
    only = (await client.post("/Patient", json=with_identifier("d3"))).json()["id"]
    assert (await client.delete(f"/Patient?identifier={SYSTEM}|d3")).status_code == 200
    assert (await client.get(f"/Patient/{only}")).status_code == 410

"""Every error is an OperationOutcome with the right status, never a 500 (http://hl7.org/fhir/R4/http.html)."""

from __future__ import annotations

import orjson

from tests.api.test_crud import PATIENT


def outcome(code: str, diagnostics: str, *expression: str) -> dict:
    issue = {"severity": "error", "code": code, "diagnostics": diagnostics}
    if expression:
        issue["expression"] = list(expression)
    return {"resourceType": "OperationOutcome", "issue": [issue]}


async def test_unknown_resource_type_is_404(client):
    response = await client.get("/Patientt/1")
    assert response.status_code == 404
    assert response.json() == outcome("not-found", "Unknown resource type 'Patientt'")


async def test_unknown_id_is_404(client):
    response = await client.get("/Patient/nope")
    assert response.status_code == 404
    assert response.json() == outcome("not-found", "Patient/nope is not known")


async def test_unsupported_method_is_405(client):
    response = await client.put("/Patient", json=PATIENT)
    assert response.status_code == 405
    assert response.json() == outcome("not-supported", "PUT on a resource type needs search criteria (conditional PUT)")


async def test_bad_json_is_400(client):
    response = await client.post("/Patient", content=b'{"resourceType": "Patient",', headers={"content-type": "application/fhir+json"})
    assert response.status_code == 400
    body = response.json()
    assert body["issue"][0]["code"] == "structure"
    assert body["issue"][0]["diagnostics"].startswith("The body is not valid JSON: ")


async def test_deeply_nested_json_is_400_not_500(client):
    deep = '{"resourceType":"Patient","extension":[' + '{"url":"http://x","extension":[' * 5000 + "]}" * 5000 + "]}"
    response = await client.post("/Patient", content=deep.encode(), headers={"content-type": "application/fhir+json"})
    assert response.status_code == 400
    assert response.json()["issue"][0]["code"] == "structure"


async def test_moderately_deep_json_beyond_the_limit_is_400(client):
    deep = '{"resourceType":"Patient","extension":[' + '{"url":"http://x","extension":[' * 40 + "]}" * 40 + "]}"
    response = await client.post("/Patient", content=deep.encode(), headers={"content-type": "application/fhir+json"})
    assert response.status_code == 400
    assert response.json() == outcome("structure", "The body nests JSON deeper than 64 levels")


async def test_body_not_a_resource_is_400(client):
    response = await client.post("/Patient", json=[1, 2])
    assert response.status_code == 400
    assert response.json() == outcome("invalid", "The body must be a FHIR resource: a JSON object with a resourceType")


async def test_resource_type_must_match_the_url(client):
    response = await client.post("/Observation", json=PATIENT)
    assert response.status_code == 400
    assert response.json() == outcome("invalid", "The body is a Patient, but the URL is for Observation", "Observation")


async def test_update_needs_the_url_id_in_the_body(client):
    response = await client.put("/Patient/abc", json=PATIENT)
    assert response.status_code == 400
    assert response.json() == outcome(
        "invalid", "The body's id (None) must equal the id in the URL ('abc')", "Patient.id"
    )


async def test_invalid_resource_is_400_with_expression(client):
    response = await client.post("/Patient", json={**PATIENT, "gender": "x", "nickname": "A"})
    assert response.status_code == 400
    issues = response.json()["issue"]
    assert sorted(tuple(i["expression"]) for i in issues) == [("Patient.gender",), ("Patient.nickname",)]


async def test_xml_body_is_415(client):
    response = await client.post("/Patient", content=b"<Patient/>", headers={"content-type": "application/fhir+xml"})
    assert response.status_code == 415
    assert response.json() == outcome("not-supported", "XML bodies are not supported: send application/fhir+json")


async def test_xml_format_is_406(client):
    response = await client.get("/Patient/x", params={"_format": "xml"})
    assert response.status_code == 406
    assert response.json() == outcome(
        "not-supported", "_format=xml is not supported: this server speaks FHIR JSON only"
    )


async def test_xml_accept_is_406(client):
    response = await client.get("/metadata", headers={"accept": "application/fhir+xml"})
    assert response.status_code == 406


async def test_oversized_body_is_413(client, app):
    limit = app.state.backend.settings.max_body_bytes
    big = orjson.dumps({**PATIENT, "text": {"status": "generated", "div": "<div>" + "x" * limit + "</div>"}})
    response = await client.post("/Patient", content=big, headers={"content-type": "application/fhir+json"})
    assert response.status_code == 413
    assert response.json() == outcome("too-costly", f"The body is larger than the limit of {limit} bytes")


async def test_if_match_mismatch_is_412(client):
    await client.put("/Patient/p412", json={**PATIENT, "id": "p412"})
    response = await client.put("/Patient/p412", json={**PATIENT, "id": "p412"}, headers={"if-match": 'W/"7"'})
    assert response.status_code == 412
    assert response.json() == outcome("conflict", "If-Match expects version 7, but the current version is 1")


async def test_deleted_is_410(client):
    await client.put("/Patient/p410", json={**PATIENT, "id": "p410"})
    await client.delete("/Patient/p410")
    assert (await client.get("/Patient/p410")).status_code == 410


async def test_unknown_patch_format_is_415(client):
    await client.put("/Patient/p415", json={**PATIENT, "id": "p415"})
    response = await client.patch("/Patient/p415", content=b"x", headers={"content-type": "text/plain"})
    assert response.status_code == 415
    assert response.json() == outcome("not-supported", "Content-Type text/plain is not supported: send application/fhir+json")


async def test_failing_json_patch_test_is_422(client):
    await client.put("/Patient/p422", json={**PATIENT, "id": "p422"})
    patch = [{"op": "test", "path": "/gender", "value": "male"}]
    response = await client.patch("/Patient/p422", json=patch, headers={"content-type": "application/json-patch+json"})
    assert response.status_code == 422
    assert response.json()["resourceType"] == "OperationOutcome"
    assert response.json()["issue"][0]["severity"] == "error"


async def test_unknown_operation_is_404(client):
    response = await client.post("/Patient/$nonsense", json={"resourceType": "Parameters"})
    assert response.status_code == 404
    assert response.json() == outcome("not-found", "Operation $nonsense is not supported on Patient")

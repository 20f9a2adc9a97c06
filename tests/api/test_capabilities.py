"""GET /metadata: a CapabilityStatement built from what is really implemented."""

from __future__ import annotations

from fhir_server.spec.resource_types import RESOURCE_TYPES
from tests.conftest import BASE


async def test_capability_statement_describes_the_server(client):
    response = await client.get("/metadata")
    assert response.status_code == 200
    statement = response.json()
    rest = statement.pop("rest")
    assert statement == {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": "2026-11-22",
        "publisher": "fhir-server",
        "kind": "instance",
        "software": {"name": "fhir-server", "version": "0.1.0"},
        "implementation": {"description": "FHIR R4 server for national virtual care", "url": BASE},
        "fhirVersion": "4.0.1",
        "format": ["application/fhir+json", "json"],
        "patchFormat": ["application/json-patch+json", "application/merge-patch+json", "application/fhir+json"],
    }
    assert [i["code"] for i in rest[0]["interaction"]] == ["transaction", "batch", "search-system", "history-system"]
    resources = {r["type"]: r for r in rest[0]["resource"]}
    assert set(resources) == RESOURCE_TYPES
    patient = resources["Patient"]
    assert [i["code"] for i in patient["interaction"]] == [
        "read", "vread", "update", "patch", "delete", "history-instance", "history-type", "create", "search-type",
    ]
    assert {k: patient[k] for k in ("versioning", "readHistory", "updateCreate", "conditionalCreate",
                                     "conditionalRead", "conditionalUpdate", "conditionalDelete")} == {
        "versioning": "versioned-update", "readHistory": True, "updateCreate": True, "conditionalCreate": True,
        "conditionalRead": "full-support", "conditionalUpdate": True, "conditionalDelete": "multiple",
    }
    names = {p["name"] for p in patient["searchParam"]}
    assert {"name", "identifier", "birthdate", "gender", "_id", "_lastUpdated", "organization"} <= names
    assert "Patient:organization" in patient["searchInclude"]


async def test_every_listed_patient_search_parameter_is_accepted(client):
    statement = (await client.get("/metadata")).json()
    patient = next(r for r in statement["rest"][0]["resource"] if r["type"] == "Patient")
    for param in patient["searchParam"]:
        response = await client.get("/Patient", params={f"{param['name']}:missing": "true"})
        assert response.status_code == 200, (param, response.text)


async def test_unknown_metadata_mode_is_400(client):
    assert (await client.get("/metadata", params={"mode": "terminology"})).status_code == 400

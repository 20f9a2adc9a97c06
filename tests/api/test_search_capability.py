"""The CapabilityStatement lists exactly what works (http://hl7.org/fhir/R4/capabilitystatement.html):
every ``searchParam`` of the main resource types can be searched, every modifier and prefix it
allows is accepted, and every ``searchInclude``/``searchRevInclude`` value is accepted.
"""

from __future__ import annotations

import pytest

from fhir_server.spec.search_parameters import params_for
from tests.search.representative import VALUE_SET, queries

TYPES = ["Patient", "Appointment", "ServiceRequest", "MedicationRequest", "CarePlan", "Slot", "Schedule",
         "PractitionerRole", "Observation", "Encounter"]  # fmt: skip
VALUE_SET_RESOURCE = {
    "resourceType": "ValueSet", "id": "rep", "url": VALUE_SET, "status": "active",
    "compose": {"include": [{"system": "http://example.org/sys", "concept": [{"code": "c1"}]}]},
}  # fmt: skip


@pytest.fixture(scope="module")
async def statement():
    from tests.search.support import serving

    async with serving([VALUE_SET_RESOURCE]) as client:
        body = (await client.get("/metadata")).json()
        yield client, {r["type"]: r for r in body["rest"][0]["resource"]}


@pytest.mark.parametrize("resource_type", TYPES)
async def test_every_listed_search_parameter_modifier_and_prefix_is_accepted(statement, resource_type):
    client, resources = statement
    listed = resources[resource_type]["searchParam"]
    assert [p["name"] for p in listed] == sorted(p["name"] for p in listed)
    registry = params_for(resource_type)
    failures = []
    for entry in listed:
        param = registry[entry["name"]]
        assert entry["type"] == param.type
        for name, value in queries(param):
            response = await client.get(f"/{resource_type}", params={name: value})
            if response.status_code != 200:
                failures.append((name, value, response.status_code, response.text))
    assert failures == []


@pytest.mark.parametrize("resource_type", TYPES)
async def test_every_listed_include_and_revinclude_is_accepted(statement, resource_type):
    client, resources = statement
    failures = []
    for name in ("searchInclude", "searchRevInclude"):
        parameter = "_include" if name == "searchInclude" else "_revinclude"
        for value in resources[resource_type].get(name, []):
            for param in (parameter, f"{parameter}:iterate"):
                response = await client.get(f"/{resource_type}", params={param: value})
                if response.status_code != 200:
                    failures.append((param, value, response.status_code, response.text))
    assert failures == []


@pytest.mark.parametrize("resource_type", TYPES)
async def test_every_sortable_listed_parameter_sorts(statement, resource_type):
    client, resources = statement
    failures = []
    for entry in resources[resource_type]["searchParam"]:
        if entry["type"] in ("composite", "special"):
            continue
        for sort in (entry["name"], "-" + entry["name"]):
            response = await client.get(f"/{resource_type}", params={"_sort": sort})
            if response.status_code != 200:
                failures.append((sort, response.status_code, response.text))
    assert failures == []


async def test_what_does_not_work_is_not_listed(statement):
    _, resources = statement
    for resource in resources.values():
        names = {p["name"] for p in resource.get("searchParam", [])}
        assert not names & {"_text", "_content", "_query", "_list", "_filter", "_has", "_type"}, resource["type"]
        assert all(p.get("definition", "http").startswith("http") for p in resource.get("searchParam", []))

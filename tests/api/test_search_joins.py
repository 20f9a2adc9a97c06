"""Chains, reverse chains (``_has``), compartment and system searches through the HTTP API.

http://hl7.org/fhir/R4/search.html#chaining, #has, #all; http://hl7.org/fhir/R4/compartmentdefinition.html.
Data: :mod:`tests.search.dataset` (expected ids worked out by hand).
"""

from __future__ import annotations

import pytest

from tests.search.dataset import RESOURCES
from tests.search.support import get_bundle, matches, outcome, serving


@pytest.fixture(scope="module")
async def data():
    async with serving(RESOURCES) as client:
        yield client


CASES = [
    # chains: one level, typed, several levels, through an absolute reference (pat-b -> org-2)
    ("/Observation", [("subject:Patient.name", "chalmers")], ["Observation/obs-1", "Observation/obs-3", "Observation/obs-4"]),
    ("/Observation", [("subject.name", "chalmers")], ["Observation/obs-1", "Observation/obs-3", "Observation/obs-4"]),
    ("/Observation", [("patient.gender", "female")], ["Observation/obs-2", "Observation/obs-6"]),
    ("/Observation", [("subject:Patient.organization.name", "beta")],
     ["Observation/obs-2", "Observation/obs-4", "Observation/obs-6"]),
    ("/Observation", [("subject:Patient.organization.partof.name", "root health")],
     ["Observation/obs-1", "Observation/obs-2", "Observation/obs-3", "Observation/obs-4", "Observation/obs-6"]),
    ("/Observation", [("subject:Patient.organization.partof.name", "acme")], []),
    ("/Observation", [("subject:Patient.organization", "Organization/org-1")], ["Observation/obs-1", "Observation/obs-3"]),
    ("/Observation", [("subject:Patient.birthdate", "1974"), ("code", "8480-6")], ["Observation/obs-1", "Observation/obs-4"]),
    ("/Observation", [("subject:Patient.name", "chalmers"), ("subject:Patient.name", "peter")],
     ["Observation/obs-1", "Observation/obs-3"]),
    ("/Observation", [("subject:Patient.name", "peter,muller")],
     ["Observation/obs-1", "Observation/obs-2", "Observation/obs-3", "Observation/obs-6"]),
    ("/Observation", [("subject:Patient.identifier", "http://ns.example/ssn|12345")], ["Observation/obs-2", "Observation/obs-6"]),
    ("/Encounter", [("participant:Practitioner.name", "house")], ["Encounter/enc-1"]),
    ("/Patient", [("general-practitioner.family", "house")], ["Patient/pat-b"]),
    ("/Patient", [("organization.name:exact", "Beta Clinic")], ["Patient/pat-b", "Patient/pat-c"]),
    ("/Observation", [("encounter.service-provider.name", "acme")], ["Observation/obs-1"]),
    # _has, nested, combined with other criteria
    ("/Patient", [("_has:Observation:patient:code", "8310-5")], ["Patient/pat-b"]),
    ("/Patient", [("_has:Observation:subject:code", "http://loinc.org|8480-6")],
     ["Patient/pat-a", "Patient/pat-b", "Patient/pat-c"]),
    ("/Patient", [("_has:Observation:subject:code", "8480-6"), ("gender", "female")], ["Patient/pat-b"]),
    ("/Patient", [("_has:Observation:subject:code", "8480-6"), ("_has:Observation:subject:status", "amended")],
     ["Patient/pat-a"]),
    ("/Patient", [("_has:Encounter:patient:_has:Observation:encounter:code", "8480-6")], ["Patient/pat-a"]),
    ("/Patient", [("_has:Observation:subject:subject:Patient.name", "muller")], ["Patient/pat-b"]),
    ("/Organization", [("_has:Patient:organization:name", "muller")], ["Organization/org-2"]),
    ("/Organization", [("_has:Organization:partof:_has:Patient:organization:gender", "male")], ["Organization/org-root"]),
    ("/Practitioner", [("_has:Encounter:practitioner:status", "finished")], ["Practitioner/pr-1"]),
    ("/Practitioner", [("_has:Encounter:practitioner:status", "cancelled")], []),
    # compartment (compartmentdefinition-patient): subject/performer/... pointing at the patient
    ("/Patient/pat-a/Observation", [], ["Observation/obs-1", "Observation/obs-3"]),
    ("/Patient/pat-a/Observation", [("code", "8480-6")], ["Observation/obs-1"]),
    ("/Patient/pat-c/Observation", [], ["Observation/obs-4"]),  # referenced by an absolute URL
    ("/Patient/pat-b/Encounter", [], ["Encounter/enc-2"]),
    ("/Patient/pat-a/RiskAssessment", [], ["RiskAssessment/ra-1"]),
    ("/Patient/pat-a/Patient", [], ["Patient/pat-a"]),
    ("/Patient/nobody/Observation", [], []),
    # system level: _type, parameters common to the listed types
    ("/", [("_type", "Patient,Practitioner"), ("name", "house,muller")], ["Patient/pat-b", "Practitioner/pr-1"]),
    ("/", [("_type", "Patient,Practitioner"), ("family", "house")], ["Practitioner/pr-1"]),
    ("/", [("_type", "Organization,Location"), ("name", "north,beta")], ["Organization/org-2", "Location/loc-2"]),
    ("/", [("_id", "pat-a,pr-1,grp-1")], ["Group/grp-1", "Patient/pat-a", "Practitioner/pr-1"]),
    ("/", [("_tag", "vip")], ["Patient/pat-a"]),
    ("/", [("_type", "Practitioner,Group"), ("_sort", "-_id")], ["Practitioner/pr-1", "Group/grp-1"]),
]  # fmt: skip


@pytest.mark.parametrize(("path", "query", "expected"), CASES, ids=[f"{p}?{q}" for p, q, _ in CASES])
async def test_joins_find_exactly(data, path, query, expected):
    bundle = await get_bundle(data, path, params=query)
    assert matches(bundle) == expected
    assert bundle["total"] == len(expected)


ERRORS = [
    ("/Observation", [("subject.nope", "x")], "not-supported", "Unknown search parameter 'subject.nope' for resource type Observation"),
    ("/Observation", [("status.name", "x")], "invalid", "Search parameter 'status' is not a reference: it cannot be chained ('status.name')"),
    ("/Observation", [("subject:Patient.organization.partof.partof.partof.name", "x")], "too-costly",
     "Chain 'subject:Patient.organization.partof.partof.partof.name' is too deep: at most 4 references can be chained"),
    ("/Patient", [("_has:Observation:code:status", "final")], "invalid",
     "Invalid reverse chain '_has:Observation:code:status': 'code' is not a reference parameter of Observation"),
    ("/Patient", [("_has:Observation:patient", "x")], "invalid",
     "Invalid reverse chain '_has:Observation:patient': expected _has:Type:parameter:inner"),
    ("/Patient", [("_has:Nope:patient:code", "x")], "invalid", "Invalid reverse chain '_has:Nope:patient:code': unknown resource type 'Nope'"),
    ("/Patient", [("_has:Observation:patient:nope", "x")], "not-supported", "Unknown search parameter 'nope' for resource type Observation"),
    ("/", [("_type", "Patient,Practitioner"), ("gender:exact", "x")], "not-supported",
     "Modifier ':exact' is not supported on search parameter 'gender' (token)"),
    ("/", [("_type", "Patient,Organization"), ("family", "x")], "not-supported",
     "Unknown search parameter 'family' for resource type Organization"),
    ("/", [("name", "x")], "not-supported", "Unknown search parameter 'name'"),
    ("/", [("_type", "Patient,Nope")], "invalid", "Invalid value 'Nope' for '_type': not a resource type"),
    ("/Practitioner/pr-1/Encounter", [], "invalid", "Compartment searches are supported for Patient, not Practitioner"),
]  # fmt: skip


@pytest.mark.parametrize(("path", "query", "code", "diagnostics"), ERRORS, ids=[f"{p}?{q}" for p, q, *_ in ERRORS])
async def test_bad_joins_are_400(data, path, query, code, diagnostics):
    response = await data.get(path, params=query)
    assert response.status_code == 400
    expected = outcome(code, diagnostics)
    if diagnostics.startswith("Invalid value 'Nope' for '_type'"):
        expected["issue"][0]["expression"] = ["_type"]
    assert response.json() == expected

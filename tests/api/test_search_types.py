"""Every search parameter type and modifier through the HTTP API (http://hl7.org/fhir/R4/search.html).

The data set is :mod:`tests.search.dataset`; each case lists the ids it must find, in the default
order (by id), worked out by hand from the spec's matching rules.
"""

from __future__ import annotations

import pytest

from tests.conftest import BASE
from tests.search.dataset import RESOURCES, SSN
from tests.search.support import get_bundle, matches, outcome, serving


@pytest.fixture(scope="module")
async def data():
    async with serving(RESOURCES) as client:
        yield client


CASES = [
    # string (#string): case- and accent-insensitive prefix of any part; :exact; :contains
    ("Patient", [("name", "chal")], ["Patient/pat-a", "Patient/pat-c"]),
    ("Patient", [("name", "CHALMERS")], ["Patient/pat-a", "Patient/pat-c"]),
    ("Patient", [("family", "muller")], ["Patient/pat-b"]),
    ("Patient", [("family", "Müll")], ["Patient/pat-b"]),
    ("Patient", [("given", "zoe")], ["Patient/pat-b"]),
    ("Patient", [("given", "jim")], ["Patient/pat-a"]),  # second name (nickname)
    ("Patient", [("name", "anna")], ["Patient/pat-c"]),  # HumanName.text
    ("Patient", [("family:exact", "Chalmers")], ["Patient/pat-a"]),
    ("Patient", [("family:exact", "chalmers")], []),
    ("Patient", [("family:exact", "Muller")], []),
    ("Patient", [("family:contains", "MERS")], ["Patient/pat-a", "Patient/pat-c"]),
    ("Patient", [("name:contains", "neil")], ["Patient/pat-d"]),
    ("Patient", [("name", r"Mary\, Ann")], ["Patient/pat-d"]),  # escaped comma: one value
    ("Patient", [("name", "Mary,Ann")], ["Patient/pat-c", "Patient/pat-d"]),  # comma: OR
    ("Patient", [("name", "chalmersson,muller")], ["Patient/pat-b", "Patient/pat-c"]),
    ("Patient", [("name", "peter"), ("name", "chalmers")], ["Patient/pat-a"]),  # repeated: AND
    ("Patient", [("name", "peter"), ("name", "muller")], []),
    ("Patient", [("address-city", "zurich")], ["Patient/pat-b"]),
    ("Patient", [("address", "pleasant")], ["Patient/pat-a"]),
    ("Patient", [("name", ".*")], []),  # regex metacharacters are literal
    ("Observation", [("value-string", "grusse")], ["Observation/obs-5"]),
    # phonetic: every word sounds like (Soundex) a word of a name
    ("Patient", [("phonetic", "Chalmars")], ["Patient/pat-a", "Patient/pat-c"]),
    ("Patient", [("phonetic", "mueller")], ["Patient/pat-b"]),
    ("Patient", [("phonetic", "Zoey Miller")], ["Patient/pat-b"]),
    ("Patient", [("phonetic", "Zoey Chalmers")], []),
    ("Patient", [("phonetic", "Pieter,Zoey")], ["Patient/pat-a", "Patient/pat-b"]),
    ("Patient", [("phonetic", "Anne")], ["Patient/pat-c", "Patient/pat-d"]),  # anna / ann sound alike
    ("Patient", [("phonetic", "Mary Anne")], ["Patient/pat-d"]),  # both words must sound alike
    ("Observation", [("value-string", "GRÜSSE AUS")], ["Observation/obs-5"]),
    # token (#token)
    ("Patient", [("gender", "male")], ["Patient/pat-a"]),
    ("Patient", [("gender", "male,female")], ["Patient/pat-a", "Patient/pat-b"]),
    ("Patient", [("gender:not", "male")], ["Patient/pat-b", "Patient/pat-c", "Patient/pat-d"]),
    ("Patient", [("identifier", "12345")], ["Patient/pat-a", "Patient/pat-b"]),
    ("Patient", [("identifier", f"{SSN}|12345")], ["Patient/pat-b"]),  # system and value on one identifier
    ("Patient", [("identifier", f"{SSN}|")], ["Patient/pat-a", "Patient/pat-b"]),
    ("Patient", [("identifier", "|12345")], []),
    ("Patient", [("identifier:of-type", "http://terminology.hl7.org/CodeSystem/v2-0203|MR|12345")], ["Patient/pat-a"]),
    ("Patient", [("identifier:of-type", "http://terminology.hl7.org/CodeSystem/v2-0203|MR|999-11")], []),
    ("Patient", [("active", "true")], ["Patient/pat-a"]),
    ("Patient", [("active", "false")], ["Patient/pat-b"]),
    ("Patient", [("phone", "(03) 5555 6473")], ["Patient/pat-a"]),
    ("Patient", [("email", "peter@example.org")], ["Patient/pat-a"]),
    ("Patient", [("telecom", "email|peter@example.org")], ["Patient/pat-a"]),
    ("Patient", [("telecom", "phone|peter@example.org")], []),
    ("Patient", [("deceased", "true")], ["Patient/pat-b"]),
    ("Patient", [("deceased", "false")], ["Patient/pat-a", "Patient/pat-c", "Patient/pat-d"]),
    ("Observation", [("code", "http://loinc.org|8480-6")],
     ["Observation/obs-1", "Observation/obs-4", "Observation/obs-6", "Observation/obs-7"]),
    ("Observation", [("code", "http://snomed.info/sct|8480-6")], []),
    ("Observation", [("code:text", "systolic")], ["Observation/obs-1"]),
    ("Observation", [("code:text", "free text")], ["Observation/obs-5"]),
    ("Observation", [("code:in", "http://example.org/fhir/ValueSet/bp")],
     ["Observation/obs-1", "Observation/obs-4", "Observation/obs-6", "Observation/obs-7"]),
    ("Observation", [("code:not-in", "http://example.org/fhir/ValueSet/bp")],
     ["Observation/obs-2", "Observation/obs-3", "Observation/obs-5"]),
    ("Observation", [("combo-code", "8462-4")], ["Observation/obs-3"]),
    ("Observation", [("component-code", "8480-6")], ["Observation/obs-3"]),
    ("Observation", [("status", "amended,preliminary")], ["Observation/obs-3", "Observation/obs-4"]),
    ("Observation", [("status:not", "final"), ("status:not", "amended")], ["Observation/obs-4"]),
    ("Observation", [("category", "vital-signs")], ["Observation/obs-1"]),
    ("Observation", [("data-absent-reason", "not-performed")], ["Observation/obs-7"]),
    # reference (#reference), absolute references to this server are local ones
    ("Observation", [("subject", "Patient/pat-a")], ["Observation/obs-1", "Observation/obs-3"]),
    ("Observation", [("subject", "pat-a")], ["Observation/obs-1", "Observation/obs-3"]),
    ("Observation", [("subject", f"{BASE}/Patient/pat-a")], ["Observation/obs-1", "Observation/obs-3"]),
    ("Observation", [("subject", "Patient/pat-c")], ["Observation/obs-4"]),  # stored absolute
    ("Observation", [("patient", "pat-c")], ["Observation/obs-4"]),
    ("Observation", [("subject:Patient", "pat-b")], ["Observation/obs-2", "Observation/obs-6"]),
    ("Observation", [("subject", "Group/grp-1")], ["Observation/obs-5"]),
    ("Observation", [("patient", "Group/grp-1")], []),  # patient = subject.where(resolve() is Patient)
    ("Observation", [("subject", "Patient/pat-a,Patient/pat-b")],
     ["Observation/obs-1", "Observation/obs-2", "Observation/obs-3", "Observation/obs-6"]),
    ("Observation", [("subject", "http://elsewhere.example/fhir/Patient/pat-a")], []),
    ("Observation", [("subject:identifier", f"{SSN}|999-11")], ["Observation/obs-7"]),
    ("Patient", [("organization", "org-2")], ["Patient/pat-b", "Patient/pat-c"]),
    ("Patient", [("organization", "Organization/org-1")], ["Patient/pat-a"]),
    ("Patient", [("general-practitioner:Practitioner", "pr-1")], ["Patient/pat-b"]),
    ("Patient", [("general-practitioner", "Practitioner/pr-1")], ["Patient/pat-b"]),
    ("Encounter", [("participant", "Practitioner/pr-1")], ["Encounter/enc-1"]),
    # date (#date): implicit ranges of the precision, prefixes, timezones (UTC is the server's time)
    ("Patient", [("birthdate", "1974")], ["Patient/pat-a", "Patient/pat-c"]),
    ("Patient", [("birthdate", "1974-12-25")], ["Patient/pat-a"]),  # pat-c's 1974 is not within the day
    ("Patient", [("birthdate", "1980-01-15")], []),  # pat-b's 1980-01 is not within the day
    ("Patient", [("birthdate", "1980")], ["Patient/pat-b"]),
    ("Patient", [("birthdate", "gt1974-12-25")], ["Patient/pat-b", "Patient/pat-c"]),
    ("Patient", [("birthdate", "lt1975")], ["Patient/pat-a", "Patient/pat-c"]),
    ("Patient", [("birthdate", "ge1980-01-15")], ["Patient/pat-b"]),
    ("Patient", [("birthdate", "le1980-01-15")], ["Patient/pat-a", "Patient/pat-b", "Patient/pat-c"]),
    ("Patient", [("birthdate", "sa1974-06")], ["Patient/pat-a", "Patient/pat-b"]),
    ("Patient", [("birthdate", "eb1980")], ["Patient/pat-a", "Patient/pat-c"]),
    ("Patient", [("birthdate", "ne1974")], ["Patient/pat-b"]),
    ("Patient", [("birthdate", "ge1974"), ("birthdate", "le1974-12-31")], ["Patient/pat-a", "Patient/pat-c"]),
    ("Patient", [("death-date", "2020-03-01T08:00:00Z")], ["Patient/pat-b"]),
    ("Patient", [("death-date", "2020-03-01T08:00:00+00:00")], ["Patient/pat-b"]),
    ("Patient", [("death-date", "2020-03-01T10:00:00Z")], []),
    ("Observation", [("date", "2020-01-15")], ["Observation/obs-1"]),  # obs-4 is 2020-01-16 in UTC
    ("Observation", [("date", "2020-01-16")], ["Observation/obs-4"]),
    ("Observation", [("date", "2020-01-16T04:30:00Z")], ["Observation/obs-4"]),
    ("Observation", [("date", "2020-01-15T23:30:00-05:00")], ["Observation/obs-4"]),
    ("Observation", [("date", "2020-01-15T10:00Z")], ["Observation/obs-1"]),  # minute precision
    ("Observation", [("date", "2020-01")], ["Observation/obs-1", "Observation/obs-4"]),  # obs-2's period ends in Feb
    ("Observation", [("date", "ge2020-01-20")], ["Observation/obs-2", "Observation/obs-3"]),
    ("Observation", [("date", "lt2020-01-02")], ["Observation/obs-2"]),
    ("Observation", [("date", "sa2019")],
     ["Observation/obs-1", "Observation/obs-2", "Observation/obs-3", "Observation/obs-4"]),
    ("Observation", [("date", "eb2020-01-15")], []),  # obs-2's period does not end before
    ("Encounter", [("date", "2020-01-15")], ["Encounter/enc-1"]),
    ("Encounter", [("date", "ge2022")], ["Encounter/enc-2"]),  # open end: still going on
    ("Encounter", [("date", "lt2021-06")], ["Encounter/enc-1", "Encounter/enc-2"]),
    ("Encounter", [("date", "eb2021")], ["Encounter/enc-1"]),
    ("Encounter", [("date", "ge2020-01-15T11:00:00Z"), ("date", "le2020-01-15T11:30:00Z")], ["Encounter/enc-1"]),
    ("Encounter", [("date", "gt2020-01-15T12:00:00Z")], ["Encounter/enc-2"]),
    ("Encounter", [("date", "2021")], []),  # enc-2 does not end in 2021
    # number (#number): eq/ne use the implicit precision range of the value
    ("RiskAssessment", [("probability", "0.25")], ["RiskAssessment/ra-1"]),
    ("RiskAssessment", [("probability", "0.2")], []),  # [0.15, 0.25)
    ("RiskAssessment", [("probability", "0.250")], ["RiskAssessment/ra-1"]),
    ("RiskAssessment", [("probability", "gt0.5")], ["RiskAssessment/ra-2"]),
    ("RiskAssessment", [("probability", "lt0.5")], ["RiskAssessment/ra-1"]),
    ("RiskAssessment", [("probability", "ge0.8")], ["RiskAssessment/ra-2"]),
    ("RiskAssessment", [("probability", "le0.8")], ["RiskAssessment/ra-1", "RiskAssessment/ra-2"]),
    ("RiskAssessment", [("probability", "ne0.25")], ["RiskAssessment/ra-2"]),
    ("RiskAssessment", [("probability", "ap0.75")], ["RiskAssessment/ra-2"]),
    ("RiskAssessment", [("probability", "8e-1")], ["RiskAssessment/ra-2"]),
    ("RiskAssessment", [("probability", "0.25,0.8")], ["RiskAssessment/ra-1", "RiskAssessment/ra-2"]),
    # quantity (#quantity): number rules plus system|code or the unit
    ("Observation", [("value-quantity", "120")], ["Observation/obs-1"]),
    ("Observation", [("value-quantity", "120|http://unitsofmeasure.org|mm[Hg]")], ["Observation/obs-1"]),
    ("Observation", [("value-quantity", "120||mmHg")], ["Observation/obs-1"]),
    ("Observation", [("value-quantity", "120||mm[Hg]")], ["Observation/obs-1"]),
    ("Observation", [("value-quantity", "120|http://unitsofmeasure.org|Cel")], []),
    ("Observation", [("value-quantity", "gt100|http://unitsofmeasure.org|mm[Hg]")], ["Observation/obs-1"]),
    ("Observation", [("value-quantity", "le100")], ["Observation/obs-2", "Observation/obs-4", "Observation/obs-6"]),
    ("Observation", [("value-quantity", "100")], ["Observation/obs-6"]),
    ("Observation", [("value-quantity", "37.5||Cel")], ["Observation/obs-2"]),
    ("Observation", [("value-quantity", "37.5||°C")], ["Observation/obs-2"]),
    ("Observation", [("value-quantity", "37.5|http://unitsofmeasure.org|cel")], []),  # codes are case-sensitive
    ("Observation", [("component-value-quantity", "130")], ["Observation/obs-3"]),
    ("Observation", [("combo-value-quantity", "lt90")],
     ["Observation/obs-2", "Observation/obs-3"]),
    # composite (#composite): the components match on the same element
    ("Observation", [("component-code-value-quantity", "http://loinc.org|8480-6$130")], ["Observation/obs-3"]),
    ("Observation", [("component-code-value-quantity", "http://loinc.org|8480-6$85")], []),
    ("Observation", [("code-value-quantity", "http://loinc.org|8480-6$gt100")], ["Observation/obs-1"]),
    ("Observation", [("code-value-quantity", "8480-6$95,8310-5$37.5")], ["Observation/obs-2", "Observation/obs-4"]),
    ("Observation", [("combo-code-value-quantity", "8462-4$lt90")], ["Observation/obs-3"]),
    # uri (#uri)
    ("ValueSet", [("url", "http://example.org/fhir/ValueSet/bp")], ["ValueSet/vs-bp"]),
    ("ValueSet", [("url", "http://example.org/fhir/ValueSet/b")], []),  # uri: no prefix match
    ("ValueSet", [("url:below", "http://example.org/fhir/ValueSet/bp")], ["ValueSet/vs-bp", "ValueSet/vs-bp2"]),
    ("ValueSet", [("url:above", "http://example.org/fhir/ValueSet/bp/v2/draft")], ["ValueSet/vs-bp", "ValueSet/vs-bp2"]),
    ("ValueSet", [("url:above", "http://example.org/fhir/ValueSet/bp")], ["ValueSet/vs-bp"]),
    # Resource-level parameters
    ("Patient", [("_id", "pat-a,pat-c")], ["Patient/pat-a", "Patient/pat-c"]),
    ("Patient", [("_id", "nope")], []),
    ("Patient", [("_tag", "http://example.org/tags|vip")], ["Patient/pat-a"]),
    ("Patient", [("_tag", "test")], ["Patient/pat-c"]),
    ("Patient", [("_tag:not", "vip")], ["Patient/pat-b", "Patient/pat-c", "Patient/pat-d"]),
    ("Patient", [("_security", "R")], ["Patient/pat-a"]),
    ("Patient", [("_profile", "http://example.org/StructureDefinition/vip-patient")], ["Patient/pat-a"]),
    ("Patient", [("_source", "http://example.org/source/ehr-2")], ["Patient/pat-b"]),
    ("Patient", [("_source:below", "http://example.org/source")], ["Patient/pat-a", "Patient/pat-b"]),
    ("Patient", [("_lastUpdated", "gt2000-01-01")], ["Patient/pat-a", "Patient/pat-b", "Patient/pat-c", "Patient/pat-d"]),
    ("Patient", [("_lastUpdated", "lt2000-01-01")], []),
    # near (location.html#positional)
    ("Location", [("near", "42.2565|-83.6947|10|km")], ["Location/loc-1", "Location/loc-2"]),
    ("Location", [("near", "42.2565|-83.6947|1|km")], ["Location/loc-1"]),
    ("Location", [("near", "42.2565|-83.6947|6000|m")], ["Location/loc-1", "Location/loc-2"]),
    ("Location", [("near", "42.2565|-83.6947|4|km")], ["Location/loc-1"]),  # loc-2 is 4.9 km away
    ("Location", [("near", "42.2565|-83.6947|400|[mi_i]")], ["Location/loc-1", "Location/loc-2", "Location/loc-3"]),
    ("Location", [("near", "42.2565|-83.6947")], ["Location/loc-1", "Location/loc-2"]),  # default 10 km
    ("Location", [("near", "42.2565|-83.6947|10|km"), ("name", "north")], ["Location/loc-2"]),
    # :missing on every type (#missing)
    ("Patient", [("family:missing", "true")], ["Patient/pat-d"]),
    ("Patient", [("family:missing", "false")], ["Patient/pat-a", "Patient/pat-b", "Patient/pat-c"]),
    ("Patient", [("gender:missing", "true")], ["Patient/pat-c"]),
    ("Patient", [("active:missing", "true")], ["Patient/pat-c", "Patient/pat-d"]),
    ("Patient", [("organization:missing", "true")], ["Patient/pat-d"]),
    ("Patient", [("birthdate:missing", "true")], ["Patient/pat-d"]),
    ("Patient", [("birthdate:missing", "false"), ("gender:missing", "false")], ["Patient/pat-a", "Patient/pat-b"]),
    ("Patient", [("_source:missing", "true")], ["Patient/pat-c", "Patient/pat-d"]),
    ("Patient", [("_tag:missing", "true")], ["Patient/pat-b", "Patient/pat-d"]),
    ("Patient", [("_id:missing", "false")], ["Patient/pat-a", "Patient/pat-b", "Patient/pat-c", "Patient/pat-d"]),
    ("RiskAssessment", [("probability:missing", "true")], ["RiskAssessment/ra-3"]),
    ("Observation", [("value-quantity:missing", "true")], ["Observation/obs-3", "Observation/obs-5", "Observation/obs-7"]),
    ("Observation", [("subject:missing", "true")], []),
    ("Observation", [("encounter:missing", "false")], ["Observation/obs-1"]),
    ("Observation", [("code-value-quantity:missing", "false")],
     ["Observation/obs-1", "Observation/obs-2", "Observation/obs-4", "Observation/obs-6"]),
    ("Observation", [("date:missing", "true")], ["Observation/obs-5", "Observation/obs-6", "Observation/obs-7"]),
    ("ValueSet", [("url:missing", "true")], ["ValueSet/vs-nourl"]),
    ("Location", [("near:missing", "true")], ["Location/loc-4"]),
]  # fmt: skip


@pytest.mark.parametrize(("resource_type", "query", "expected"), CASES, ids=[f"{t}?{q}" for t, q, _ in CASES])
async def test_search_finds_exactly(data, resource_type, query, expected):
    bundle = await get_bundle(data, f"/{resource_type}", params=query)
    assert matches(bundle) == expected
    assert bundle["total"] == len(expected)


async def test_last_updated_precision(data):
    first = (await data.put("/Basic/lu-1", json={"resourceType": "Basic", "id": "lu-1", "code": {"text": "a"}})).json()
    import asyncio

    await asyncio.sleep(0.01)
    second = (await data.put("/Basic/lu-2", json={"resourceType": "Basic", "id": "lu-2", "code": {"text": "b"}})).json()
    stamp = first["meta"]["lastUpdated"]  # millisecond precision: the range of that millisecond
    assert matches(await get_bundle(data, "/Basic", params={"_lastUpdated": stamp})) == ["Basic/lu-1"]
    assert matches(await get_bundle(data, "/Basic", params={"_lastUpdated": f"gt{stamp}"})) == ["Basic/lu-2"]
    assert matches(await get_bundle(data, "/Basic", params={"_lastUpdated": f"le{second['meta']['lastUpdated']}"})) == [
        "Basic/lu-1", "Basic/lu-2"
    ]


ERRORS = [
    ("Patient", [("birthdate", "yesterday")], "invalid",
     "Invalid value 'yesterday' for search parameter 'birthdate': expected a date such as 2020, 2020-01, 2020-01-31 or 2020-01-31T10:00:00Z"),
    ("RiskAssessment", [("probability", "high")], "invalid", "Invalid value 'high' for search parameter 'probability': expected a number"),
    ("Patient", [("gender:exact", "male")], "not-supported", "Modifier ':exact' is not supported on search parameter 'gender' (token)"),
    ("Patient", [("family:missing", "maybe")], "invalid", "Invalid value 'maybe' for 'family:missing': expected true or false"),
    ("Observation", [("subject:Medication", "x")], "invalid", "'Medication' is not a target type of search parameter 'subject'"),
    ("Observation", [("code-value-quantity", "8480-6")], "invalid",
     "Invalid value '8480-6' for search parameter 'code-value-quantity': expected 2 components joined by '$'"),
    ("Location", [("near", "91|0|1|km")], "invalid",
     "Invalid value '91|0|1|km' for search parameter 'near': coordinates or distance out of range"),
    ("Observation", [("code:in", "http://example.org/fhir/ValueSet/unknown")], "not-supported",
     "Cannot expand value set 'http://example.org/fhir/ValueSet/unknown' for 'code:in'"),
    ("Patient", [("_text", "x")], "not-supported", "Search parameter '_text' is not supported by this server"),
    ("Patient", [("_contained", "true")], "invalid",
     "_contained=true|both is not supported: contained resources are not searched"),
]  # fmt: skip


@pytest.mark.parametrize(("resource_type", "query", "code", "diagnostics"), ERRORS, ids=[f"{t}?{q}" for t, q, *_ in ERRORS])
async def test_bad_values_are_400_naming_the_parameter(data, resource_type, query, code, diagnostics):
    response = await data.get(f"/{resource_type}", params=query)
    assert response.status_code == 400
    body = response.json()
    expected = outcome(code, diagnostics)
    if resource_type == "Patient" and query[0][0] == "_contained":
        expected["issue"][0]["expression"] = ["_contained"]
    assert body == expected

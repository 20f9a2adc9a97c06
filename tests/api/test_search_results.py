"""Result parameters through the HTTP API: _include/_revinclude (:iterate, *), _sort, _total,
_summary, _elements, POST _search and unknown parameters (http://hl7.org/fhir/R4/search.html#return).

Read-only cases share one store (:mod:`tests.search.dataset`); whole Bundles are compared where the
resources are few (:func:`tests.search.support.expected_bundle` reads them through the API).
"""

from __future__ import annotations

from urllib.parse import urlencode

import pytest

from tests.conftest import BASE
from tests.search.dataset import RESOURCES
from tests.search.support import expected_bundle, get_bundle, outcome, serving, shape


@pytest.fixture(scope="module")
async def data():
    async with serving(RESOURCES) as client:
        yield client


def self_link(path: str, query: list[tuple[str, str]]) -> tuple[str, str]:
    return ("self", f"{BASE}/{path}?{urlencode(query)}")


INCLUDES = [
    ([("code", "8480-6"), ("_include", "Observation:subject")],
     ["Observation/obs-1", "Observation/obs-4", "Observation/obs-6", "Observation/obs-7"],
     ["Patient/pat-a", "Patient/pat-b", "Patient/pat-c"]),
    ([("code", "8480-6"), ("_include", "Observation:subject"), ("_include:iterate", "Patient:organization")],
     ["Observation/obs-1", "Observation/obs-4", "Observation/obs-6", "Observation/obs-7"],
     ["Patient/pat-a", "Patient/pat-b", "Patient/pat-c", "Organization/org-1", "Organization/org-2"]),
    ([("code", "8480-6"), ("_include", "Observation:subject"), ("_include:iterate", "Patient:organization"),
      ("_include:iterate", "Organization:partof")],
     ["Observation/obs-1", "Observation/obs-4", "Observation/obs-6", "Observation/obs-7"],
     ["Patient/pat-a", "Patient/pat-b", "Patient/pat-c", "Organization/org-1", "Organization/org-2", "Organization/org-root"]),
    ([("code", "8480-6"), ("_include", "Observation:subject"), ("_include", "Patient:organization")],  # no :iterate
     ["Observation/obs-1", "Observation/obs-4", "Observation/obs-6", "Observation/obs-7"],
     ["Patient/pat-a", "Patient/pat-b", "Patient/pat-c"]),
    ([("_id", "obs-1"), ("_include", "*")], ["Observation/obs-1"],
     ["Encounter/enc-1", "Patient/pat-a", "Practitioner/pr-1"]),
    ([("_id", "obs-1"), ("_include", "Observation:subject:Group")], ["Observation/obs-1"], []),
    ([("_id", "obs-1,obs-5"), ("_include", "Observation:subject:Group")], ["Observation/obs-1", "Observation/obs-5"], ["Group/grp-1"]),
    ([("_id", "obs-1"), ("_include", "Observation:performer"), ("_include", "Observation:encounter")], ["Observation/obs-1"],
     ["Encounter/enc-1", "Practitioner/pr-1"]),
    ([("_id", "obs-7"), ("_include", "Observation:subject")], ["Observation/obs-7"], []),  # identifier-only reference
]  # fmt: skip


@pytest.mark.parametrize(("query", "found", "included"), INCLUDES, ids=[str(q) for q, *_ in INCLUDES])
async def test_include(data, query, found, included):
    bundle = await get_bundle(data, "/Observation", params=query)
    entries = [("match", r) for r in found] + [("include", r) for r in included]
    assert bundle == await expected_bundle(data, entries, total=len(found), links=[self_link("Observation", query)])


REVINCLUDES = [
    ([("_id", "pat-a"), ("_revinclude", "Observation:subject")], ["Patient/pat-a"],
     ["Observation/obs-1", "Observation/obs-3"]),
    ([("_id", "pat-c"), ("_revinclude", "Observation:patient")], ["Patient/pat-c"], ["Observation/obs-4"]),  # absolute ref
    ([("_id", "pat-a"), ("_revinclude", "*")], ["Patient/pat-a"],
     ["Encounter/enc-1", "Observation/obs-1", "Observation/obs-3", "RiskAssessment/ra-1"]),
    ([("_id", "pat-a"), ("_revinclude", "Observation:*")], ["Patient/pat-a"], ["Observation/obs-1", "Observation/obs-3"]),
    ([("_id", "pat-a"), ("_revinclude", "Encounter:subject"), ("_revinclude:iterate", "Observation:encounter")],
     ["Patient/pat-a"], ["Encounter/enc-1", "Observation/obs-1"]),
    ([("_id", "pat-a,pat-b"), ("_revinclude", "Encounter:subject"), ("_include", "Patient:general-practitioner")],
     ["Patient/pat-a", "Patient/pat-b"], ["Encounter/enc-1", "Encounter/enc-2", "Practitioner/pr-1"]),
    ([("_id", "pat-d"), ("_revinclude", "*")], ["Patient/pat-d"], []),
]  # fmt: skip


@pytest.mark.parametrize(("query", "found", "included"), REVINCLUDES, ids=[str(q) for q, *_ in REVINCLUDES])
async def test_revinclude(data, query, found, included):
    bundle = await get_bundle(data, "/Patient", params=query)
    entries = [("match", r) for r in found] + [("include", r) for r in included]
    assert bundle == await expected_bundle(data, entries, total=len(found), links=[self_link("Patient", query)])


async def test_revinclude_of_organizations_through_partof(data):
    query = [("name", "root"), ("_revinclude", "Organization:partof"), ("_revinclude:iterate", "Patient:organization")]
    bundle = await get_bundle(data, "/Organization", params=query)
    assert shape(bundle) == {
        "total": 1,
        "link": [self_link("Organization", query)],
        "entry": [("match", "Organization/org-root"), ("include", "Organization/org-1"), ("include", "Organization/org-2"),
                  ("include", "Patient/pat-a"), ("include", "Patient/pat-b"), ("include", "Patient/pat-c")],
    }  # fmt: skip


SORTS = [
    ("Patient", "birthdate", ["Patient/pat-d", "Patient/pat-c", "Patient/pat-a", "Patient/pat-b"]),  # missing first
    ("Patient", "-birthdate", ["Patient/pat-b", "Patient/pat-a", "Patient/pat-c", "Patient/pat-d"]),
    ("Patient", "family", ["Patient/pat-d", "Patient/pat-a", "Patient/pat-c", "Patient/pat-b"]),  # folded
    ("Patient", "-family", ["Patient/pat-b", "Patient/pat-c", "Patient/pat-a", "Patient/pat-d"]),
    ("Patient", "given", ["Patient/pat-c", "Patient/pat-d", "Patient/pat-a", "Patient/pat-b"]),  # pat-a: james
    ("Patient", "-given", ["Patient/pat-b", "Patient/pat-a", "Patient/pat-c", "Patient/pat-d"]),
    ("Patient", "-_id", ["Patient/pat-d", "Patient/pat-c", "Patient/pat-b", "Patient/pat-a"]),
    ("Patient", "gender,-_id", ["Patient/pat-c", "Patient/pat-b", "Patient/pat-a", "Patient/pat-d"]),
    ("Observation", "status,-date",
     ["Observation/obs-3", "Observation/obs-1", "Observation/obs-2", "Observation/obs-5", "Observation/obs-6",
      "Observation/obs-7", "Observation/obs-4"]),
    ("Observation", "-value-quantity,_id",
     ["Observation/obs-1", "Observation/obs-6", "Observation/obs-4", "Observation/obs-2", "Observation/obs-3",
      "Observation/obs-5", "Observation/obs-7"]),
    ("RiskAssessment", "-probability", ["RiskAssessment/ra-2", "RiskAssessment/ra-1", "RiskAssessment/ra-3"]),
    ("Encounter", "-date", ["Encounter/enc-2", "Encounter/enc-1"]),
]  # fmt: skip


@pytest.mark.parametrize(("resource_type", "sort", "expected"), SORTS, ids=[f"{t}?_sort={s}" for t, s, _ in SORTS])
async def test_sort(data, resource_type, sort, expected):
    bundle = await get_bundle(data, f"/{resource_type}", params={"_sort": sort})
    assert shape(bundle) == {
        "total": len(expected),
        "link": [self_link(resource_type, [("_sort", sort)])],
        "entry": [("match", ref) for ref in expected],
    }


async def test_sort_descending_uses_the_largest_value(client):
    """``_sort=-given`` orders by each resource's largest value, ``_sort=given`` by its smallest."""
    for rid, given in (("s1", ["Anna", "Zelda"]), ("s2", ["Mia"]), ("s3", ["Bea", "Nora"])):
        await client.put(f"/Patient/{rid}", json={"resourceType": "Patient", "id": rid, "name": [{"given": given}]})
    up = await get_bundle(client, "/Patient", params={"_sort": "given"})
    down = await get_bundle(client, "/Patient", params={"_sort": "-given"})
    assert [e["resource"]["id"] for e in up["entry"]] == ["s1", "s3", "s2"]  # anna < bea < mia
    assert [e["resource"]["id"] for e in down["entry"]] == ["s1", "s3", "s2"]  # zelda > nora > mia


async def test_total_summary_count_and_elements(data):
    query = [("gender", "male,female")]
    assert (await get_bundle(data, "/Patient", params=query + [("_total", "none")])).get("total") is None
    assert (await get_bundle(data, "/Patient", params=query + [("_total", "accurate")]))["total"] == 2
    assert (await get_bundle(data, "/Patient", params=query + [("_total", "estimate")]))["total"] == 2
    counted = await get_bundle(data, "/Patient", params=query + [("_summary", "count")])
    assert counted == {"resourceType": "Bundle", "type": "searchset", "total": 2,
                       "link": [{"relation": "self", "url": f"{BASE}/Patient?gender=male%2Cfemale&_summary=count"}]}
    zero = await get_bundle(data, "/Observation", params=[("code", "8480-6"), ("_count", "0")])
    assert zero == {"resourceType": "Bundle", "type": "searchset", "total": 4,
                    "link": [{"relation": "self", "url": f"{BASE}/Observation?code=8480-6&_count=0"}]}
    near = await get_bundle(data, "/Location", params=[("near", "42.2565|-83.6947|1|km"), ("_summary", "count")])
    assert near["total"] == 1


async def test_elements_and_summary_shape_matches_only(data):
    query = [("_id", "pat-a"), ("_elements", "name,gender"), ("_include", "Patient:organization")]
    bundle = await get_bundle(data, "/Patient", params=query)
    patient = (await data.get("/Patient/pat-a", params={"_elements": "name,gender"})).json()
    organization = (await data.get("/Organization/org-1")).json()
    assert patient["meta"]["tag"][-1] == {"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue", "code": "SUBSETTED"}
    assert set(patient) == {"resourceType", "id", "meta", "name", "gender"}
    assert bundle == {
        "resourceType": "Bundle", "type": "searchset", "total": 1,
        "link": [{"relation": "self", "url": f"{BASE}/Patient?_id=pat-a&_elements=name%2Cgender&_include=Patient%3Aorganization"}],
        "entry": [
            {"fullUrl": f"{BASE}/Patient/pat-a", "resource": patient, "search": {"mode": "match"}},
            {"fullUrl": f"{BASE}/Organization/org-1", "resource": organization, "search": {"mode": "include"}},
        ],
    }  # fmt: skip
    summary = await get_bundle(data, "/Patient", params=[("_id", "pat-b"), ("_summary", "true")])
    assert summary["entry"][0]["resource"] == (await data.get("/Patient/pat-b", params={"_summary": "true"})).json()


async def test_post_search_with_a_form_body_equals_get(data):
    form = {"name": "chal", "_sort": "-_id"}
    posted = await data.post("/Patient/_search", content=urlencode(form), headers={"content-type": "application/x-www-form-urlencoded"})
    assert posted.status_code == 200
    assert posted.json() == await get_bundle(data, "/Patient", params=form)
    assert [e["resource"]["id"] for e in posted.json()["entry"]] == ["pat-c", "pat-a"]
    mixed = await data.post("/Patient/_search?gender=male", content="name=chal", headers={"content-type": "application/x-www-form-urlencoded"})
    assert [e["resource"]["id"] for e in mixed.json()["entry"]] == ["pat-a"]
    system = await data.post("/_search", content="_type=Patient,Practitioner&name=house",
                             headers={"content-type": "application/x-www-form-urlencoded"})
    assert [e["fullUrl"] for e in system.json()["entry"]] == [f"{BASE}/Practitioner/pr-1"]


async def test_unknown_parameter_is_400_with_the_whole_outcome(data):
    response = await data.get("/Patient", params={"name": "chal", "nickname": "x"})
    assert response.status_code == 400
    assert response.json() == outcome("not-supported", "Unknown search parameter 'nickname' for resource type Patient")
    strict = await data.get("/Patient", params={"nickname": "x"}, headers={"prefer": "handling=strict"})
    assert strict.status_code == 400


async def test_lenient_handling_ignores_and_reports_unknown_parameters(data):
    response = await data.get(
        "/Patient", params=[("name", "chalmers"), ("nickname", "x"), ("colour:exact", "red"), ("_sort", "_id")],
        headers={"prefer": "handling=lenient"},
    )
    assert response.status_code == 200
    expected = await expected_bundle(
        data, [("match", "Patient/pat-a"), ("match", "Patient/pat-c")], total=2,
        links=[self_link("Patient", [("name", "chalmers"), ("_sort", "_id")])],
    )
    expected["entry"].append({
        "resource": outcome("not-supported", "Unknown search parameters ignored: colour:exact, nickname", "warning"),
        "search": {"mode": "outcome"},
    })
    assert response.json() == expected


async def test_result_parameter_errors(data):
    cases = [
        ({"_sort": "nope"}, "not-supported", "Unknown search parameter 'nope' in '_sort'"),
        ({"_sort": "code-value-quantity"}, "not-supported", "Cannot sort on search parameter 'code-value-quantity'"),
        ({"_count": "-1"}, "invalid", "Invalid value '-1' for '_count': expected a non-negative integer"),
        ({"_total": "maybe"}, "invalid", "Invalid value 'maybe' for '_total': expected one of none, estimate, accurate"),
        ({"_include": "Observation:code"}, "invalid", "Invalid '_include' value 'Observation:code': 'code' is not a reference parameter of Observation"),
        ({"_include": "Observation"}, "invalid", "Invalid '_include' value 'Observation': expected SourceType:parameter[:TargetType]"),
        ({"_include:deep": "Observation:subject"}, "invalid", "Invalid modifier on '_include:deep': expected :iterate"),
        ({"_elements": "name;drop"}, "invalid", "Invalid element name 'name;drop' in '_elements'"),
    ]
    for query, code, diagnostics in cases:
        response = await data.get("/Observation", params=query)
        assert (response.status_code, response.json()) == (400, outcome(code, diagnostics)), query


async def test_empty_parameters_are_ignored_silently(data):
    bundle = await get_bundle(data, "/Patient", params=[("name", ""), ("gender", "male")])
    assert shape(bundle) == {
        "total": 1, "link": [self_link("Patient", [("gender", "male")])], "entry": [("match", "Patient/pat-a")],
    }

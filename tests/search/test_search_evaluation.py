"""End to end on mongomock: extracted index documents, translated filters, exact ids expected.

The expected ids were worked out by hand from http://hl7.org/fhir/R4/search.html.
"""

import asyncio
from datetime import datetime

import mongomock
import pytest

from fhir_server.search.index import INDEX_KEYS, extract_index
from fhir_server.search.parse import parse_search
from fhir_server.search.plan import include_filter, include_targets, revinclude_filter, translate
from fhir_server.search.translate import Context

MR = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}]}
BP_PANEL = {"coding": [{"system": "http://loinc.org", "code": "85354-9", "display": "Blood pressure panel"}]}


def sbp(v):
    return {"system": "http://unitsofmeasure.org", "code": "mm[Hg]", "unit": "mmHg", "value": v}


def loinc(code: str) -> dict:
    return {"coding": [{"system": "http://loinc.org", "code": code}]}


RESOURCES = [
    {"resourceType": "Patient", "id": "p1", "name": [{"family": "Chalmers", "given": ["Peter", "James"]}],
     "gender": "male", "birthDate": "1974-12-25", "identifier": [{"system": "http://ids", "value": "123"}],
     "managingOrganization": {"reference": "Organization/o1"}},
    {"resourceType": "Patient", "id": "p2", "name": [{"family": "Müller", "given": ["Zoë"]}], "gender": "female",
     "birthDate": "1980-01", "identifier": [{"system": "http://ids", "value": "456", "type": MR}]},
    {"resourceType": "Patient", "id": "p3", "name": [{"family": "Chalmersson", "given": ["Anna"]}],
     "gender": "female", "birthDate": "1974"},
    {"resourceType": "Patient", "id": "p4", "name": [{"family": "smith"}], "birthDate": "2000-01-01"},
    {"resourceType": "Organization", "id": "o1", "name": "Acme"},
    {"resourceType": "Observation", "id": "o1", "status": "final", "subject": {"reference": "Patient/p1"},
     "code": loinc("8480-6"), "valueQuantity": sbp(120), "effectiveDateTime": "2020-01-15T10:00:00Z"},
    {"resourceType": "Observation", "id": "o2", "status": "final", "subject": {"reference": "Patient/p2"},
     "code": loinc("8310-5"), "effectivePeriod": {"start": "2020-01-01", "end": "2020-02-01"},
     "valueQuantity": {"value": 37.5, "unit": "°C", "system": "http://unitsofmeasure.org", "code": "Cel"}},
    {"resourceType": "Observation", "id": "o3", "status": "final", "subject": {"reference": "Patient/p1"},
     "code": BP_PANEL, "effectiveDateTime": "2021-06-01",
     "component": [{"code": loinc("8480-6"), "valueQuantity": sbp(130)},
                   {"code": loinc("8462-4"), "valueQuantity": sbp(85)}]},
    {"resourceType": "Observation", "id": "o4", "status": "final", "subject": {"reference": "Patient/p3"},
     "code": loinc("8480-6"), "valueQuantity": sbp(95)},
    {"resourceType": "ValueSet", "id": "vs1", "status": "active", "url": "http://a.org/fhir/ValueSet/x"},
    {"resourceType": "ValueSet", "id": "vs2", "status": "active", "url": "http://b.org/vs"},
    {"resourceType": "Location", "id": "l1", "position": {"latitude": 42.25, "longitude": -83.69}},
    {"resourceType": "Location", "id": "l2", "position": {"latitude": 42.3, "longitude": -83.7}},
    {"resourceType": "Location", "id": "l3", "position": {"latitude": 40.0, "longitude": -80.0}},
]  # fmt: skip


@pytest.fixture(scope="module")
def db():
    database = mongomock.MongoClient().db
    for res in RESOURCES:
        coll = database[res["resourceType"]]
        doc = {"_id": res["id"], "vid": 1, "ts": datetime(2024, 1, 1), "del": False, **extract_index(res)}
        coll.insert_one(doc)
    for name in database.list_collection_names():
        for keys in INDEX_KEYS:
            database[name].create_index(keys)
    return database


def search(db, rt: str, query: str) -> list[str]:
    params = [tuple(p.split("=", 1)) for p in query.split("&")]
    plan = translate(parse_search(rt, params), Context(now=datetime(2024, 1, 1)))

    async def run(t, flt, proj):
        return db[t].find(flt, proj)

    flt = asyncio.run(plan.resolve(run))
    return sorted(d["_id"] for d in db[rt].find(flt) if plan.post_filter(d))


CASES = [
    # string: case/accent-insensitive starts-with, :exact, :contains, OR and AND
    ("Patient", "name=chal", ["p1", "p3"]),
    ("Patient", "name=mull", ["p2"]),
    ("Patient", "name=MÜLL", ["p2"]),
    ("Patient", "name:exact=Chalmers", ["p1"]),
    ("Patient", "name:exact=chalmers", []),
    ("Patient", "name:contains=ALME", ["p1", "p3"]),
    ("Patient", "given=pet,zo", ["p1", "p2"]),
    ("Patient", "given=peter&family=chalmers", ["p1"]),
    ("Patient", "given=anna&family=chalmers", ["p3"]),
    ("Patient", "family=.*", []),
    # token
    ("Patient", "gender=female", ["p2", "p3"]),
    ("Patient", "gender:not=female", ["p1", "p4"]),
    ("Patient", "identifier=http://ids|123", ["p1"]),
    ("Patient", "identifier=456", ["p2"]),
    ("Patient", "identifier=|456", []),
    ("Patient", "identifier=http://ids|", ["p1", "p2"]),
    ("Patient", "identifier:of-type=http://terminology.hl7.org/CodeSystem/v2-0203|MR|456", ["p2"]),
    ("Patient", "identifier:of-type=http://terminology.hl7.org/CodeSystem/v2-0203|MR|123", []),
    ("Patient", "_id=p1,p4", ["p1", "p4"]),
    ("Observation", "code=http://loinc.org|8480-6", ["o1", "o4"]),
    ("Observation", "code:text=blood pres", ["o3"]),
    # date
    ("Patient", "birthdate=1974", ["p1", "p3"]),
    ("Patient", "birthdate=1974-12", ["p1"]),
    ("Patient", "birthdate=lt1975", ["p1", "p3"]),
    ("Patient", "birthdate=gt1975", ["p2", "p4"]),
    ("Patient", "birthdate=ge1980-01-15", ["p2", "p4"]),
    ("Patient", "birthdate=sa1980-01-15", ["p4"]),
    ("Patient", "birthdate=eb1975", ["p1", "p3"]),
    ("Patient", "birthdate=ne1974", ["p2", "p4"]),
    ("Patient", "birthdate=le1974-06", ["p3"]),
    ("Observation", "date=2020-01", ["o1"]),
    ("Observation", "date=2020-01-15T10:00:00Z", ["o1"]),
    ("Observation", "date=2020-01-15T12:00:00%2B02:00".replace("%2B", "+"), ["o1"]),
    ("Observation", "date=ge2020-01-20", ["o2", "o3"]),
    ("Observation", "date=2020-01-15T11:00:00Z", []),
    ("Patient", "_lastUpdated=2024-01-01", ["p1", "p2", "p3", "p4"]),
    ("Patient", "_lastUpdated=lt2024-01-01", []),
    # quantity
    ("Observation", "value-quantity=120", ["o1"]),
    ("Observation", "value-quantity=gt100", ["o1"]),
    ("Observation", "value-quantity=lt100||mm[Hg]", ["o4"]),
    ("Observation", "value-quantity=37.5||°C", ["o2"]),
    ("Observation", "value-quantity=37.5|http://unitsofmeasure.org|Cel", ["o2"]),
    ("Observation", "value-quantity=37.5|http://unitsofmeasure.org|mm[Hg]", []),
    ("Observation", "value-quantity=ap110", ["o1"]),
    ("Observation", "value-quantity=1.2e2", ["o1"]),
    # reference
    ("Observation", "subject=Patient/p1", ["o1", "o3"]),
    ("Observation", "subject:Patient=p2", ["o2"]),
    ("Observation", "patient=p3", ["o4"]),
    ("Observation", "subject=p1", ["o1", "o3"]),
    ("Patient", "organization=o1", ["p1"]),
    ("Patient", "organization=Organization/o1", ["p1"]),
    # composite: code and value on the same element
    ("Observation", "component-code-value-quantity=http://loinc.org|8480-6$gt125", ["o3"]),
    ("Observation", "component-code-value-quantity=http://loinc.org|8462-4$gt125", []),
    ("Observation", "code-value-quantity=http://loinc.org|8480-6$lt100", ["o4"]),
    ("Observation", "combo-code-value-quantity=http://loinc.org|8480-6$gt110", ["o1", "o3"]),
    ("Observation", "combo-code-value-quantity=8462-4$lt90", ["o3"]),
    ("Observation", "combo-code-value-quantity=http://loinc.org|8480-6$gt125", ["o3"]),
    # combo-*: the resource's own code/value or a component's (not stored: answered by their members' entries)
    ("Observation", "combo-code=8480-6", ["o1", "o3", "o4"]),
    ("Observation", "combo-code=8462-4", ["o3"]),
    ("Observation", "combo-code=8462-4,8310-5", ["o2", "o3"]),
    ("Observation", "combo-code:not=8480-6", ["o2"]),
    ("Observation", "combo-code:missing=true", []),
    ("Observation", "combo-value-quantity=lt100", ["o2", "o3", "o4"]),
    ("Observation", "combo-value-quantity=gt125", ["o3"]),
    ("Observation", "combo-value-quantity=gt100&combo-code=8462-4", ["o3"]),
    ("Observation", "combo-value-quantity:missing=false", ["o1", "o2", "o3", "o4"]),
    ("Observation", "combo-value-concept:missing=true", ["o1", "o2", "o3", "o4"]),
    ("Observation", "combo-data-absent-reason:missing=false", []),
    # :missing
    ("Patient", "gender:missing=true", ["p4"]),
    ("Patient", "gender:missing=false", ["p1", "p2", "p3"]),
    ("Patient", "organization:missing=true", ["p2", "p3", "p4"]),
    ("Observation", "date:missing=true", ["o4"]),
    ("Observation", "value-quantity:missing=true", ["o3"]),
    ("Observation", "component-code-value-quantity:missing=false", ["o3"]),
    # uri
    ("ValueSet", "url=http://b.org/vs", ["vs2"]),
    ("ValueSet", "url:below=http://a.org/fhir", ["vs1"]),
    ("ValueSet", "url:above=http://a.org/fhir/ValueSet/x/extra", ["vs1"]),
    # chains and reverse chains
    ("Observation", "subject:Patient.name=chalmers", ["o1", "o3", "o4"]),
    ("Observation", "subject.gender=female", ["o2", "o4"]),
    ("Observation", "patient.organization.name=acme", ["o1", "o3"]),
    ("Patient", "_has:Observation:patient:code=8480-6", ["p1", "p3"]),
    ("Patient", "_has:Observation:subject:value-quantity=lt100", ["p2", "p3"]),
    ("Patient", "_has:Observation:patient:code=nothing", []),
    # special near (bounding box + exact distance)
    ("Location", "near=42.25|-83.69|1|km", ["l1"]),
    ("Location", "near=42.25|-83.69|10|km", ["l1", "l2"]),
    ("Location", "near=42.25|-83.69|500|km", ["l1", "l2", "l3"]),
]


@pytest.mark.parametrize(("rt", "query", "expected"), CASES, ids=[f"{rt}?{q}" for rt, q, _ in CASES])
def test_search(db, rt, query, expected):
    assert search(db, rt, query) == expected


def test_include_and_revinclude(db):
    ps = parse_search("Observation", [("_id", "o1,o3"), ("_include", "Observation:subject")])
    docs = list(db.Observation.find(translate(ps).filter))
    refs = sorted({ref for d in docs for ref in include_targets(d, ps.include[0])})
    assert refs == [("Patient", "p1")]
    assert [d["_id"] for d in db.Patient.find(include_filter(refs, "Patient"))] == ["p1"]
    rev = parse_search("Patient", [("_id", "p1"), ("_revinclude", "Observation:subject")]).revinclude[0]
    assert sorted(d["_id"] for d in db.Observation.find(revinclude_filter(["Patient/p1"], [rev.param]))) == ["o1", "o3"]


def test_sort(db):
    ps = parse_search("Patient", [("_sort", "-birthdate,_id")])
    plan = translate(ps)
    assert plan.sort == [("_sortd.birthdate", -1), ("_id", 1)]
    assert [d["_id"] for d in db.Patient.find({}).sort(plan.sort)] == ["p4", "p2", "p1", "p3"]


def test_sort_by_a_parameter_answered_by_others(db):
    """``_sort`` on combo-value-quantity: the smallest of the resource's own and its components'
    values (o3: components 130 and 85), ``-`` the largest (http://hl7.org/fhir/R4/search.html#sort)."""
    for key, expected in (("combo-value-quantity", ["o2", "o3", "o4", "o1"]), ("-combo-value-quantity", ["o3", "o1", "o4", "o2"])):
        plan = translate(parse_search("Observation", [("_sort", key)]))
        assert [d["_id"] for d in db.Observation.find({}).sort(plan.sort)] == expected

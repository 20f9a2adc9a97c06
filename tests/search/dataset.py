"""One small, hand-made data set for the HTTP search tests; the expected results of every test
were worked out by hand from http://hl7.org/fhir/R4/search.html against it.

Patients
- pat-a  Chalmers, Peter James (+ nickname Jim); male; born 1974-12-25; identifiers MR 12345 (oid system)
         and ssn 999-11; phone and email; active; PleasantVille; org-1; tag vip, profile vip-patient,
         security R, source ehr-1
- pat-b  Müller, Zoë; female; born 1980-01 (month precision); ssn 12345; inactive; Zürich; deceased
         2020-03-01T10:00+02:00; GP pr-1; org-2 by an ABSOLUTE reference to this server; source ehr-2
- pat-c  Chalmersson (text "Anna Chalmersson"); no gender; born 1974 (year precision); org-2; tag test;
         deceased false
- pat-d  name text only "Mary, Ann O'Neil"; gender other; no birth date, organization or identifiers
Organizations org-1 "Acme Health" and org-2 "Beta Clinic", both part of org-root "Root Health Network"
Practitioner pr-1 Gregory House. Group grp-1.
Observations (code / value / effective / subject)
- obs-1  8480-6 "Systolic blood pressure" / 120 mm[Hg] / 2020-01-15T10:00Z / pat-a; vital-signs; enc-1; pr-1
- obs-2  8310-5 / 37.5 Cel / Period 2020-01-01..2020-02-01 / pat-b
- obs-3  85354-9 panel (amended) / components 8480-6 130, 8462-4 85 / 2021-06-01 / pat-a
- obs-4  8480-6 (preliminary) / 95 mm[Hg] unit "mmHg" / 2020-01-15T23:30-05:00 (= 01-16T04:30Z) / pat-c, ABSOLUTE
- obs-5  text "Free text note" / "Grüße aus Köln" / - / Group grp-1
- obs-6  8480-6 / 100 mm[Hg] / - / pat-b
- obs-7  8480-6 / - / - / subject by identifier only (ssn 999-11); data absent
Encounters enc-1 pat-a 2020-01-15 09:00Z..12:00Z finished, pr-1, org-1; enc-2 pat-b from 2021-03-01 (open)
RiskAssessment ra-1 0.25, ra-2 0.8, ra-3 no prediction. ValueSets vs-bp (url .../ValueSet/bp, listing
8480-6 and 8462-4), vs-bp2 (url .../ValueSet/bp/v2), vs-nourl. Locations loc-1 (42.2565, -83.6947),
loc-2 (42.3, -83.7: about 5 km north), loc-3 (40, -80), loc-4 without position.
"""

from __future__ import annotations

from tests.conftest import BASE
from tests.search.support import LOINC, concept, quantity

V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"
SSN = "http://ns.example/ssn"
OID = "urn:oid:1.2.36.146.595.217.0.1"
TAGS = "http://example.org/tags"

PATIENTS = [
    {"resourceType": "Patient", "id": "pat-a",
     "meta": {"tag": [{"system": TAGS, "code": "vip"}], "profile": ["http://example.org/StructureDefinition/vip-patient"],
              "security": [{"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "code": "R"}],
              "source": "http://example.org/source/ehr-1#abc"},
     "identifier": [{"type": concept(V2_0203, "MR"), "system": OID, "value": "12345"}, {"system": SSN, "value": "999-11"}],
     "active": True,
     "name": [{"family": "Chalmers", "given": ["Peter", "James"]}, {"use": "nickname", "given": ["Jim"]}],
     "telecom": [{"system": "phone", "value": "(03) 5555 6473"}, {"system": "email", "value": "peter@example.org"}],
     "gender": "male", "birthDate": "1974-12-25",
     "address": [{"city": "PleasantVille", "postalCode": "3999", "country": "AU"}],
     "managingOrganization": {"reference": "Organization/org-1"}},
    {"resourceType": "Patient", "id": "pat-b", "meta": {"source": "http://example.org/source/ehr-2"},
     "identifier": [{"system": SSN, "value": "12345"}], "active": False,
     "name": [{"family": "Müller", "given": ["Zoë"]}], "gender": "female", "birthDate": "1980-01",
     "deceasedDateTime": "2020-03-01T10:00:00+02:00", "address": [{"city": "Zürich"}],
     "generalPractitioner": [{"reference": "Practitioner/pr-1"}],
     "managingOrganization": {"reference": f"{BASE}/Organization/org-2"}},
    {"resourceType": "Patient", "id": "pat-c", "meta": {"tag": [{"system": TAGS, "code": "test"}]},
     "name": [{"family": "Chalmersson", "text": "Anna Chalmersson"}], "birthDate": "1974", "deceasedBoolean": False,
     "managingOrganization": {"reference": "Organization/org-2"}},
    {"resourceType": "Patient", "id": "pat-d", "name": [{"text": "Mary, Ann O'Neil"}], "gender": "other"},
]  # fmt: skip

OTHERS = [
    {"resourceType": "Organization", "id": "org-root", "name": "Root Health Network"},
    {"resourceType": "Organization", "id": "org-1", "name": "Acme Health", "partOf": {"reference": "Organization/org-root"}},
    {"resourceType": "Organization", "id": "org-2", "name": "Beta Clinic", "partOf": {"reference": "Organization/org-root"}},
    {"resourceType": "Practitioner", "id": "pr-1", "name": [{"family": "House", "given": ["Gregory"]}]},
    {"resourceType": "Group", "id": "grp-1", "type": "person", "actual": True},
    {"resourceType": "Encounter", "id": "enc-1", "status": "finished",
     "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
     "subject": {"reference": "Patient/pat-a"}, "participant": [{"individual": {"reference": "Practitioner/pr-1"}}],
     "period": {"start": "2020-01-15T09:00:00Z", "end": "2020-01-15T12:00:00Z"},
     "serviceProvider": {"reference": "Organization/org-1"}},
    {"resourceType": "Encounter", "id": "enc-2", "status": "in-progress",
     "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP"},
     "subject": {"reference": "Patient/pat-b"}, "period": {"start": "2021-03-01"}},
]  # fmt: skip

VITALS = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "vital-signs"}]}
OBSERVATIONS = [
    {"resourceType": "Observation", "id": "obs-1", "status": "final", "category": [VITALS],
     "code": concept(LOINC, "8480-6", "Systolic blood pressure"), "subject": {"reference": "Patient/pat-a"},
     "encounter": {"reference": "Encounter/enc-1"}, "performer": [{"reference": "Practitioner/pr-1"}],
     "effectiveDateTime": "2020-01-15T10:00:00Z", "valueQuantity": quantity(120, "mm[Hg]", "mmHg")},
    {"resourceType": "Observation", "id": "obs-2", "status": "final", "code": concept(LOINC, "8310-5"),
     "subject": {"reference": "Patient/pat-b"}, "effectivePeriod": {"start": "2020-01-01", "end": "2020-02-01"},
     "valueQuantity": quantity(37.5, "Cel", "°C")},
    {"resourceType": "Observation", "id": "obs-3", "status": "amended", "code": concept(LOINC, "85354-9"),
     "subject": {"reference": "Patient/pat-a"}, "effectiveDateTime": "2021-06-01",
     "component": [{"code": concept(LOINC, "8480-6"), "valueQuantity": quantity(130, "mm[Hg]")},
                   {"code": concept(LOINC, "8462-4"), "valueQuantity": quantity(85, "mm[Hg]")}]},
    {"resourceType": "Observation", "id": "obs-4", "status": "preliminary", "code": concept(LOINC, "8480-6"),
     "subject": {"reference": f"{BASE}/Patient/pat-c"}, "effectiveDateTime": "2020-01-15T23:30:00-05:00",
     "valueQuantity": quantity(95, "mm[Hg]", "mmHg")},
    {"resourceType": "Observation", "id": "obs-5", "status": "final", "code": {"text": "Free text note"},
     "subject": {"reference": "Group/grp-1"}, "valueString": "Grüße aus Köln"},
    {"resourceType": "Observation", "id": "obs-6", "status": "final", "code": concept(LOINC, "8480-6"),
     "subject": {"reference": "Patient/pat-b"}, "valueQuantity": quantity(100, "mm[Hg]")},
    {"resourceType": "Observation", "id": "obs-7", "status": "final", "code": concept(LOINC, "8480-6"),
     "subject": {"identifier": {"system": SSN, "value": "999-11"}},
     "dataAbsentReason": concept("http://terminology.hl7.org/CodeSystem/data-absent-reason", "not-performed")},
]  # fmt: skip

MISC = [
    {"resourceType": "RiskAssessment", "id": "ra-1", "status": "final", "subject": {"reference": "Patient/pat-a"},
     "prediction": [{"probabilityDecimal": 0.25}]},
    {"resourceType": "RiskAssessment", "id": "ra-2", "status": "final", "subject": {"reference": "Patient/pat-b"},
     "prediction": [{"probabilityDecimal": 0.8}]},
    {"resourceType": "RiskAssessment", "id": "ra-3", "status": "final", "subject": {"reference": "Patient/pat-c"}},
    {"resourceType": "ValueSet", "id": "vs-bp", "url": "http://example.org/fhir/ValueSet/bp", "status": "active",
     "compose": {"include": [{"system": LOINC, "concept": [{"code": "8480-6"}, {"code": "8462-4"}]}]}},
    {"resourceType": "ValueSet", "id": "vs-bp2", "url": "http://example.org/fhir/ValueSet/bp/v2", "status": "active"},
    {"resourceType": "ValueSet", "id": "vs-nourl", "status": "draft"},
    {"resourceType": "Location", "id": "loc-1", "name": "Ann Arbor clinic", "position": {"latitude": 42.2565, "longitude": -83.6947}},
    {"resourceType": "Location", "id": "loc-2", "name": "North site", "position": {"latitude": 42.3, "longitude": -83.7}},
    {"resourceType": "Location", "id": "loc-3", "name": "Pittsburgh", "position": {"latitude": 40.0, "longitude": -80.0}},
    {"resourceType": "Location", "id": "loc-4", "name": "Virtual"},
]  # fmt: skip

RESOURCES = PATIENTS + OTHERS + OBSERVATIONS + MISC

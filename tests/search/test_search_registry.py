"""The search parameter registry: official content, Resource-level params, run-time registration."""

import pytest

from fhir_server.errors import FhirError
from fhir_server.search.index import extract_index
from fhir_server.search.parse import parse_search
from fhir_server.search.plan import translate
from fhir_server.spec.search_parameters import (
    Component,
    SearchParam,
    get,
    params_for,
    parts_for,
    patient_compartment,
    register,
    unregister,
)


def test_official_parameters_are_split_per_base():
    assert get("Patient", "name") == SearchParam(
        base="Patient", code="name", type="string", expression="Patient.name",
        url="http://hl7.org/fhir/SearchParameter/Patient-name", modifier=("missing", "exact", "contains"),
    )  # fmt: skip
    # "individual-phone" is shared: Patient only keeps its own union member
    assert get("Patient", "phone").expression == "Patient.telecom.where(system='phone')"
    assert get("Practitioner", "phone").expression == "Practitioner.telecom.where(system='phone')"
    assert get("InsurancePlan", "name").expression == "InsurancePlan.name | InsurancePlan.alias"
    assert get("Observation", "code-value-quantity").component == (
        Component("code", "token", "code"),
        Component("value-quantity", "quantity", "value.as(Quantity)"),
    )
    assert get("Observation", "subject").target == ("Device", "Group", "Location", "Patient")
    assert get("Patient", "identifier").modifier == ("missing", "text", "not", "in", "not-in", "of-type")
    assert get("Patient", "birthdate").comparator == ("eq", "ne", "gt", "ge", "lt", "le", "sa", "eb", "ap")


def test_resource_level_parameters_apply_to_every_type():
    for rt in ("Patient", "Bundle", "Binary"):
        assert {"_id", "_lastUpdated", "_tag", "_profile", "_security", "_source"} <= set(params_for(rt))
    assert "_text" in params_for("Patient") and "_text" not in params_for("Bundle")


def test_parts_for():
    assert parts_for("Patient.name | Practitioner.name", "Practitioner") == ["Practitioner.name"]
    assert parts_for("(ConceptMap.source as uri) | x.y", "ConceptMap") == ["(ConceptMap.source as uri)", "ConceptMap.x.y"]


def test_patient_compartment():
    comp = patient_compartment()
    assert comp["Observation"] == ("subject", "performer")
    assert comp["Patient"] == ("link",)


CUSTOM = {
    "resourceType": "SearchParameter",
    "url": "http://example.org/SearchParameter/patient-nickname",
    "name": "nickname",
    "status": "active",
    "code": "nickname",
    "base": ["Patient", "Person"],
    "type": "string",
    "expression": "Patient.name.where(use='nickname').given | Person.name.where(use='nickname').given",
}


def test_register_and_unregister_take_effect_immediately():
    pat = {"resourceType": "Patient", "name": [{"use": "nickname", "given": ["Bob"]}, {"given": ["Robert"]}]}
    assert "_str" in extract_index(pat) and all(e["p"] != "nickname" for e in extract_index(pat)["_str"])
    added = register(CUSTOM)
    try:
        assert [p.expression for p in added] == [
            "Patient.name.where(use='nickname').given",
            "Person.name.where(use='nickname').given",
        ]
        assert [e for e in extract_index(pat)["_str"] if e["p"] == "nickname"] == [
            {"v": "bob", "x": "Bob", "p": "nickname"}
        ]
        flt = translate(parse_search("Patient", [("nickname", "bo")])).filter
        assert flt == {"_str": {"$elemMatch": {"p": "nickname", "v": {"$regex": "^bo"}}}}
    finally:
        assert unregister(CUSTOM["url"]) is True
    assert get("Patient", "nickname") is None
    assert all(e["p"] != "nickname" for e in extract_index(pat)["_str"])
    assert unregister(CUSTOM["url"]) is False
    with pytest.raises(FhirError):
        parse_search("Patient", [("nickname", "bo")])


def test_register_rejects_bad_parameters():
    with pytest.raises(FhirError) as err:
        register({**CUSTOM, "code": "bad$code", "type": "fuzzy", "base": ["Nope"]})
    assert err.value.status == 400
    assert err.value.issues[0].diagnostics == (
        "invalid SearchParameter: code must be letters, digits, '-' or '_'; type must be one of number, date, "
        "string, token, reference, composite, quantity, uri, special; base 'Nope' is not a resource type"
    )

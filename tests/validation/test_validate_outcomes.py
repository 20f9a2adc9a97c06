"""``validate_resource``: the whole OperationOutcome raised for each kind of structural error.

Rules: http://hl7.org/fhir/R4/json.html, http://hl7.org/fhir/R4/datatypes.html,
http://hl7.org/fhir/R4/extensibility.html, http://hl7.org/fhir/R4/terminologies.html#required.
"""

from __future__ import annotations

from typing import Any

import pytest

from fhir_server.errors import FhirError
from fhir_server.validation import MAX_ISSUES, validate_resource

GENDER_VS = "http://hl7.org/fhir/ValueSet/administrative-gender"


def outcome_of(resource: Any) -> dict[str, Any]:
    with pytest.raises(FhirError) as raised:
        validate_resource(resource)
    assert raised.value.status == 400
    return raised.value.outcome()


def outcome(*issues: tuple[str, str, str]) -> dict[str, Any]:
    """An OperationOutcome from (code, diagnostics, expression) triples."""
    return {
        "resourceType": "OperationOutcome",
        "issue": [
            {"severity": "error", "code": code, "diagnostics": text, "expression": [where]}
            for code, text, where in issues
        ],
    }


def test_valid_resource_passes() -> None:
    patient = {
        "resourceType": "Patient",
        "id": "a" * 64,
        "meta": {"versionId": "1", "lastUpdated": "2024-01-02T03:04:05.678Z"},
        "name": [{"family": "Chalmers", "given": ["Peter", None], "_given": [None, {"id": "g2"}]}],
        "gender": "male",
        "birthDate": "1974-12-25",
        "_birthDate": {"extension": [{"url": "http://example.org/t", "valueTime": "14:35:45"}]},
        "deceasedBoolean": False,
        "multipleBirthInteger": 2,
        "contained": [{"resourceType": "Organization", "id": "o1", "name": "Acme"}],
        "extension": [{"url": "http://example.org/n", "extension": [{"url": "a", "valueDecimal": 1.5}]}],
    }
    assert validate_resource(patient) is None


def test_unknown_element() -> None:
    resource = {"resourceType": "Patient", "nickname": "Pete", "name": [{"family": "X", "surname": "Y"}]}
    assert outcome_of(resource) == outcome(
        ("structure", "Unknown element 'nickname': Patient has no such element.", "Patient.nickname"),
        ("structure", "Unknown element 'surname': HumanName has no such element.", "Patient.name[0].surname"),
    )


def test_wrong_array_ness() -> None:
    resource = {"resourceType": "Patient", "name": {"family": "X"}, "gender": ["male"], "birthDate": ["2000"]}
    assert outcome_of(resource) == outcome(
        ("structure", "Element 'name' must be a JSON array (it can repeat), not a JSON object.", "Patient.name"),
        (
            "structure",
            "Element 'gender' must be a single value, not a JSON array (it cannot repeat).",
            "Patient.gender",
        ),
        (
            "structure",
            "Element 'birthDate' must be a single value, not a JSON array (it cannot repeat).",
            "Patient.birthDate",
        ),
    )


def test_missing_required_elements() -> None:
    resource = {"resourceType": "Observation", "code": {"text": "x"}, "component": [{"valueString": "y"}]}
    assert outcome_of(resource) == outcome(
        ("required", "Required element 'code' is missing (minimum cardinality 1).", "Observation.component[0].code"),
        ("required", "Required element 'status' is missing (minimum cardinality 1).", "Observation.status"),
    )


def test_required_choice_and_primitive_extension_only() -> None:
    # medication[x] is 1..1; a status given only as ``_status`` (an extension) counts as present.
    resource = {
        "resourceType": "MedicationRequest",
        "_status": {"extension": [{"url": "http://example.org/s", "valueString": "?"}]},
        "intent": "order",
        "subject": {"reference": "Patient/1"},
    }
    assert outcome_of(resource) == outcome(
        (
            "required",
            "Required element 'medication[x]' is missing (minimum cardinality 1).",
            "MedicationRequest.medication[x]",
        ),
    )


def test_bad_date_and_date_time() -> None:
    resource = {
        "resourceType": "Patient",
        "birthDate": "1974-02-30",
        "deceasedDateTime": "2020-01-01T10:00",
    }
    assert outcome_of(resource) == outcome(
        (
            "value",
            "Element 'birthDate' is '1974-02-30', not a valid date (expected YYYY, YYYY-MM or YYYY-MM-DD).",
            "Patient.birthDate",
        ),
        (
            "value",
            "Element 'deceasedDateTime' is '2020-01-01T10:00', not a valid dateTime "
            "(expected YYYY, YYYY-MM, YYYY-MM-DD or YYYY-MM-DDThh:mm:ss[.sss] with a time zone).",
            "Patient.deceasedDateTime",
        ),
    )


def test_bad_boolean_and_integer_types() -> None:
    resource = {"resourceType": "Patient", "active": "true", "multipleBirthInteger": 2.5, "photo": [{"size": -1}]}
    assert outcome_of(resource) == outcome(
        ("value", "Element 'active' must be a JSON boolean (true or false), not a string.", "Patient.active"),
        (
            "value",
            "Element 'multipleBirthInteger' must be a JSON integer (integer), not a decimal number.",
            "Patient.multipleBirthInteger",
        ),
        (
            "value",
            "Element 'size' is -1, outside the range of unsignedInt (0 to 2147483647).",
            "Patient.photo[0].size",
        ),
    )


def test_id_of_65_characters() -> None:
    assert validate_resource({"resourceType": "Patient", "id": "A-." + "9" * 61}) is None
    assert outcome_of({"resourceType": "Patient", "id": "a" * 65}) == outcome(
        (
            "value",
            f"Element 'id' is '{'a' * 65}' (65 characters), not a valid id "
            "(1 to 64 characters from A-Z, a-z, 0-9, '-' and '.').",
            "Patient.id",
        ),
    )


def test_two_choice_variants() -> None:
    resource = {"resourceType": "Patient", "deceasedBoolean": True, "_deceasedDateTime": {"id": "x"}}
    assert outcome_of(resource) == outcome(
        (
            "structure",
            "Element 'deceasedDateTime' conflicts with 'deceasedBoolean': only one deceased[x] choice may be present.",
            "Patient.deceasedDateTime",
        ),
    )


def test_empty_values() -> None:
    resource = {"resourceType": "Patient", "name": [], "telecom": [{}], "maritalStatus": {}, "birthDate": ""}
    assert outcome_of(resource) == outcome(
        ("structure", "Element 'name' is an empty array, which FHIR JSON does not allow.", "Patient.name"),
        ("structure", "Element 'telecom' is an empty object, which FHIR JSON does not allow.", "Patient.telecom[0]"),
        (
            "structure",
            "Element 'maritalStatus' is an empty object, which FHIR JSON does not allow.",
            "Patient.maritalStatus",
        ),
        (
            "value",
            "Element 'birthDate' is an empty string; empty strings are not allowed in FHIR JSON.",
            "Patient.birthDate",
        ),
    )


def test_nulls() -> None:
    resource = {
        "resourceType": "Patient",
        "gender": None,
        "name": [{"given": ["a", None]}, None],
        "address": [{"line": [None], "_line": [None]}],
    }
    assert outcome_of(resource) == outcome(
        ("structure", "Element 'gender' is null, which FHIR JSON does not allow.", "Patient.gender"),
        (
            "structure",
            "Element 'given' has null at index 1 without a matching entry in '_given'.",
            "Patient.name[0].given[1]",
        ),
        ("structure", "Element 'name' is null, which FHIR JSON does not allow.", "Patient.name[1]"),
        (
            "structure",
            "Element 'line' has null at index 0 without a matching entry in '_line'.",
            "Patient.address[0].line[0]",
        ),
        ("structure", "Element '_line' has null at index 0 without a value in 'line'.", "Patient.address[0].line[0]"),
    )


def test_primitive_extension_shapes() -> None:
    resource = {
        "resourceType": "Patient",
        "_gender": [{"id": "1"}],
        "name": [{"given": ["a", "b"], "_given": [{"id": "1"}]}, {"given": ["c"], "_given": {"id": "2"}}],
        "_birthDate": {"url": "http://example.org"},
        "_name": {"id": "x"},
    }
    assert outcome_of(resource) == outcome(
        (
            "structure",
            "Element '_gender' must be a JSON object, not a JSON array ('gender' cannot repeat).",
            "Patient.gender",
        ),
        ("structure", "Element '_given' has 1 entries but 'given' has 2; they must align.", "Patient.name[0].given"),
        (
            "structure",
            "Element '_given' must be a JSON array aligned with 'given', not a JSON object.",
            "Patient.name[1].given",
        ),
        (
            "structure",
            "Unknown element 'url': the '_' object of a primitive element may only hold 'id' and 'extension'.",
            "Patient.birthDate.url",
        ),
        ("structure", "Unknown element '_name': Patient has no such element.", "Patient._name"),
    )


def test_code_outside_required_binding() -> None:
    allowed = "(allowed: female, male, other, unknown)"
    assert outcome_of({"resourceType": "Patient", "gender": "x", "contact": [{"gender": "M"}]}) == outcome(
        (
            "value",
            f"Element 'gender' has code 'x', which is not in the required value set {GENDER_VS} {allowed}.",
            "Patient.gender",
        ),
        (
            "value",
            f"Element 'gender' has code 'M', which is not in the required value set {GENDER_VS} {allowed}.",
            "Patient.contact[0].gender",
        ),
    )


def test_codeable_concept_binding_checks_only_its_system() -> None:
    system = "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical"
    resource = {
        "resourceType": "AllergyIntolerance",
        "patient": {"reference": "Patient/1"},
        "clinicalStatus": {
            "coding": [
                {"system": "http://example.org/local", "code": "whatever"},
                {"system": system, "code": "gone"},
            ]
        },
    }
    assert outcome_of(resource) == outcome(
        (
            "value",
            f"Element 'clinicalStatus' has code 'gone' from {system}, which is not in the required value set "
            "http://hl7.org/fhir/ValueSet/allergyintolerance-clinical (allowed: active, inactive, resolved).",
            "AllergyIntolerance.clinicalStatus.coding[1].code",
        ),
    )


def test_bad_nested_element_in_contained_resource() -> None:
    resource = {
        "resourceType": "Patient",
        "contained": [
            {"resourceType": "Practitioner", "id": "p1", "name": [{"family": "X", "given": "Y"}]},
            {"resourceType": "Organization", "contained": [{"resourceType": "Endpoint"}]},
            {"resourceType": "NotAType"},
        ],
    }
    assert outcome_of(resource) == outcome(
        (
            "structure",
            "Element 'given' must be a JSON array (it can repeat), not a string.",
            "Patient.contained[0].name[0].given",
        ),
        (
            "invalid",
            "A contained resource must not itself contain resources (dom-2).",
            "Patient.contained[1].contained",
        ),
        (
            "required",
            "Required element 'status' is missing (minimum cardinality 1).",
            "Patient.contained[1].contained[0].status",
        ),
        (
            "required",
            "Required element 'connectionType' is missing (minimum cardinality 1).",
            "Patient.contained[1].contained[0].connectionType",
        ),
        (
            "required",
            "Required element 'payloadType' is missing (minimum cardinality 1).",
            "Patient.contained[1].contained[0].payloadType",
        ),
        (
            "required",
            "Required element 'address' is missing (minimum cardinality 1).",
            "Patient.contained[1].contained[0].address",
        ),
        ("invalid", "Unknown resource type 'NotAType': not an R4 resource type.", "Patient.contained[2].resourceType"),
    )


def test_bad_extensions() -> None:
    resource = {
        "resourceType": "Patient",
        "extension": [
            {"valueString": "no url"},
            {"url": "http://example.org/both", "valueString": "v", "extension": [{"url": "x", "valueBoolean": True}]},
            {"url": "http://example.org/neither"},
            {"url": "http://example.org/two", "valueString": "a", "valueCode": "b"},
        ],
        "modifierExtension": [{"url": "http://example.org/m", "valueQuantity": {"value": "1"}}],
    }
    assert outcome_of(resource) == outcome(
        ("required", "Required element 'url' is missing (minimum cardinality 1).", "Patient.extension[0].url"),
        (
            "invalid",
            "An extension must have either a value[x] or nested extensions, but this one has both (ext-1).",
            "Patient.extension[1]",
        ),
        (
            "invalid",
            "An extension must have either a value[x] or nested extensions, but this one has neither (ext-1).",
            "Patient.extension[2]",
        ),
        (
            "structure",
            "Element 'valueCode' conflicts with 'valueString': only one value[x] choice may be present.",
            "Patient.extension[3].valueCode",
        ),
        (
            "value",
            "Element 'value' must be a JSON number (decimal), not a string.",
            "Patient.modifierExtension[0].valueQuantity.value",
        ),
    )


def test_bundle_entry_and_parameters_resources_are_validated() -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": {"resourceType": "Patient", "active": 1}}, {"resource": [{"resourceType": "Patient"}]}],
    }
    assert outcome_of(bundle) == outcome(
        (
            "value",
            "Element 'active' must be a JSON boolean (true or false), not an integer.",
            "Bundle.entry[0].resource.active",
        ),
        (
            "structure",
            "Element 'resource' must be a single value, not a JSON array (it cannot repeat).",
            "Bundle.entry[1].resource",
        ),
    )
    parameter = {"name": "p", "resource": {"resourceType": "Patient", "x": 1}}
    parameters = {"resourceType": "Parameters", "parameter": [parameter]}
    assert outcome_of(parameters) == outcome(
        ("structure", "Unknown element 'x': Patient has no such element.", "Parameters.parameter[0].resource.x"),
    )


def test_resource_type_missing_or_unknown() -> None:
    assert outcome_of({"id": "1"}) == outcome(
        ("required", "Required element 'resourceType' is missing.", "resourceType"),
    )
    assert outcome_of({"resourceType": "Patients"}) == outcome(
        ("invalid", "Unknown resource type 'Patients': not an R4 resource type.", "resourceType")
    )
    assert outcome_of({"resourceType": "DomainResource"}) == outcome(
        ("invalid", "Unknown resource type 'DomainResource': not an R4 resource type.", "resourceType")
    )
    assert outcome_of([{"resourceType": "Patient"}]) == outcome(
        ("structure", "A resource must be a JSON object, not a JSON array.", "resourceType")
    )


def test_content_reference_elements_are_walked() -> None:
    # Questionnaire.item.item is ``contentReference #Questionnaire.item``.
    resource = {
        "resourceType": "Questionnaire",
        "status": "draft",
        "item": [{"linkId": "1", "type": "group", "item": [{"linkId": "1.1", "type": "nonsense"}]}],
    }
    assert outcome_of(resource)["issue"][0]["expression"] == ["Questionnaire.item[0].item[0].type"]


def test_issues_are_capped() -> None:
    resource = {"resourceType": "Patient", **{f"bad{i}": i for i in range(MAX_ISSUES + 10)}}
    assert len(outcome_of(resource)["issue"]) == MAX_ISSUES


def test_absurd_nesting_is_an_issue_not_a_crash() -> None:
    item: dict[str, Any] = {"linkId": "leaf", "type": "display"}
    for depth in range(3000):
        item = {"linkId": str(depth), "type": "group", "item": [item]}
    resource = {"resourceType": "Questionnaire", "status": "draft", "item": [item]}
    assert outcome_of(resource) == outcome(
        ("structure", "The resource is nested too deeply to be validated.", "resourceType"),
    )

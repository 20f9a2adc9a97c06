"""``_summary`` and ``_elements`` (http://hl7.org/fhir/R4/search.html#summary, #elements)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fhir_server.errors import FhirError
from fhir_server.interactions.shaping import select_elements, summarize
from fhir_server.spec.official_package import package_dir
from fhir_server.spec.summary import type_info

SUBSETTED = {"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue", "code": "SUBSETTED"}
TAGGED = {"tag": [SUBSETTED]}


def official(name: str) -> dict[str, Any]:
    folder = package_dir()
    if folder is None:
        pytest.skip("official R4 package hl7.fhir.r4.examples@4.0.1 is not available")
    return orjson.loads((folder / name).read_bytes())


def pick(resource: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {key: resource[key] for key in keys}


@pytest.fixture
def patient_example() -> dict[str, Any]:
    return official("Patient-example.json")


@pytest.fixture
def observation_example() -> dict[str, Any]:
    return official("Observation-example.json")


def shaped(function, resource: dict[str, Any], argument: Any) -> dict[str, Any]:
    before = copy.deepcopy(resource)
    result = function(resource, argument)
    assert resource == before, "shaping mutated its input"
    return result


# -- official examples, every mode -----------------------------------------------------------------


def test_patient_summary_true(patient_example):
    result = shaped(summarize, patient_example, "true")
    assert result == {
        "resourceType": "Patient",
        "id": "example",
        "meta": TAGGED,
        **pick(
            patient_example,
            "identifier",
            "active",
            "name",
            "telecom",
            "gender",
            "birthDate",
            "_birthDate",
            "deceasedBoolean",
            "address",
            "managingOrganization",
        ),
    }
    assert list(result)[:3] == ["resourceType", "id", "meta"]


def test_patient_summary_text(patient_example):
    assert shaped(summarize, patient_example, "text") == {
        "resourceType": "Patient",
        "id": "example",
        "meta": TAGGED,
        "text": patient_example["text"],
    }


def test_patient_summary_data(patient_example):
    expected = {key: value for key, value in patient_example.items() if key != "text"}
    assert shaped(summarize, patient_example, "data") == {**expected, "meta": TAGGED}


def test_patient_summary_false(patient_example):
    result = shaped(summarize, patient_example, "false")
    assert result == patient_example
    assert result is not patient_example


def test_patient_elements_name_gender(patient_example):
    assert shaped(select_elements, patient_example, ["name", "gender"]) == {
        "resourceType": "Patient",
        "id": "example",
        "meta": TAGGED,
        "name": patient_example["name"],
        "gender": "male",
    }


def test_observation_summary_true(observation_example):
    assert shaped(summarize, observation_example, "true") == {
        "resourceType": "Observation",
        "id": "example",
        "meta": TAGGED,
        **pick(observation_example, "status", "code", "subject", "encounter", "effectiveDateTime", "valueQuantity"),
    }


def test_observation_summary_text_keeps_mandatory_elements(observation_example):
    assert shaped(summarize, observation_example, "text") == {
        "resourceType": "Observation",
        "id": "example",
        "meta": TAGGED,
        **pick(observation_example, "text", "status", "code"),
    }


def test_observation_summary_data(observation_example):
    expected = {key: value for key, value in observation_example.items() if key != "text"}
    assert shaped(summarize, observation_example, "data") == {**expected, "meta": TAGGED}


def test_observation_summary_false(observation_example):
    assert shaped(summarize, observation_example, "false") == observation_example


def test_observation_elements_name_gender_keeps_mandatory_elements(observation_example):
    """Observation has no name or gender; status and code are mandatory and always returned."""
    assert shaped(select_elements, observation_example, ["name", "gender"]) == {
        "resourceType": "Observation",
        "id": "example",
        "meta": TAGGED,
        **pick(observation_example, "status", "code"),
    }


# -- rules beyond the examples ---------------------------------------------------------------------


def test_summary_true_recurses_into_backbone_elements():
    observation = {
        "resourceType": "Observation",
        "id": "bp",
        "status": "final",
        "code": {"text": "bp"},
        "component": [
            {
                "extension": [{"url": "http://x", "valueString": "dropped"}],
                "code": {"text": "systolic"},
                "valueQuantity": {"value": 120},
                "interpretation": [{"text": "high"}],
                "referenceRange": [{"low": {"value": 90}}],
            }
        ],
    }
    assert summarize(observation, "true") == {
        "resourceType": "Observation",
        "id": "bp",
        "meta": TAGGED,
        "status": "final",
        "code": {"text": "bp"},
        "component": [{"code": {"text": "systolic"}, "valueQuantity": {"value": 120}}],
    }


def test_summary_true_keeps_whole_datatypes_except_attachment_data():
    """ElementDefinition.isSummary: "Other than Attachment.data, all data type properties are
    included in the summary form" -- wherever the Attachment sits."""
    reference = {
        "resourceType": "DocumentReference",
        "id": "d",
        "meta": {"versionId": "3", "tag": [{"code": "x"}]},
        "status": "current",
        "subject": {"reference": "Patient/p", "extension": [{"url": "http://e", "valueString": "kept"}]},
        "content": [
            {
                "attachment": {"contentType": "text/plain", "data": "SGVsbG8=", "title": "note"},
                "format": {"code": "urn:x", "extension": [{"url": "http://f", "valueAttachment": {"data": "QQ=="}}]},
            }
        ],
        "custodian": {"reference": "Organization/not-a-summary-element"},
    }
    assert summarize(reference, "true") == {
        "resourceType": "DocumentReference",
        "id": "d",
        "meta": {"versionId": "3", "tag": [{"code": "x"}, SUBSETTED]},
        "status": "current",
        "subject": {"reference": "Patient/p", "extension": [{"url": "http://e", "valueString": "kept"}]},
        "content": [
            {
                "attachment": {"contentType": "text/plain", "title": "note"},
                "format": {"code": "urn:x", "extension": [{"url": "http://f", "valueAttachment": {}}]},
            }
        ],
    }


def test_summary_true_summarizes_inline_resources_and_drops_contained():
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"fullUrl": "urn:a", "resource": {"resourceType": "Patient", "text": {"div": "x"}, "gender": "male"}}],
    }
    patient = {"resourceType": "Patient", "contained": [{"resourceType": "Organization"}], "gender": "male"}
    assert summarize(bundle, "true") == {
        "resourceType": "Bundle",
        "meta": TAGGED,
        "type": "collection",
        "entry": [{"fullUrl": "urn:a", "resource": {"resourceType": "Patient", "gender": "male"}}],
    }
    assert summarize(patient, "true") == {"resourceType": "Patient", "meta": TAGGED, "gender": "male"}


def test_nothing_removed_means_no_tag():
    patient = {"resourceType": "Patient", "id": "p", "gender": "male"}
    for mode in ("true", "data", "false"):
        assert summarize(patient, mode) == patient
    assert select_elements(patient, ["gender"]) == patient


def test_tag_is_not_repeated():
    patient = {"resourceType": "Patient", "id": "p", "meta": TAGGED, "text": {"div": "x"}}
    assert summarize(patient, "data") == {"resourceType": "Patient", "id": "p", "meta": TAGGED}


@pytest.mark.parametrize(
    "elements",
    [
        ["deceased"],
        ["deceased[x]"],
        ["Patient.deceased"],
        [" deceasedDateTime ", "Observation.status"],
        ["deceased.extension"],
    ],
)
def test_elements_name_forms(elements):
    patient = {
        "resourceType": "Patient",
        "id": "p",
        "deceasedDateTime": "2020",
        "_deceasedDateTime": {"id": "x"},
        "gender": "male",
    }
    assert select_elements(patient, elements) == {
        "resourceType": "Patient",
        "id": "p",
        "meta": TAGGED,
        "deceasedDateTime": "2020",
        "_deceasedDateTime": {"id": "x"},
    }


def test_unknown_resource_type_is_returned_whole():
    thing = {"resourceType": "Unknown", "text": {"div": "x"}, "a": 1}
    assert summarize(thing, "true") == thing
    assert select_elements(thing, ["a"]) == thing


@pytest.mark.parametrize(
    ("mode", "diagnostics"),
    [
        ("yes", "Unknown _summary value 'yes': expected one of true, text, data, false"),
        (
            "count",
            "Unknown _summary value 'count': expected one of true, text, data, false (count applies to searches only)",
        ),
    ],
)
def test_unknown_summary_mode_is_400(mode, diagnostics):
    with pytest.raises(FhirError) as caught:
        summarize({"resourceType": "Patient"}, mode)
    assert caught.value.status == 400
    assert caught.value.outcome() == {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": "invalid", "diagnostics": diagnostics}],
    }


SAMPLED_TYPES = {
    "Patient",
    "Observation",
    "Encounter",
    "Condition",
    "MedicationRequest",
    "DocumentReference",
    "Questionnaire",
    "QuestionnaireResponse",
    "Bundle",
}


def _example_files() -> list[Path]:
    folder = package_dir(fetch=False)
    if folder is None:
        return []
    found = folder.glob("*-*.json")
    return sorted(p for p in found if p.name.split("-", 1)[0] in SAMPLED_TYPES and p.stat().st_size < 200_000)


@pytest.mark.skipif(not _example_files(), reason="official R4 package hl7.fhir.r4.examples@4.0.1 is not available")
@settings(max_examples=60, deadline=None)
@given(st.sampled_from(_example_files() or [Path("unused")]), st.sampled_from(["true", "text", "data"]))
def test_summaries_of_official_examples_are_stable_subsets(path, mode):
    resource = orjson.loads(path.read_bytes())
    before = copy.deepcopy(resource)
    result = summarize(resource, mode)
    assert resource == before
    assert set(result) - {"meta"} <= set(resource)
    assert summarize(result, mode) == result
    info = type_info(resource["resourceType"])
    if mode == "true":
        assert set(result) - {"resourceType", "meta"} <= {n for s in info.summary for n in (s, "_" + s)}
    if mode == "text":
        mandatory = {name for m in info.mandatory for name in (m, "_" + m)}
        assert set(result) <= {"resourceType", "id", "meta", "text", *mandatory}

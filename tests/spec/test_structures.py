"""The generated R4 element tables (``fhir_server.spec.structures``) and their generator."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import orjson
import pytest

from fhir_server.spec import structures as spec
from fhir_server.spec.official_package import package_dir
from fhir_server.spec.resource_types import RESOURCE_TYPES
from fhir_server.spec.structures import COMPLEX, PRIMITIVE, RESOURCE, Element

ROOT = Path(__file__).resolve().parents[2]


def test_resource_and_primitive_types() -> None:
    s = spec.structures()
    assert s.resource_types == RESOURCE_TYPES
    assert s.primitive_types == {
        "base64Binary", "boolean", "canonical", "code", "date", "dateTime", "decimal", "id", "instant", "integer",
        "markdown", "oid", "positiveInt", "string", "time", "unsignedInt", "uri", "url", "uuid", "xhtml",
    }  # fmt: skip


def test_patient_elements() -> None:
    tables = spec.structures().tables
    patient = tables["Patient"]
    assert list(patient.elements) == [
        "id", "meta", "implicitRules", "language", "text", "contained", "extension", "modifierExtension",
        "identifier", "active", "name", "telecom", "gender", "birthDate", "deceasedBoolean", "deceasedDateTime",
        "address", "maritalStatus", "multipleBirthBoolean", "multipleBirthInteger", "photo", "contact",
        "communication", "generalPractitioner", "managingOrganization", "link",
    ]  # fmt: skip
    assert patient.elements["id"] == Element("id", PRIMITIVE, False, 0, None, None, None)
    assert patient.elements["deceasedDateTime"] == Element("dateTime", PRIMITIVE, False, 0, "deceased", None, None)
    assert patient.elements["name"] == Element("HumanName", COMPLEX, True, 0, None, None, tables["HumanName"])
    assert patient.elements["contained"] == Element("Resource", RESOURCE, True, 0, None, None, None)
    assert patient.elements["contact"].table is tables["Patient.contact"]
    assert patient.choices == {
        "deceased": ("deceasedBoolean", "deceasedDateTime"),
        "multipleBirth": ("multipleBirthBoolean", "multipleBirthInteger"),
    }
    assert patient.required == () and patient.required_choices == ()
    assert patient.is_resource and not tables["Patient.contact"].is_resource
    gender = patient.elements["gender"].valueset
    assert (gender.url, gender.complete, gender.systems) == (
        "http://hl7.org/fhir/ValueSet/administrative-gender",
        True,
        {"http://hl7.org/fhir/administrative-gender": frozenset({"male", "female", "other", "unknown"})},
    )


def test_required_elements_choices_and_content_references() -> None:
    tables = spec.structures().tables
    assert tables["Observation"].required == ("status", "code")
    assert tables["MedicationRequest"].required_choices == (
        ("medication", ("medicationCodeableConcept", "medicationReference")),
    )
    assert tables["Questionnaire.item"].elements["item"].table is tables["Questionnaire.item"]
    assert tables["Bundle.entry"].elements["link"].table is tables["Bundle.link"]
    assert tables["Bundle.entry"].elements["resource"].kind == RESOURCE
    assert tables["Parameters.parameter"].elements["resource"].kind == RESOURCE
    assert tables["Extension"].required == ("url",) and tables["Extension"].is_extension
    assert len(tables["Extension"].choices["value"]) == 50
    assert list(tables["Element"].elements) == ["id", "extension"]
    assert tables["Timing.repeat"].elements["boundsPeriod"].table is tables["Period"]


def test_generated_data_is_current() -> None:
    """``spec/data/structures.json`` is exactly what ``scripts/gen_structures.py`` makes today."""
    pkg = package_dir()
    if pkg is None:
        pytest.skip("the official R4 package hl7.fhir.r4.examples@4.0.1 cannot be fetched (no npm or no registry)")
    loader = importlib.util.spec_from_file_location("gen_structures", ROOT / "scripts" / "gen_structures.py")
    generator = importlib.util.module_from_spec(loader)
    loader.loader.exec_module(generator)
    assert orjson.loads(orjson.dumps(generator.generate(pkg))) == spec._read()

"""The planned extractor (``extract_index``) equals the straightforward one (``extract_index_plain``).

Compared with ``repr``, so values, their types (1 vs 1.0) and the order of entries and of keys
all count, on every official R4 example (Bundle entries and contained resources included) and on
hand-made edge cases: several nodes per composite, unions mixing the resource and its elements,
fhirpathpy fallbacks, custom parameters.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from fhir_server.search.index import extract_index, extract_index_plain
from fhir_server.spec import search_parameters as registry
from fhir_server.spec.official_package import package_dir


def _resources(value: Any, name: str) -> Iterator[tuple[str, dict]]:
    if not isinstance(value, dict) or "resourceType" not in value:
        return
    yield name, value
    for i, entry in enumerate(value.get("entry") or []):
        if isinstance(entry, dict):
            yield from _resources(entry.get("resource"), f"{name}#entry{i}")
    for i, contained in enumerate(value.get("contained") or []):
        yield from _resources(contained, f"{name}#contained{i}")


def test_planned_equals_plain_on_every_official_example():
    pkg = package_dir()
    if pkg is None:
        pytest.skip("official R4 examples package unavailable (npm registry unreachable)")
    checked = 0
    for path in sorted(pkg.glob("*.json")):
        try:
            document = orjson.loads(path.read_bytes())
        except orjson.JSONDecodeError:
            continue
        for name, resource in _resources(document, path.name):
            assert repr(extract_index(resource)) == repr(extract_index_plain(resource)), name
            checked += 1
    assert checked > 4000


EDGE_CASES = [
    {"resourceType": "Observation", "code": {"coding": [{"system": "s", "code": "a"}, {"system": "s", "code": "b"}], "text": "t"},
     "valueCodeableConcept": {"coding": [{"code": "x"}, {"system": "y", "code": "z", "display": "Zed"}]},
     "component": [
         {"code": {"coding": [{"system": "s", "code": "c1"}]}, "valueQuantity": {"value": 1, "unit": "mm", "code": "mm[Hg]"}},
         {"code": {"text": "text only"}, "valueQuantity": {"value": 2.50}},
         {"code": {"coding": [{"system": "s", "code": "c3"}]}, "valueCodeableConcept": {"coding": [{"code": "v"}]}},
         {"code": {"coding": [{"system": "s", "code": "c3"}]}, "valueString": "s", "dataAbsentReason": {"text": "x"}},
     ],
     "subject": {"reference": "Patient/1", "identifier": {"system": "i", "value": "v"}},
     "effectivePeriod": {"start": "2020", "end": "2021-02-03T04:05:06Z"}},
    {"resourceType": "Observation", "valueString": "only text", "code": {"text": "t"}},
    {"resourceType": "Observation", "value": 5, "valueQuantity": {"value": 1}, "effective": "2020"},
    {"resourceType": "Observation", "valueRange": {"low": {"value": 1, "unit": "kg"}, "high": {"value": 3}}},
    {"resourceType": "Patient", "deceasedBoolean": False, "name": [{"family": "Ødegård", "given": ["Ann", "Ann"]}],
     "telecom": [{"system": "phone", "value": "1"}, {"system": "email", "value": "a@b"}, {"value": "x"}],
     "address": [{"line": ["1 Main St"], "city": "X"}, {"text": "1 Main St"}]},
    {"resourceType": "Patient", "deceasedDateTime": "2020-01-01", "link": [{"other": {"reference": "Patient/2"}}]},
    {"resourceType": "Patient"},
    {"resourceType": "Location", "position": {"latitude": 1.5, "longitude": -2}},
    {"resourceType": "DocumentReference", "relatesTo": [{"code": "replaces", "target": {"reference": "DocumentReference/1"}},
                                                         {"code": "appends", "target": {"identifier": {"value": "x"}}}]},
    {"resourceType": "Group", "characteristic": [{"code": {"text": "c"}, "valueBoolean": True},
                                                 {"code": {"coding": [{"code": "k"}]}, "valueCodeableConcept": {"text": "only"}}]},
    {"resourceType": "Unknown", "code": {"coding": [{"code": "x"}]}},
    {"resourceType": "Observation", "code": "not a concept", "component": "nonsense", "valueQuantity": [1, 2]},
]


@pytest.mark.parametrize("resource", EDGE_CASES, ids=lambda r: r["resourceType"])
def test_planned_equals_plain_on_edge_cases(resource):
    assert repr(extract_index(resource)) == repr(extract_index_plain(resource))


def test_planned_equals_plain_with_custom_parameters():
    custom = [
        {"resourceType": "SearchParameter", "url": "http://example.org/sp/nick", "name": "nick", "status": "active",
         "code": "nick", "base": ["Patient"], "type": "string", "expression": "Patient.name.where(use='nickname').given"},
        {"resourceType": "SearchParameter", "url": "http://example.org/sp/pair", "name": "pair", "status": "active",
         "code": "pair", "base": ["Patient"], "type": "composite", "expression": "Patient.name",
         "component": [{"definition": "http://example.org/sp/nick", "expression": "given"},
                       {"definition": "http://hl7.org/fhir/SearchParameter/individual-family", "expression": "family"}]},
        {"resourceType": "SearchParameter", "url": "http://example.org/sp/odd", "name": "odd", "status": "active",
         "code": "odd", "base": ["Patient"], "type": "token", "expression": "Patient.name.first().given | Patient.gender"},
    ]
    patient = {"resourceType": "Patient", "gender": "other",
               "name": [{"use": "nickname", "given": ["Bo", "B"], "family": "F"}, {"given": ["Robert"], "family": "G"}]}
    try:
        for resource in custom:
            registry.register(resource)
        index = extract_index(patient)
        assert [e["p"] for e in index["_cmp"]] == ["pair", "pair", "pair"]
        assert repr(index) == repr(extract_index_plain(patient))
    finally:
        for resource in custom:
            registry.unregister(resource["url"])


def test_derived_parameters_are_observations_combo_unions():
    from fhir_server.search.index import type_plan
    from fhir_server.spec.resource_types import RESOURCE_TYPES

    derived = {t: type_plan(t).derived for t in sorted(RESOURCE_TYPES) if type_plan(t).derived}
    assert derived == {"Observation": {
        "combo-code": ("code", "component-code"),
        "combo-code-value-concept": ("code-value-concept", "component-code-value-concept"),
        "combo-code-value-quantity": ("code-value-quantity", "component-code-value-quantity"),
        "combo-data-absent-reason": ("component-data-absent-reason", "data-absent-reason"),
        "combo-value-concept": ("component-value-concept", "value-concept"),
        "combo-value-quantity": ("component-value-quantity", "value-quantity"),
    }}  # fmt: skip


def test_custom_parameters_neither_are_derived_nor_make_others_derived():
    from fhir_server.search.index import type_plan

    union = {"resourceType": "SearchParameter", "url": "http://example.org/sp/any-code", "name": "any-code",
             "status": "active", "code": "any-code", "base": ["Observation"], "type": "token",
             "expression": "Observation.code | Observation.component.code"}
    part = {"resourceType": "SearchParameter", "url": "http://example.org/sp/main-code", "name": "main-code",
            "status": "active", "code": "main-code", "base": ["Observation"], "type": "token",
            "expression": "Observation.code"}
    observation = {"resourceType": "Observation", "status": "final", "code": {"coding": [{"code": "a"}]},
                   "component": [{"code": {"coding": [{"code": "b"}]}}]}
    try:
        for resource in (union, part):
            registry.register(resource)
        assert type_plan("Observation").derived["combo-code"] == ("code", "component-code")
        assert "any-code" not in type_plan("Observation").derived
        index = extract_index(observation)
        assert sorted((e["p"], e["c"]) for e in index["_tok"] if e["p"].endswith("code")) == [
            ("any-code", "a"), ("any-code", "b"), ("code", "a"), ("component-code", "b"), ("main-code", "a")]
        assert repr(index) == repr(extract_index_plain(observation))
    finally:
        for resource in (union, part):
            registry.unregister(resource["url"])


def test_only_fields_that_are_choices_where_they_stand_look_for_variants():
    """``source`` is a choice in some R4 types but a uri in Meta: Observation's generated extractor
    looks for ``name[x]`` variants only where the element tables say the field is a choice."""
    from fhir_server.search.index import _planned

    source = _planned("Observation")[2].source
    assert sorted(line.strip() for line in source.splitlines() if "CHILDREN(" in line) == [
        "s21 = CHILDREN(x, 'value', True)", "s26 = CHILDREN(resource, 'effective', True)", "s9 = CHILDREN(resource, 'value', True)"]

"""PATCH as a pure function (http://hl7.org/fhir/R4/http.html#patch, fhirpatch.html)."""

from __future__ import annotations

import copy
from typing import Any

import jsonpatch
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fhir_server.errors import FhirError
from fhir_server.interactions.patch import apply_patch
from fhir_server.spec.official_package import package_dir

FHIR_JSON = "application/fhir+json"
JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"


def outcome(code: str, diagnostics: str, *expression: str) -> dict[str, Any]:
    issue: dict[str, Any] = {"severity": "error", "code": code, "diagnostics": diagnostics}
    if expression:
        issue["expression"] = list(expression)
    return {"resourceType": "OperationOutcome", "issue": [issue]}


def failure(resource: dict[str, Any], content_type: str, body: Any) -> tuple[int, dict[str, Any]]:
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    with pytest.raises(FhirError) as caught:
        apply_patch(resource, content_type, raw)
    return caught.value.status, caught.value.outcome()


def operation(kind: str, path: str, **parts: Any) -> dict[str, Any]:
    """One FHIRPath Patch operation; ``value`` is given as its part body, e.g. {"valueDate": ...}."""
    built = [{"name": "type", "valueCode": kind}, {"name": "path", "valueString": path}]
    for name, value in parts.items():
        if name == "name":
            built.append({"name": "name", "valueString": value})
        elif name in ("index", "source", "destination"):
            built.append({"name": name, "valueInteger": value})
        else:
            built.append({"name": "value", **value})
    return {"name": "operation", "part": built}


def fhirpath_patch(resource: dict[str, Any], *operations: dict[str, Any]) -> dict[str, Any]:
    body = orjson.dumps({"resourceType": "Parameters", "parameter": list(operations)})
    before = copy.deepcopy(resource)
    patched = apply_patch(resource, FHIR_JSON, body)
    assert resource == before, "apply_patch mutated its input"
    return patched


def fhirpath_failure(resource: dict[str, Any], *operations: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    return failure(resource, FHIR_JSON, {"resourceType": "Parameters", "parameter": list(operations)})


def patient(**elements: Any) -> dict[str, Any]:
    return {"resourceType": "Patient", "id": "p1", **elements}


CONTACT = {"name": {"text": "a name"}, "gender": "male"}


def identifiers(*values: str) -> list[dict[str, Any]]:
    return [{"system": "http://example.org", "value": f"value {v}"} for v in values]


# The test cases of the FHIRPath Patch specification, fhir-test-cases/r5/patch/fhir-path-tests.xml
# (http://hl7.org/fhir/R4/fhirpatch.html), in JSON: (name, input, operations, expected output).
SPEC_CASES = [
    ("No Difference", patient(birthDate="1920-01-01"), [], patient(birthDate="1920-01-01")),
    (
        "Replace Primitive",
        patient(birthDate="1920-01-01"),
        [operation("replace", "Patient.birthDate", value={"valueDate": "1930-01-01"})],
        patient(birthDate="1930-01-01"),
    ),
    ("Delete Primitive", patient(birthDate="1920-01-01"), [operation("delete", "Patient.birthDate")], patient()),
    (
        "Add Primitive",
        patient(),
        [operation("add", "Patient", name="birthDate", value={"valueDate": "1930-01-01"})],
        patient(birthDate="1930-01-01"),
    ),
    (
        "Replace Nested Primitive #1",
        patient(contact=[CONTACT]),
        [operation("replace", "Patient.contact[0].gender", value={"valueCode": "female"})],
        patient(contact=[{"name": {"text": "a name"}, "gender": "female"}]),
    ),
    (
        "Replace Nested Primitive #2",
        patient(contact=[CONTACT]),
        [operation("replace", "Patient.contact[0].name.text", value={"valueString": "the name"})],
        patient(contact=[{"name": {"text": "the name"}, "gender": "male"}]),
    ),
    (
        "Delete Nested Primitive #1",
        patient(contact=[CONTACT]),
        [operation("delete", "Patient.contact[0].gender")],
        patient(contact=[{"name": {"text": "a name"}}]),
    ),
    (
        "Delete Nested Primitive #2",
        patient(contact=[CONTACT]),
        [operation("delete", "Patient.contact[0].name.text")],
        patient(contact=[{"gender": "male"}]),
    ),
    (
        "Add Nested Primitive",
        patient(contact=[{"name": {"text": "a name"}}]),
        [operation("add", "Patient.contact[0]", name="gender", value={"valueCode": "male"})],
        patient(contact=[CONTACT]),
    ),
    (
        "Add Complex",
        patient(),
        [operation("add", "Patient", name="maritalStatus", value={"valueCodeableConcept": {"text": "married"}})],
        patient(maritalStatus={"text": "married"}),
    ),
    (
        "Replace Complex",
        patient(maritalStatus={"id": "1", "text": "married"}),
        [
            operation(
                "replace", "Patient.maritalStatus", value={"valueCodeableConcept": {"id": "2", "text": "not married"}}
            )
        ],
        patient(maritalStatus={"id": "2", "text": "not married"}),
    ),
    (
        "Delete Complex",
        patient(maritalStatus={"text": "married"}),
        [operation("delete", "Patient.maritalStatus")],
        patient(),
    ),
    (
        "Add Anonymous Type",
        patient(),
        [
            operation(
                "add",
                "Patient",
                name="contact",
                value={"part": [{"name": "name", "valueHumanName": {"text": "a name"}}]},
            )
        ],
        patient(contact=[{"name": {"text": "a name"}}]),
    ),
    (
        "Delete Anonymous Type",
        patient(contact=[{"name": {"text": "a name"}}]),
        [operation("delete", "Patient.contact[0]")],
        patient(),
    ),
    ("List unchanged", patient(identifier=identifiers(1, 2)), [], patient(identifier=identifiers(1, 2))),
    (
        "List unchanged, contents changed",
        patient(identifier=[{"id": "a", **identifiers(1)[0]}, {"id": "b", **identifiers(2)[0]}]),
        [
            operation("replace", "Patient.identifier[0].value", value={"valueString": "value 2"}),
            operation("replace", "Patient.identifier[1].value", value={"valueString": "value 1"}),
        ],
        patient(identifier=[{"id": "a", **identifiers(2)[0]}, {"id": "b", **identifiers(1)[0]}]),
    ),
    (
        "Add to list",
        patient(identifier=identifiers(1, 2)),
        [operation("insert", "Patient.identifier", index=2, value={"valueIdentifier": identifiers(3)[0]})],
        patient(identifier=identifiers(1, 2, 3)),
    ),
    (
        "Insert in list #1",
        patient(identifier=identifiers(1, 2)),
        [operation("insert", "Patient.identifier", index=1, value={"valueIdentifier": identifiers(3)[0]})],
        patient(identifier=identifiers(1, 3, 2)),
    ),
    (
        "Insert in list #2",
        patient(identifier=identifiers(1, 2)),
        [operation("insert", "Patient.identifier", index=0, value={"valueIdentifier": identifiers(3)[0]})],
        patient(identifier=identifiers(3, 1, 2)),
    ),
    (
        "Delete from List #1",
        patient(identifier=identifiers(1, 2, 3)),
        [operation("delete", "Patient.identifier[0]")],
        patient(identifier=identifiers(2, 3)),
    ),
    (
        "Delete from List #2",
        patient(identifier=identifiers(1, 2, 3)),
        [operation("delete", "Patient.identifier[1]")],
        patient(identifier=identifiers(1, 3)),
    ),
    (
        "Delete from List #3",
        patient(identifier=identifiers(1, 2, 3)),
        [operation("delete", "Patient.identifier[2]")],
        patient(identifier=identifiers(1, 2)),
    ),
    (
        "Reorder List #1",
        patient(identifier=identifiers(1, 2, 3, 4)),
        [operation("move", "Patient.identifier", source=3, destination=1)],
        patient(identifier=identifiers(1, 4, 2, 3)),
    ),
    (
        "Reorder List #2",
        patient(identifier=identifiers(1, 2, 3, 4)),
        [operation("move", "Patient.identifier", source=3, destination=0)],
        patient(identifier=identifiers(4, 1, 2, 3)),
    ),
    (
        "Reorder List #3",
        patient(identifier=identifiers(1, 2, 3, 4)),
        [operation("move", "Patient.identifier", source=3, destination=2)],
        patient(identifier=identifiers(1, 2, 4, 3)),
    ),
    (
        "Reorder List #4",
        patient(identifier=identifiers(1, 2, 3, 4)),
        [operation("move", "Patient.identifier", source=0, destination=3)],
        patient(identifier=identifiers(2, 3, 4, 1)),
    ),
    (
        "Reorder List #5",
        patient(identifier=identifiers(1, 2, 3, 4)),
        [
            operation("move", "Patient.identifier", source=1, destination=0),
            operation("move", "Patient.identifier", source=2, destination=1),
        ],
        patient(identifier=identifiers(2, 3, 1, 4)),
    ),
    (
        "Reorder List #6",
        patient(identifier=identifiers(1, 2, 3, 4)),
        [
            operation("move", "Patient.identifier", source=3, destination=0),
            operation("move", "Patient.identifier", source=3, destination=1),
            operation("move", "Patient.identifier", source=3, destination=2),
        ],
        patient(identifier=identifiers(4, 3, 2, 1)),
    ),
    (
        "Operation on missing element #2",
        patient(),
        [operation("add", "Patient", name="identifier", value={"valueIdentifier": identifiers(3)[0]})],
        patient(identifier=identifiers(3)),
    ),
]


@pytest.mark.parametrize(("name", "resource", "operations", "expected"), SPEC_CASES, ids=[c[0] for c in SPEC_CASES])
def test_fhirpath_patch_spec_cases(name, resource, operations, expected):
    assert fhirpath_patch(resource, *operations) == expected


def test_fhirpath_patch_spec_case_operation_on_missing_element():
    path = "Patient.identifier.where(use = 'official').period"
    resource = patient(identifier=[{"use": "official", "value": "123"}])
    op = operation("add", path, name="end", value={"valueDate": "2021-12-01"})
    assert fhirpath_failure(resource, op) == (
        422,
        outcome("processing", f"No content found at {path} when adding", path),
    )


def test_fhirpath_patch_spec_case_full_resource():
    """The spec's "Full Resource" case, on the official Patient example it was taken from."""
    folder = package_dir()
    if folder is None:
        pytest.skip("official R4 package hl7.fhir.r4.examples@4.0.1 is not available")
    example = orjson.loads((folder / "Patient-example.json").read_bytes())
    div = example["text"]["div"].replace("<b>Chalmers</b>", "<b>Chalmers1</b>")
    patched = fhirpath_patch(
        example,
        operation("replace", "Patient.text.div", value={"valueString": div}),
        operation("replace", "Patient.name[0].family", value={"valueString": "Chalmers1"}),
    )
    expected = copy.deepcopy(example)
    expected["text"]["div"] = div
    expected["name"][0]["family"] = "Chalmers1"
    assert patched == expected


# -- FHIRPath Patch: path forms and rules beyond the spec's cases ---------------------------------

NAMES = [
    {"use": "official", "family": "Chalmers", "given": ["Peter", "James"]},
    {"use": "usual", "given": ["Jim"], "period": {"start": "2001"}},
]


@pytest.mark.parametrize(
    ("path", "expected_names"),
    [
        ("Patient.name.where(use='usual').given[0]", [NAMES[0], {**NAMES[1], "given": ["Jimmy"]}]),
        ("Patient.name.where(period.start = '2001').given", [NAMES[0], {**NAMES[1], "given": ["Jimmy"]}]),
        ("Patient.name.first().family", [{**NAMES[0], "family": "Jimmy"}, NAMES[1]]),
        ("Patient.name.last().given", [NAMES[0], {**NAMES[1], "given": ["Jimmy"]}]),
        ("Patient.name[0].given[1]", [{**NAMES[0], "given": ["Peter", "Jimmy"]}, NAMES[1]]),
        ("name[1].given", [NAMES[0], {**NAMES[1], "given": ["Jimmy"]}]),
        ("Patient.name.given.where($this = 'James')", [{**NAMES[0], "given": ["Peter", "Jimmy"]}, NAMES[1]]),
    ],
)
def test_fhirpath_patch_path_forms(path, expected_names):
    patched = fhirpath_patch(patient(name=NAMES), operation("replace", path, value={"valueString": "Jimmy"}))
    assert patched == patient(name=expected_names)


def test_fhirpath_patch_extension_function_and_choice_value():
    resource = patient(
        extension=[{"url": "http://a", "valueString": "x"}, {"url": "http://b", "valueString": "y"}]
    )
    patched = fhirpath_patch(
        resource, operation("replace", "Patient.extension('http://b').value", value={"valueInteger": 7})
    )
    assert patched == patient(
        extension=[{"url": "http://a", "valueString": "x"}, {"url": "http://b", "valueInteger": 7}]
    )


def test_fhirpath_patch_add_and_replace_choice_elements():
    observation = {"resourceType": "Observation", "id": "o", "status": "final", "code": {"text": "w"}}
    added = fhirpath_patch(
        observation, operation("add", "Observation", name="value", value={"valueQuantity": {"value": 5}})
    )
    assert added == {**observation, "valueQuantity": {"value": 5}}
    replaced = fhirpath_patch(added, operation("replace", "Observation.value", value={"valueString": "five"}))
    assert replaced == {**observation, "valueString": "five"}


def test_fhirpath_patch_anonymous_value_with_repeating_and_choice_parts():
    value = {
        "part": [
            {"name": "code", "valueCodeableConcept": {"text": "systolic"}},
            {"name": "value", "valueQuantity": {"value": 120}},
            {"name": "interpretation", "valueCodeableConcept": {"text": "high"}},
        ]
    }
    observation = {"resourceType": "Observation", "id": "o", "status": "final", "code": {"text": "bp"}}
    patched = fhirpath_patch(observation, operation("add", "Observation", name="component", value=value))
    assert patched == {
        **observation,
        "component": [
            {"code": {"text": "systolic"}, "valueQuantity": {"value": 120}, "interpretation": [{"text": "high"}]}
        ],
    }


def test_fhirpath_patch_keeps_primitive_extension_arrays_aligned():
    resource = patient(name=[{"given": ["a", "b", "c"], "_given": [None, {"id": "b"}, None]}])
    moved = fhirpath_patch(resource, operation("move", "Patient.name[0].given", source=1, destination=0))
    assert moved == patient(name=[{"given": ["b", "a", "c"], "_given": [{"id": "b"}, None, None]}])
    inserted = fhirpath_patch(
        resource, operation("insert", "Patient.name[0].given", index=0, value={"valueString": "z"})
    )
    assert inserted == patient(name=[{"given": ["z", "a", "b", "c"], "_given": [None, None, {"id": "b"}, None]}])
    deleted = fhirpath_patch(resource, operation("delete", "Patient.name[0].given[1]"))
    assert deleted == patient(name=[{"given": ["a", "c"]}])
    primitive = fhirpath_patch(
        patient(birthDate="2000", _birthDate={"id": "x"}), operation("delete", "Patient.birthDate")
    )
    assert primitive == patient()


def test_fhirpath_patch_insert_into_absent_list_creates_it():
    patched = fhirpath_patch(
        patient(), operation("insert", "Patient.telecom", index=0, value={"valueContactPoint": {"value": "1"}})
    )
    assert patched == patient(telecom=[{"value": "1"}])


def test_fhirpath_patch_delete_of_nothing_is_a_no_op():
    assert fhirpath_patch(patient(), operation("delete", "Patient.name.where(use='old')")) == patient()


@pytest.mark.parametrize(
    ("resource", "op", "diagnostics"),
    [
        (
            patient(name=NAMES),
            operation("delete", "Patient.name"),
            "Patient.name matches 2 elements; FHIRPath Patch needs exactly one",
        ),
        (
            patient(name=NAMES),
            operation("replace", "Patient.name.given", value={"valueString": "x"}),
            "Patient.name.given matches 3 elements; FHIRPath Patch needs exactly one",
        ),
        (
            patient(),
            operation("replace", "Patient.birthDate", value={"valueDate": "2000"}),
            "No content found at Patient.birthDate when replacing",
        ),
        (
            patient(gender="male"),
            operation("add", "Patient", name="gender", value={"valueCode": "female"}),
            "Patient.gender already exists and does not repeat: use replace",
        ),
        (
            patient(deceasedBoolean=False),
            operation("add", "Patient", name="deceased", value={"valueDateTime": "2020"}),
            "Patient.deceased already exists and does not repeat: use replace",
        ),
        (
            patient(),
            operation("add", "Patient", name="colour", value={"valueString": "x"}),
            "Patient has no element 'colour'",
        ),
        (
            patient(),
            operation("add", "Patient", name="deceased", value={"valueString": "x"}),
            "'deceased' cannot take a value of type String",
        ),
        (
            patient(gender="male"),
            operation("add", "Patient.gender", name="x", value={"valueString": "x"}),
            "Patient.gender is a primitive: add needs an element with children",
        ),
        (
            patient(identifier=identifiers(1)),
            operation("insert", "Patient.identifier", index=2, value={"valueIdentifier": {}}),
            "index 2 is beyond the 1 element(s) of Patient.identifier",
        ),
        (
            patient(identifier=identifiers(1, 2)),
            operation("move", "Patient.identifier", source=0, destination=2),
            "source/destination must be below the 2 element(s) of Patient.identifier",
        ),
        (
            patient(gender="male"),
            operation("insert", "Patient.gender", index=0, value={"valueCode": "male"}),
            "Patient.gender is not a repeating element",
        ),
        (patient(), operation("delete", "Patient"), "delete cannot remove the resource itself"),
        (
            patient(),
            operation("replace", "Patient", value={"valueString": "x"}),
            "replace cannot replace the resource itself",
        ),
    ],
)
def test_fhirpath_patch_unprocessable(resource, op, diagnostics):
    path = op["part"][1]["valueString"]
    assert fhirpath_failure(resource, op) == (422, outcome("processing", diagnostics, path))


def test_fhirpath_patch_unsupported_path_form():
    path = "Patient.name.ofType(HumanName).given"
    assert fhirpath_failure(patient(), operation("delete", path)) == (
        422,
        outcome(
            "not-supported",
            f"FHIRPath Patch path {path!r} uses a form this server does not support "
            "(supported: Type.element.child, [n], first(), last(), where(criteria), extension('url'))",
        ),
    )


def test_fhirpath_patch_cannot_change_id():
    op = operation("replace", "Patient.id", value={"valueId": "other"})
    assert fhirpath_failure(patient(), op) == (
        422,
        outcome("business-rule", "a patch cannot change the resource's id", "id"),
    )


@pytest.mark.parametrize(
    ("parameters", "diagnostics", "expression"),
    [
        (
            {"resourceType": "Parameters", "parameter": [{"name": "op", "part": []}]},
            "each FHIRPath Patch parameter must be named 'operation'",
            "Parameters.parameter[0]",
        ),
        (
            {"resourceType": "Parameters", "parameter": [operation("explode", "Patient")]},
            "unknown FHIRPath Patch operation type 'explode'",
            "Parameters.parameter[0]",
        ),
        (
            {"resourceType": "Parameters", "parameter": [operation("add", "Patient", name="gender")]},
            "add operation lacks part(s): value",
            "Parameters.parameter[0]",
        ),
        (
            {
                "resourceType": "Parameters",
                "parameter": [
                    {"name": "operation", "part": [{"name": "type", "valueCode": "delete"}, {"name": "colour"}]}
                ],
            },
            "unknown or repeated operation part 'colour'",
            "Parameters.parameter[0].part[1]",
        ),
        (
            {"resourceType": "Parameters", "parameter": [operation("move", "Patient.name", source=-1, destination=0)]},
            "operation part 'source' needs a non-negative integer value",
            "Parameters.parameter[0]",
        ),
    ],
)
def test_fhirpath_patch_malformed(parameters, diagnostics, expression):
    assert failure(patient(), FHIR_JSON, parameters) == (400, outcome("invalid", diagnostics, expression))


def test_fhirpath_patch_bad_where_criteria():
    status, body = fhirpath_failure(patient(name=NAMES), operation("delete", "Patient.name.where(use = )"))
    assert status == 400
    assert [i["code"] for i in body["issue"]] == ["invalid"]


@settings(max_examples=60)
@given(st.lists(st.integers(), min_size=1, max_size=8), st.data())
def test_fhirpath_patch_move_matches_list_semantics(values, data):
    source = data.draw(st.integers(0, len(values) - 1))
    destination = data.draw(st.integers(0, len(values) - 1))
    resource = patient(identifier=[{"value": str(v)} for v in values])
    expected = list(resource["identifier"])
    expected.insert(destination, expected.pop(source))
    patched = fhirpath_patch(resource, operation("move", "Patient.identifier", source=source, destination=destination))
    assert patched == patient(identifier=expected)


# -- JSON Patch (RFC 6902) -------------------------------------------------------------------------


def test_json_patch_applies_all_operations():
    resource = patient(name=[{"family": "Chalmers"}], gender="male")
    ops = [
        {"op": "test", "path": "/gender", "value": "male"},
        {"op": "replace", "path": "/gender", "value": "female"},
        {"op": "add", "path": "/name/0/given", "value": ["Peter"]},
        {"op": "copy", "from": "/name/0", "path": "/name/-"},
        {"op": "move", "from": "/name/1/given", "path": "/name/1/prefix"},
        {"op": "remove", "path": "/name/0/family"},
    ]
    before = copy.deepcopy(resource)
    patched = apply_patch(resource, JSON_PATCH, orjson.dumps(ops))
    assert resource == before
    assert patched == patient(gender="female", name=[{"given": ["Peter"]}, {"family": "Chalmers", "prefix": ["Peter"]}])


def test_json_patch_test_failure_is_422():
    ops = [{"op": "test", "path": "/gender", "value": "female"}]
    assert failure(patient(gender="male"), JSON_PATCH, ops) == (
        422,
        outcome("processing", "JSON Patch operation 0 (test /gender): the value differs from the tested value"),
    )


@pytest.mark.parametrize(
    "op",
    [
        {"op": "remove", "path": "/birthDate"},
        {"op": "replace", "path": "/name/3/family", "value": "x"},
        {"op": "add", "path": "/gender/sub", "value": "x"},
        {"op": "move", "from": "/nothing", "path": "/gender"},
    ],
)
def test_json_patch_bad_path_is_422(op):
    assert failure(patient(gender="male", name=[{}]), JSON_PATCH, [op]) == (
        422,
        outcome(
            "processing",
            f"JSON Patch operation 0 ({op['op']} {op['path']}) cannot be applied: "
            "its location does not exist in the resource",
        ),
    )


@pytest.mark.parametrize(
    ("body", "diagnostics"),
    [
        ({"op": "remove", "path": "/gender"}, "a JSON Patch document must be an array of operations"),
        ([{"path": "/gender"}], "JSON Patch operation 0 needs an 'op' among add, remove, replace, move, copy, test"),
        ([{"op": "add", "path": "/gender"}], "JSON Patch operation 0 (add) lacks 'value'"),
        ([{"op": "move", "path": "/gender"}], "JSON Patch operation 0 (move) lacks 'from'"),
        ([{"op": "remove", "path": "gender"}], "JSON Patch operation 0: path 'gender' is not a JSON Pointer"),
        ([{"op": "remove", "path": "/a~2b"}], "JSON Patch operation 0: path '/a~2b' is not a JSON Pointer"),
    ],
)
def test_json_patch_malformed_is_400(body, diagnostics):
    assert failure(patient(gender="male"), JSON_PATCH, body) == (400, outcome("invalid", diagnostics))


@pytest.mark.parametrize(
    ("op", "key"),
    [
        ({"op": "replace", "path": "/id", "value": "other"}, "id"),
        ({"op": "remove", "path": "/id"}, "id"),
        ({"op": "replace", "path": "/resourceType", "value": "Person"}, "resourceType"),
    ],
)
def test_json_patch_cannot_change_identity(op, key):
    assert failure(patient(), JSON_PATCH, [op]) == (
        422,
        outcome("business-rule", f"a patch cannot change the resource's {key}", key),
    )


def test_json_patch_cannot_replace_resource_with_non_object():
    assert failure(patient(), JSON_PATCH, [{"op": "replace", "path": "", "value": 3}]) == (
        422,
        outcome("business-rule", "the patch would replace the resource with a non-object"),
    )


def test_json_patch_body_under_plain_json_media_type():
    patched = apply_patch(patient(), "application/json", b'[{"op": "add", "path": "/active", "value": true}]')
    assert patched == patient(active=True)


# Random JSON documents: objects of lists/objects/scalars, no nulls (merge patch cannot express them).
_scalars = st.one_of(st.booleans(), st.integers(-1000, 1000), st.text(alphabet="abcé 1", max_size=5))
_json = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.sampled_from("abcdef"), inner, max_size=4)
    ),
    max_leaves=12,
)
_bodies = st.dictionaries(st.sampled_from(["active", "gender", "name", "x", "y", "z"]), _json, max_size=5)


@settings(max_examples=150)
@given(_bodies, _bodies)
def test_json_patch_made_by_jsonpatch_turns_a_into_b(a_body, b_body):
    a, b = patient(**a_body), patient(**b_body)
    ops = jsonpatch.make_patch(a, b).patch
    before = copy.deepcopy(a)
    assert apply_patch(a, JSON_PATCH, orjson.dumps(ops)) == b
    assert a == before


# -- JSON Merge Patch (RFC 7386) -------------------------------------------------------------------


def merge_diff(a: Any, b: Any) -> Any:
    """The merge patch that turns a into b (both objects)."""
    diff: dict[str, Any] = {k: None for k in a if k not in b}
    for key, value in b.items():
        if isinstance(value, dict) and isinstance(a.get(key), dict):
            nested = merge_diff(a[key], value)
            if nested:
                diff[key] = nested
        elif key not in a or a[key] != value or type(a[key]) is not type(value):
            diff[key] = value
    return diff


@settings(max_examples=150)
@given(_bodies, _bodies)
def test_merge_patch_with_the_diff_of_two_documents_yields_the_target(a_body, b_body):
    a, b = patient(**a_body), patient(**b_body)
    before = copy.deepcopy(a)
    assert apply_patch(a, MERGE_PATCH, orjson.dumps(merge_diff(a, b))) == b
    assert a == before


def test_merge_patch_sets_merges_replaces_and_deletes():
    resource = patient(
        gender="male",
        birthDate="1974-12-25",
        name=[{"family": "Chalmers"}],
        maritalStatus={"text": "married", "coding": [{"code": "M"}]},
    )
    body = {
        "gender": "female",
        "birthDate": None,
        "name": [{"family": "Windsor"}],
        "maritalStatus": {"coding": None, "text": "divorced"},
        "telecom": [{"value": "555", "use": None}],
        "photo": None,
    }
    patched = apply_patch(resource, MERGE_PATCH, orjson.dumps(body))
    assert patched == patient(
        gender="female",
        name=[{"family": "Windsor"}],
        maritalStatus={"text": "divorced"},
        telecom=[{"value": "555", "use": None}],
    )


@pytest.mark.parametrize(
    "media_type", ["application/json", "application/fhir+json; fhirVersion=4.0", "application/json; charset=utf-8"]
)
def test_partial_object_under_json_media_types_is_a_merge_patch(media_type):
    """What fhirpy's ``patch(**fields)`` sends."""
    patched = apply_patch(patient(active=False), media_type, b'{"active": true, "gender": "other"}')
    assert patched == patient(active=True, gender="other")


def test_merge_patch_cannot_remove_resource_type():
    assert failure(patient(), MERGE_PATCH, {"resourceType": None}) == (
        422,
        outcome("business-rule", "a patch cannot change the resource's resourceType", "resourceType"),
    )


def test_merge_patch_must_be_an_object():
    assert failure(patient(), MERGE_PATCH, [1]) == (400, outcome("invalid", "a merge patch must be a JSON object"))


# -- media types and bodies ------------------------------------------------------------------------

SUPPORTED = (
    "application/json-patch+json, application/merge-patch+json, "
    "or application/fhir+json with a FHIRPath Patch Parameters"
)


@pytest.mark.parametrize(
    ("content_type", "shown"),
    [
        ("text/plain", "text/plain"),
        ("application/fhir+xml", "application/fhir+xml"),
        ("", "a body without Content-Type"),
    ],
)
def test_unsupported_media_type_is_415(content_type, shown):
    assert failure(patient(), content_type, {"active": True}) == (
        415,
        outcome("not-supported", f"PATCH does not accept {shown}: use {SUPPORTED}"),
    )


def test_bad_json_is_400():
    status, body = failure(patient(), JSON_PATCH, b"[{")
    assert status == 400
    assert body["issue"][0]["code"] == "structure"
    assert body["issue"][0]["diagnostics"].startswith("PATCH body is not valid JSON: ")


def test_empty_body_is_400():
    assert failure(patient(), MERGE_PATCH, b"  ") == (400, outcome("required", "PATCH needs a body"))


def test_scalar_body_under_json_is_400():
    assert failure(patient(), "application/json", b"3") == (
        400,
        outcome("invalid", "a merge patch must be a JSON object"),
    )


def test_fhirpath_patch_add_to_primitive_list_keeps_extension_array_aligned():
    resource = patient(name=[{"given": ["a"], "_given": [{"id": "a"}]}])
    patched = fhirpath_patch(resource, operation("add", "Patient.name[0]", name="given", value={"valueString": "b"}))
    assert patched == patient(name=[{"given": ["a", "b"], "_given": [{"id": "a"}, None]}])


def test_fhirpath_patch_add_contained_resource():
    contained = {"resourceType": "Organization", "id": "o", "name": "Acme"}
    patched = fhirpath_patch(patient(), operation("add", "Patient", name="contained", value={"resource": contained}))
    assert patched == patient(contained=[contained])


def test_fhirpath_patch_null_value_is_400():
    op = operation("replace", "Patient.gender", value={"valueCode": None})
    assert fhirpath_failure(patient(gender="male"), op) == (
        400,
        outcome("invalid", "operation value part has a null valueCode", "Parameters.parameter[0]"),
    )

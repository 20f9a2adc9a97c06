"""Whatever JSON arrives, ``validate_resource`` returns or raises a 400 FhirError, never anything else."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from fhir_server.errors import FhirError
from fhir_server.validation import resource_issues, validate_resource

NAMES = st.sampled_from(
    [
        "resourceType", "id", "name", "given", "_given", "family", "gender", "_gender", "birthDate", "extension",
        "url", "valueString", "valueQuantity", "value", "contained", "entry", "resource", "coding", "system", "code",
        "telecom", "deceasedBoolean", "_deceasedDateTime", "item", "linkId", "status", "meta", "text", "div", "x",
    ]
)  # fmt: skip
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=8),
    st.sampled_from(["Patient", "Bundle", "Observation", "male", "2020-01-01", "http://x"]),
)  # fmt: skip
JSON = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(NAMES, inner, max_size=5)),
    max_leaves=30,
)

BASE = {
    "resourceType": "Patient",
    "name": [{"given": ["a"]}],
    "extension": [{"url": "http://x", "valueString": "v"}],
    "contained": [{"resourceType": "Observation", "status": "final", "code": {"text": "t"}}],
}


def _check(resource: Any) -> None:
    try:
        validate_resource(resource)
    except FhirError as error:
        assert error.status == 400 and error.issues == resource_issues(resource)
        assert all(issue.expression and issue.diagnostics.endswith(".") for issue in error.issues)


@given(JSON)
def test_arbitrary_json(value: Any) -> None:
    _check(value)


@given(st.sampled_from(sorted(BASE)), NAMES, JSON)
def test_a_patient_with_arbitrary_parts(top: str, key: str, value: Any) -> None:
    resource = {**BASE, top: value, key: value}
    resource["resourceType"] = "Patient"
    _check(resource)
    _check({"resourceType": "Bundle", "type": "collection", "entry": [{"resource": resource}, {key: value}]})

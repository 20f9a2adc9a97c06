"""Rewriting links between Bundle entries (http://hl7.org/fhir/R4/http.html#trules), as pure functions."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fhir_server.errors import FhirError
from fhir_server.interactions.references import ReferenceRewriter, restful_base
from fhir_server.validation import validate_resource

BASE = "http://test/fhir"
TARGETS = {
    "urn:uuid:6a1ed1b0-0000-4000-8000-000000000001": "Patient/p1",
    "urn:oid:1.2.3.4": "Organization/o1",
    "http://example.org/fhir/Practitioner/tmp": "Practitioner/pr9",
}


def rewritten(resource: dict[str, Any], full_url: str | None = None, strict: bool = True) -> dict[str, Any]:
    copied = copy.deepcopy(resource)
    ReferenceRewriter(dict(TARGETS), BASE, strict=strict).rewrite(copied, full_url)
    return copied


def test_references_uris_narrative_and_contained_resources_are_rewritten():
    resource = {
        "resourceType": "Observation",
        "text": {"status": "generated", "div": '<div><a href="urn:oid:1.2.3.4">org</a><img src="urn:uuid:nope"/></div>'},
        "contained": [{"resourceType": "Specimen", "id": "s", "subject": {"reference": "urn:uuid:6a1ed1b0-0000-4000-8000-000000000001"}}],
        "extension": [{"url": "http://x/ext", "valueReference": {"reference": "urn:oid:1.2.3.4"}},
                      {"url": "http://x/uri", "valueUri": "urn:uuid:6a1ed1b0-0000-4000-8000-000000000001"}],
        "subject": {"reference": "urn:uuid:6a1ed1b0-0000-4000-8000-000000000001", "display": "urn:oid:1.2.3.4"},
        "performer": [{"reference": "http://example.org/fhir/Practitioner/tmp"}, {"reference": "#s"}, {"reference": "Patient/other"}],
        "note": [{"text": "see urn:oid:1.2.3.4"}],
        "instantiatesUri": ["urn:oid:1.2.3.4"],
    }
    assert rewritten(resource) == {
        "resourceType": "Observation",
        "text": {"status": "generated", "div": f'<div><a href="{BASE}/Organization/o1">org</a><img src="urn:uuid:nope"/></div>'},
        "contained": [{"resourceType": "Specimen", "id": "s", "subject": {"reference": "Patient/p1"}}],
        "extension": [{"url": "http://x/ext", "valueReference": {"reference": "Organization/o1"}},
                      {"url": "http://x/uri", "valueUri": f"{BASE}/Patient/p1"}],
        "subject": {"reference": "Patient/p1", "display": f"{BASE}/Organization/o1"},
        "performer": [{"reference": "Practitioner/pr9"}, {"reference": "#s"}, {"reference": "Patient/other"}],
        "note": [{"text": "see urn:oid:1.2.3.4"}],
        "instantiatesUri": [f"{BASE}/Organization/o1"],
    }


def test_the_links_validation_finds_are_rewritten_and_no_other_string():
    """In a transaction the resource is validated first; the walk reports the elements that may
    hold a link (Reference.reference, uri, url, canonical, oid, uuid, xhtml: the spec's list), and
    only those are rewritten: a string element (a display, an identifier's value) keeps its text."""
    oid, uuid = "urn:oid:1.2.3.4", "urn:uuid:6a1ed1b0-0000-4000-8000-000000000001"
    resource = {
        "resourceType": "Observation",
        "meta": {"profile": ["http://x/p", uuid]},
        "text": {"status": "generated", "div": f'<div xmlns="http://www.w3.org/1999/xhtml"><a href="{oid}">org</a></div>'},
        "contained": [{"resourceType": "Specimen", "id": "s", "subject": {"reference": uuid}}],
        "extension": [{"url": "http://x/ext", "valueReference": {"reference": oid}}, {"url": "http://x/uri", "valueUri": uuid}],
        "identifier": [{"system": oid, "value": uuid}],
        "status": "final",
        "_status": {"extension": [{"url": "http://x/why", "valueUrl": oid}]},
        "code": {"coding": [{"system": "http://loinc.org", "code": "1", "display": oid}]},
        "subject": {"reference": uuid, "display": oid},
        "performer": [{"reference": "http://example.org/fhir/Practitioner/tmp"}, {"reference": "#s"}, {"reference": "Patient/other"}],
        "note": [{"text": f"see {oid}"}],
    }
    links: list = []
    validate_resource(resource, links)
    ReferenceRewriter(dict(TARGETS), BASE).rewrite_links(links)
    org, patient = f"{BASE}/Organization/o1", f"{BASE}/Patient/p1"
    assert resource == {
        "resourceType": "Observation",
        "meta": {"profile": ["http://x/p", patient]},
        "text": {"status": "generated", "div": f'<div xmlns="http://www.w3.org/1999/xhtml"><a href="{org}">org</a></div>'},
        "contained": [{"resourceType": "Specimen", "id": "s", "subject": {"reference": "Patient/p1"}}],
        "extension": [{"url": "http://x/ext", "valueReference": {"reference": "Organization/o1"}}, {"url": "http://x/uri", "valueUri": patient}],
        "identifier": [{"system": org, "value": uuid}],
        "status": "final",
        "_status": {"extension": [{"url": "http://x/why", "valueUrl": org}]},
        "code": {"coding": [{"system": "http://loinc.org", "code": "1", "display": oid}]},
        "subject": {"reference": "Patient/p1", "display": oid},
        "performer": [{"reference": "Practitioner/pr9"}, {"reference": "#s"}, {"reference": "Patient/other"}],
        "note": [{"text": f"see {oid}"}],
    }


def test_relative_references_resolve_against_the_entrys_own_full_url():
    resource = {"resourceType": "Observation", "subject": {"reference": "Practitioner/tmp"}}
    assert rewritten(resource, "http://example.org/fhir/Observation/o") == {
        "resourceType": "Observation", "subject": {"reference": "Practitioner/pr9"}}
    assert rewritten(resource, "urn:uuid:6a1ed1b0-0000-4000-8000-000000000009") == resource


def test_unknown_urn_references_are_400_in_a_transaction_and_left_in_a_batch():
    resource = {"resourceType": "Observation", "subject": {"reference": "urn:uuid:unknown"}}
    with pytest.raises(FhirError) as raised:
        rewritten(resource)
    assert raised.value.status == 400
    assert raised.value.outcome() == {"resourceType": "OperationOutcome", "issue": [{
        "severity": "error", "code": "invalid",
        "diagnostics": "The reference 'urn:uuid:unknown' does not match the fullUrl of any entry in the Bundle"}]}
    assert rewritten(resource, strict=False) == resource


def test_conditional_references_are_collected_for_resolution():
    rewriter = ReferenceRewriter({}, BASE)
    resource = {"resourceType": "Observation", "subject": {"reference": "Patient?identifier=s|v"}, "focus": [{"reference": "#x?y"}]}
    rewriter.rewrite(resource)
    assert [(node, key, value) for node, key, value in rewriter.pending] == [
        ({"reference": "Patient?identifier=s|v"}, "reference", "Patient?identifier=s|v")]


@pytest.mark.parametrize(("full_url", "base"), [
    ("http://example.org/fhir/Patient/123", "http://example.org/fhir"),
    ("https://h/a/b/Observation/x.1", "https://h/a/b"),
    ("urn:uuid:1", None), ("http://example.org/fhir/Patient", None), (None, None),
])
def test_restful_base(full_url, base):
    assert restful_base(full_url) == base


JSON_LEAF = st.one_of(st.booleans(), st.integers(), st.sampled_from(["x", "Patient/1", "urn:uuid:other", "#c"]))
KEYS = st.sampled_from(["reference", "valueReference", "subject", "value", "item", "url"])


def json_trees(links: st.SearchStrategy[str]) -> st.SearchStrategy[Any]:
    leaves = st.one_of(JSON_LEAF, links)
    return st.recursive(leaves, lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(KEYS, inner, max_size=4)), max_leaves=25)


def strings(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [s for v in node.values() for s in strings(v)]
    if isinstance(node, list):
        return [s for v in node for s in strings(v)]
    return [node] if isinstance(node, str) else []


@given(json_trees(st.sampled_from(sorted(TARGETS))))
def test_no_string_equal_to_a_full_url_survives_and_nothing_else_changes(tree):
    before = copy.deepcopy(tree)
    after = rewritten({"resourceType": "Basic", "x": tree}, strict=False)["x"]
    assert not set(strings(after)) & set(TARGETS)
    assert len(strings(after)) == len(strings(before))
    for old, new in zip(strings(before), strings(after)):
        if old in TARGETS:
            assert new in (TARGETS[old], f"{BASE}/{TARGETS[old]}")
        else:
            assert new == old

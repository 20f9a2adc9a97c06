"""Bundle entries spliced from stored bytes are valid JSON in every combination of parts."""

from __future__ import annotations

import orjson
from hypothesis import given
from hypothesis import strategies as st

from fhir_server.interactions.rendering import bundle_bytes, entry_bytes

fields = st.dictionaries(st.sampled_from(["fullUrl", "search", "request", "response"]), st.text(max_size=5), max_size=2)
resources = st.none() | st.dictionaries(st.text(max_size=4), st.integers(min_value=-(2**63), max_value=2**63 - 1), max_size=3)


@given(fields, resources, fields)
def test_entry_bytes_is_the_json_of_its_parts(head, resource, tail):
    raw = None if resource is None else orjson.dumps(resource)
    expected = {**head, **({"resource": resource} if resource is not None else {}), **tail}
    assert orjson.loads(entry_bytes(head, raw, tail)) == expected


def test_bundle_bytes_with_and_without_entries():
    entry = entry_bytes({"fullUrl": "u"}, b'{"resourceType":"Patient"}', {"search": {"mode": "match"}})
    assert orjson.loads(bundle_bytes("searchset", [entry], total=1, links=[("self", "s")])) == {
        "resourceType": "Bundle", "type": "searchset", "total": 1, "link": [{"relation": "self", "url": "s"}],
        "entry": [{"fullUrl": "u", "resource": {"resourceType": "Patient"}, "search": {"mode": "match"}}],
    }
    assert orjson.loads(bundle_bytes("history", [])) == {"resourceType": "Bundle", "type": "history"}

"""Keys and fingerprints of identified transactions (pure functions of ``interactions/replay.py``)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from fhir_server.context import RequestContext
from fhir_server.interactions.replay import bundle_key, fingerprint

CTX = RequestContext(base_url="http://test/fhir")


def test_the_key_is_the_identifiers_system_and_value_per_tenant():
    bundle = {"resourceType": "Bundle", "type": "transaction", "identifier": {"system": "urn:x", "value": "42"}}
    assert bundle_key(bundle, CTX) == "urn:x|42"
    assert bundle_key(bundle, RequestContext(base_url="http://test/fhir", tenant="north")) == "north:urn:x|42"
    assert bundle_key({**bundle, "identifier": {"value": "42"}}, CTX) == "|42"
    for identifier in (None, {}, {"system": "urn:x"}, {"system": "urn:x", "value": ""}, {"value": 42}, ["urn:x|42"]):
        assert bundle_key({**bundle, "identifier": identifier}, CTX) is None


INTEGERS = st.integers(min_value=-(2**63), max_value=2**64 - 1)  # what orjson.loads makes of a body's integers
JSON = st.recursive(st.none() | st.booleans() | INTEGERS | st.text(max_size=5),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3), max_leaves=15)


@given(st.dictionaries(st.text(max_size=4), JSON, max_size=6))
def test_the_fingerprint_ignores_key_order_and_nothing_else(bundle):
    reordered = dict(reversed(list(bundle.items())))
    assert fingerprint(reordered) == fingerprint(bundle)
    assert fingerprint({**bundle, "extra-key": 1}) != fingerprint(bundle)

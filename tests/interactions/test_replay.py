"""Keys and fingerprints of identified transactions (pure functions of ``interactions/replay.py``)."""

from __future__ import annotations

import orjson

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


def test_the_fingerprint_is_of_the_bytes_sent_else_of_the_bundle_as_orjson_writes_it():
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": []}
    assert fingerprint(orjson.dumps(bundle), {}) == fingerprint(None, bundle)
    assert fingerprint(b'{"type":"transaction","resourceType":"Bundle","entry":[]}', bundle) != fingerprint(None, bundle)

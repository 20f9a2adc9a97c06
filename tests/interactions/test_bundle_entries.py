"""Reading Bundle.entry.request into what an entry asks for (http://hl7.org/fhir/R4/bundle.html)."""

from __future__ import annotations

import base64

import pytest

from fhir_server.errors import FhirError
from fhir_server.interactions.bundle_entries import Entry, parse_entry
from fhir_server.interactions.messages import FhirRequest

BASE = "http://test/fhir"
PATIENT = {"resourceType": "Patient"}


def parse(request: dict, **entry: object) -> Entry:
    return parse_entry(3, {"request": request, **entry}, BASE)


def test_a_create_with_if_none_exist():
    entry = parse({"method": "POST", "url": "Patient", "ifNoneExist": "Patient?identifier=s|v&_format=json"},
                  fullUrl="urn:uuid:1", resource=PATIENT)
    assert entry == Entry(3, "POST", "Patient", "create", "Patient", None, [], [], "urn:uuid:1", PATIENT,
                          if_none_exist=[("identifier", "s|v")])
    assert (entry.conditional, entry.order, entry.where) == (True, 1, "Bundle.entry[3]")


def test_updates_deletes_and_patches_by_id_and_by_criteria():
    update = parse({"method": "PUT", "url": f"{BASE}/Patient/7", "ifMatch": 'W/"2"'}, resource=PATIENT)
    assert (update.kind, update.resource_type, update.resource_id, update.if_match, update.conditional) == ("update", "Patient", "7", 2, False)
    conditional = parse({"method": "DELETE", "url": "/Patient?identifier=s|v&_pretty=true"})
    assert (conditional.kind, conditional.criteria, conditional.conditional, conditional.order) == (
        "delete", [("identifier", "s|v")], True, 0)
    patch = parse({"method": "PATCH", "url": "Patient/7"},
                  resource={"resourceType": "Binary", "contentType": "application/json-patch+json", "data": base64.b64encode(b"[]").decode()})
    assert (patch.kind, patch.order) == ("patch", 2)


@pytest.mark.parametrize(("method", "url"), [("GET", "Patient/1"), ("HEAD", "Patient"), ("POST", "Patient/_search"),
                                             ("POST", "ValueSet/$expand"), ("GET", "$meta"), ("GET", "metadata")])
def test_reads_searches_and_operations_are_dispatched(method, url):
    assert parse({"method": method, "url": url}).kind == "read"


def test_a_read_entry_carries_its_conditions_as_http_headers():
    entry = parse({"method": "HEAD", "url": "Patient/1?_summary=true", "ifNoneMatch": 'W/"4"',
                   "ifModifiedSince": "2015-08-31T08:14:33+10:00"})
    assert entry.request("return=minimal") == FhirRequest(
        "GET", "Patient/1", [("_summary", "true")],
        {"if-none-match": 'W/"4"', "if-modified-since": "Sun, 30 Aug 2015 22:14:33 GMT", "prefer": "return=minimal"},
    )


@pytest.mark.parametrize(("entry", "status", "diagnostics"), [
    ({"request": {"method": "GET"}}, 400, "Bundle.entry[3].request.url is required"),
    ({"request": {"method": "PUT", "url": "Patient"}, "resource": PATIENT}, 405,
     "Bundle.entry[3]: PUT Patient needs [type]/[id] or [type]?criteria"),
    ({"request": {"method": "POST", "url": "Patient/1"}, "resource": PATIENT}, 405,
     "Bundle.entry[3]: POST Patient/1 is not a create; POST to [type]"),
    ({"request": {"method": "DELETE", "url": "Nothing/1"}}, 404, "Bundle.entry[3]: unknown resource type in 'Nothing/1'"),
    ({"request": {"method": "PUT", "url": "Patient/1", "ifMatch": "W/\"x\""}, "resource": PATIENT}, 400,
     'Bundle.entry[3].request.ifMatch must be a version ETag like W/"3", got \'W/"x"\''),
    ({"request": {"method": "GET", "url": "Patient/1", "ifModifiedSince": "yesterday"}}, 400,
     "Bundle.entry[3].request.ifModifiedSince must be an instant, got 'yesterday'"),
    ({"request": {"method": "PATCH", "url": "Patient/1"}, "resource": PATIENT}, 400,
     "Bundle.entry[3]: a PATCH entry needs a Binary (contentType + data) or a FHIRPath Patch Parameters resource"),
    ({"request": {"method": "PATCH", "url": "Patient/1"}, "resource": {"resourceType": "Binary", "data": "!!"}}, 400,
     "Bundle.entry[3].resource.data is not base64"),
    ({"fullUrl": 7, "request": {"method": "GET", "url": "Patient"}}, 400, "Bundle.entry[3].fullUrl must be a string"),
    ("entry", 400, "Bundle.entry[3] must be a JSON object"),
])
def test_malformed_entries(entry, status, diagnostics):
    with pytest.raises(FhirError) as raised:
        parse_entry(3, entry, BASE)
    assert (raised.value.status, raised.value.issues[0].diagnostics) == (status, diagnostics)

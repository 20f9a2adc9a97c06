"""Query parsing: names and modifiers from the registry, typed values, result parameters, errors."""

from datetime import datetime
from decimal import Decimal

import pytest

from fhir_server.errors import FhirError
from fhir_server.search import model as m
from fhir_server.search.parse import parse_search
from fhir_server.spec.search_parameters import get


def error(rt, params, **kw) -> dict:
    with pytest.raises(FhirError) as err:
        parse_search(rt, params, **kw)
    assert err.value.status == 400
    return err.value.outcome()


def test_clauses_are_typed_and_ored():
    ps = parse_search("Observation", [("code", "a,http://s|b"), ("date", "ge2020"), ("value-quantity", "5||mg")])
    assert ps.clauses == [
        m.Clause(get("Observation", "code"), None, (m.TokenValue(None, "a"), m.TokenValue("http://s", "b", True))),
        m.Clause(
            get("Observation", "date"), None,
            (m.DateValue("ge", datetime(2020, 1, 1), datetime(2020, 12, 31, 23, 59, 59, 999000), "2020"),),
        ),
        m.Clause(get("Observation", "value-quantity"), None, (m.QuantityValue("eq", Decimal("5"), 4.5, 5.5, None, "mg"),)),
    ]  # fmt: skip


def test_unknown_parameter_is_400_unless_lenient():
    assert error("Patient", [("foo", "1")]) == {
        "resourceType": "OperationOutcome",
        "issue": [
            {"severity": "error", "code": "not-supported", "diagnostics": "Unknown search parameter 'foo' for resource type Patient"}
        ],
    }
    ps = parse_search("Patient", [("foo", "1"), ("name", "x")], lenient=True)
    assert ps.ignored == [("foo", "1")]
    assert [c.code for c in ps.clauses] == ["name"]


def test_bad_value_names_the_parameter():
    assert error("Patient", [("birthdate", "2020-13-45")]) == {
        "resourceType": "OperationOutcome",
        "issue": [
            {
                "severity": "error",
                "code": "invalid",
                "diagnostics": "Invalid value '2020-13-45' for search parameter 'birthdate': expected a date such as "
                "2020, 2020-01, 2020-01-31 or 2020-01-31T10:00:00Z",
            }
        ],
    }
    for params in (
        [("value-quantity", "abc")],
        [("value-quantity", "5|x")],
        [("code-value-quantity", "a")],
        [("subject", "Nope/1")],
        [("code:of-type", "x")],
        [("date:missing", "maybe")],
        [("_count", "-1")],
        [("_summary", "maybe")],
        [("_sort", "nope")],
        [("date", "xx2020")],
    ):
        error("Observation", params)


def test_bad_modifier_is_400():
    assert error("Patient", [("name:below", "x")])["issue"][0]["diagnostics"] == (
        "Modifier ':below' is not supported on search parameter 'name' (string)"
    )
    error("Patient", [("gender:exact", "x")])
    error("Observation", [("subject:Medication", "1")])  # not a target of subject
    error("Patient", [("identifier:of-type", "a|b")])


def test_missing_and_reference_type_modifier():
    ps = parse_search("Observation", [("subject:missing", "true"), ("subject:Patient", "1")])
    subject = get("Observation", "subject")
    assert ps.clauses == [
        m.Clause(subject, "missing", (), missing=True),
        m.Clause(subject, "Patient", (m.ReferenceValue(type="Patient", id="1"),), target_type="Patient"),
    ]


def test_chain_and_has_are_nested():
    ps = parse_search("Observation", [("subject:Patient.name", "x"), ("subject.organization.name", "y")])
    assert ps.clauses == []
    first, second = ps.chains
    assert first.param.code == "subject" and list(first.inner) == ["Patient"]
    assert first.inner["Patient"].clauses == [m.Clause(get("Patient", "name"), None, (m.StringValue("x"),))]
    # only the targets of Observation.subject that have an organization parameter
    assert list(second.inner) == ["Device", "Location", "Patient"]
    assert second.inner["Patient"].chains[0].param.code == "organization"
    assert list(second.inner["Patient"].chains[0].inner) == ["Organization"]
    ps = parse_search("Patient", [("_has:Observation:patient:_has:AuditEvent:entity:agent", "Practitioner/1")])
    has = ps.has[0]
    assert (has.source_type, has.ref_param.code) == ("Observation", "patient")
    assert (has.inner.has[0].source_type, has.inner.has[0].ref_param.code) == ("AuditEvent", "entity")
    error("Patient", [("_has:Observation:code:status", "final")])  # code is not a reference
    error("Patient", [("name.family", "x")])  # not a reference: cannot chain
    error("Observation", [("subject.nothing", "x")])


def test_result_parameters():
    ps = parse_search(
        "Patient",
        [
            ("_count", "10"), ("_sort", "-birthdate,name"), ("_include", "Patient:organization"),
            ("_include:iterate", "Organization:partof"), ("_revinclude", "Observation:subject:Patient"),
            ("_summary", "count"), ("_elements", "name,gender"), ("_total", "accurate"), ("_contained", "both"),
            ("_containedType", "contained"), ("_format", "json"),
        ],
    )  # fmt: skip
    assert ps.count == 10
    assert ps.sort == [
        m.SortKey("birthdate", True, get("Patient", "birthdate")),
        m.SortKey("name", False, get("Patient", "name")),
    ]
    assert ps.include == [
        m.Include("Patient", "organization"),
        m.Include("Organization", "partof", None, iterate=True),
    ]
    assert ps.revinclude == [m.Include("Observation", "subject", "Patient", reverse=True)]
    assert (ps.summary, ps.elements, ps.total, ps.contained, ps.contained_type) == (
        "count", ["name", "gender"], "accurate", "both", "contained",
    )  # fmt: skip
    assert ps.other == {"_format": "json"}
    error("Patient", [("_include", "Patient:name")])  # not a reference
    error("Patient", [("_include", "Nope:x")])


def test_system_search_and_type():
    ps = parse_search(None, [("_type", "Patient,Observation"), ("_id", "1")])
    assert ps.types == ["Patient", "Observation"]
    assert ps.clauses[0].code == "_id"
    error(None, [("name", "x")])


def test_empty_value_is_ignored_and_unsupported_params():
    assert parse_search("Patient", [("name", "")]).ignored == [("name", "")]
    assert error("Patient", [("_text", "x")])["issue"][0]["code"] == "not-supported"


def test_near_value():
    ps = parse_search("Location", [("near", "42.25|-83.69|2|[mi_i]")])
    assert ps.clauses[0].values == (m.NearValue(42.25, -83.69, 2 * 1.609344),)
    assert parse_search("Location", [("near", "1|2")]).clauses[0].values == (m.NearValue(1.0, 2.0, 10.0),)
    error("Location", [("near", "1|2|3|parsec")])
    error("Location", [("near", "100|2")])

"""One test per parameter type and modifier, asserting the whole MongoDB filter."""

from datetime import datetime

import pytest

from fhir_server.errors import FhirError
from fhir_server.search.parse import parse_search
from fhir_server.search.plan import translate
from fhir_server.search.translate import Context

NOW = datetime(2020, 1, 1)


def f(rt: str, *params: tuple[str, str], ctx: Context = Context(now=NOW)) -> dict:
    plan = translate(parse_search(rt, list(params)), ctx)
    assert not plan.chains and not plan.has
    return plan.filter


def em(field: str, code: str | dict, *branches: dict) -> dict:
    """The filter of one parameter: one ``$elemMatch`` per alternative, ORed at the top."""
    out = [{field: {"$elemMatch": {"p": code, **branch}}} for branch in branches]
    return out[0] if len(out) == 1 else {"$or": out}


def test_string_default_is_folded_anchored_prefix():
    assert f("Patient", ("name", "Gén é")) == {"_str": {"$elemMatch": {"p": "name", "v": {"$regex": "^gen\\ e"}}}}


def test_string_regex_metacharacters_are_escaped():
    assert f("Patient", ("family", "a.*(b")) == {
        "_str": {"$elemMatch": {"p": "family", "v": {"$regex": "^a\\.\\*\\(b"}}}
    }


def test_string_exact_and_or_values():
    assert f("Patient", ("name:exact", "Peter,Jim")) == em("_str", "name", {"x": {"$in": ["Peter", "Jim"]}})
    assert f("Patient", ("name", "Peter,Jim")) == em("_str", "name", {"v": {"$regex": "^peter"}}, {"v": {"$regex": "^jim"}})


def test_string_contains():
    assert f("Patient", ("address:contains", "Erew")) == {
        "_str": {"$elemMatch": {"p": "address", "v": {"$regex": "erew"}}}
    }


def test_string_escaped_comma_is_one_value():
    assert f("Patient", ("family", "a\\,b")) == {"_str": {"$elemMatch": {"p": "family", "v": {"$regex": "^a,b"}}}}


def test_token_forms():
    assert f("Observation", ("code", "1234,http://loinc.org|8480-6,|x,http://sys|")) == em(
        "_tok", "code", {"c": "1234"}, {"s": "http://loinc.org", "c": "8480-6"}, {"s": None, "c": "x"}, {"s": "http://sys"},
    )
    # alternatives that differ in one value are one $in (one index range scan)
    assert f("Observation", ("code", "http://loinc.org|1,http://loinc.org|2,3,4")) == em(
        "_tok", "code", {"s": "http://loinc.org", "c": {"$in": ["1", "2"]}}, {"c": {"$in": ["3", "4"]}},
    )


def test_token_text():
    assert f("Observation", ("code:text", "Blood Pres")) == {
        "_tok": {"$elemMatch": {"p": "code", "t": {"$regex": "^blood\\ pres"}}}
    }


def test_token_not():
    assert f("Patient", ("gender:not", "male")) == {"$nor": [{"_tok": {"$elemMatch": {"p": "gender", "c": "male"}}}]}


def test_a_parameter_not_stored_matches_the_entries_of_its_members():
    members = {"$in": ["code", "component-code"]}  # combo-code = Observation.code | Observation.component.code
    assert f("Observation", ("combo-code", "http://loinc.org|8480-6")) == em("_tok", members, {"s": "http://loinc.org", "c": "8480-6"})
    assert f("Observation", ("combo-code:not", "x")) == {"$nor": [em("_tok", members, {"c": "x"})]}
    assert f("Observation", ("combo-code:missing", "true")) == {"$nor": [{"_tok": {"$elemMatch": {"p": members}}}]}
    assert f("Observation", ("combo-value-quantity", "gt5")) == em(
        "_qty", {"$in": ["component-value-quantity", "value-quantity"]}, {"hi": {"$gt": 5.0}})


def test_token_in_uses_expansion_hook():
    def expand(url):
        assert url == "http://vs"
        return [("http://loinc.org", "b"), ("http://loinc.org", "a"), ("http://snomed.info/sct", "1")]

    found = em("_tok", "code", {"s": "http://loinc.org", "c": {"$in": ["a", "b"]}}, {"s": "http://snomed.info/sct", "c": {"$in": ["1"]}})
    assert f("Observation", ("code:in", "http://vs"), ctx=Context(expand=expand)) == found
    assert f("Observation", ("code:not-in", "http://vs"), ctx=Context(expand=expand)) == {"$nor": [found]}


def test_token_in_without_hook_is_400():
    with pytest.raises(FhirError) as err:
        f("Observation", ("code:in", "http://vs"))
    assert err.value.status == 400


def test_token_of_type():
    assert f("Patient", ("identifier:of-type", "http://terminology.hl7.org/CodeSystem/v2-0203|MR|12345")) == {
        "_tok": {
            "$elemMatch": {
                "p": "identifier",
                "ys": "http://terminology.hl7.org/CodeSystem/v2-0203",
                "yc": "MR",
                "c": "12345",
            }
        }
    }


def test_id_uses_document_id():
    assert f("Patient", ("_id", "a,b")) == {"_id": {"$in": ["a", "b"]}}


def test_reference_forms():
    assert f("Observation", ("subject", "123,Patient/9,http://other/fhir/Patient/1")) == em(
        "_ref", "subject", {"i": "123"}, {"r": {"$in": ["Patient/9", "http://other/fhir/Patient/1"]}},
    )


def test_reference_type_modifier_and_single_target():
    assert f("Observation", ("subject:Patient", "123")) == {
        "_ref": {"$elemMatch": {"p": "subject", "r": "Patient/123"}}
    }
    # Patient.organization has the single target Organization: an id means Organization/id
    assert f("Patient", ("organization", "1")) == {"_ref": {"$elemMatch": {"p": "organization", "r": "Organization/1"}}}


def test_reference_own_base_url_is_local():
    ctx = Context(base_urls=("http://me/fhir",))
    assert f("Observation", ("subject", "http://me/fhir/Patient/1"), ctx=ctx) == {
        "_ref": {"$elemMatch": {"p": "subject", "r": {"$in": ["http://me/fhir/Patient/1", "Patient/1"]}}}
    }


def test_reference_canonical_version():
    assert f("PlanDefinition", ("definition", "http://x/ActivityDefinition/a|2.0")) == {
        "_ref": {"$elemMatch": {"p": "definition", "r": "http://x/ActivityDefinition/a", "cv": "2.0"}}
    }


def test_reference_identifier():
    assert f("Observation", ("subject:identifier", "http://ids|42")) == {
        "_tok": {"$elemMatch": {"p": "subject", "s": "http://ids", "c": "42"}}
    }


@pytest.mark.parametrize(
    ("prefix", "cond"),
    [
        ("", {"lo": {"$gte": datetime(2020, 1, 1)}, "hi": {"$lte": datetime(2020, 1, 31, 23, 59, 59, 999000)}}),
        ("eq", {"lo": {"$gte": datetime(2020, 1, 1)}, "hi": {"$lte": datetime(2020, 1, 31, 23, 59, 59, 999000)}}),
        ("ne", {"$or": [{"lo": {"$lt": datetime(2020, 1, 1)}}, {"hi": {"$gt": datetime(2020, 1, 31, 23, 59, 59, 999000)}}]}),
        ("gt", {"hi": {"$gt": datetime(2020, 1, 31, 23, 59, 59, 999000)}}),
        ("lt", {"lo": {"$lt": datetime(2020, 1, 1)}}),
        ("ge", {"$or": [
            {"hi": {"$gt": datetime(2020, 1, 31, 23, 59, 59, 999000)}},
            {"lo": {"$gte": datetime(2020, 1, 1)}, "hi": {"$lte": datetime(2020, 1, 31, 23, 59, 59, 999000)}},
        ]}),
        ("le", {"$or": [
            {"lo": {"$lt": datetime(2020, 1, 1)}},
            {"lo": {"$gte": datetime(2020, 1, 1)}, "hi": {"$lte": datetime(2020, 1, 31, 23, 59, 59, 999000)}},
        ]}),
        ("sa", {"lo": {"$gt": datetime(2020, 1, 31, 23, 59, 59, 999000)}}),
        ("eb", {"hi": {"$lt": datetime(2020, 1, 1)}}),
    ],
)  # fmt: skip
def test_date_prefixes(prefix, cond):
    assert f("Patient", ("birthdate", prefix + "2020-01")) == em("_dt", "birthdate", *cond.get("$or", [cond]))


def test_date_ap_uses_ten_percent_of_gap_to_now():
    # 2010-01-01 is 3652 days before NOW: tolerance 365.2 days
    from datetime import timedelta

    tol = (NOW - datetime(2010, 1, 1)) / 10
    assert f("Patient", ("birthdate", "ap2010-01-01")) == {
        "_dt": {
            "$elemMatch": {
                "p": "birthdate",
                "lo": {"$lte": datetime(2010, 1, 1, 23, 59, 59, 999000) + tol},
                "hi": {"$gte": datetime(2010, 1, 1) - tol},
            }
        }
    }
    assert tol == timedelta(days=365, hours=4, minutes=48)


def test_date_with_timezone_is_utc():
    assert f("Observation", ("date", "2020-01-01T10:00:00+02:00")) == {
        "_dt": {
            "$elemMatch": {
                "p": "date",
                "lo": {"$gte": datetime(2020, 1, 1, 8, 0, 0)},
                "hi": {"$lte": datetime(2020, 1, 1, 8, 0, 0, 999000)},
            }
        }
    }


def test_last_updated_uses_ts():
    assert f("Patient", ("_lastUpdated", "gt2020-01-01")) == {"ts": {"$gt": datetime(2020, 1, 1, 23, 59, 59, 999000)}}
    assert f("Patient", ("_lastUpdated", "2020")) == {
        "ts": {"$gte": datetime(2020, 1, 1), "$lte": datetime(2020, 12, 31, 23, 59, 59, 999000)}
    }


def test_number_prefixes():
    assert f("RiskAssessment", ("probability", "100")) == {
        "_num": {"$elemMatch": {"p": "probability", "lo": {"$gte": 99.5}, "hi": {"$lt": 100.5}}}
    }
    assert f("RiskAssessment", ("probability", "0.80")) == {
        "_num": {"$elemMatch": {"p": "probability", "lo": {"$gte": 0.795}, "hi": {"$lt": 0.805}}}
    }
    assert f("RiskAssessment", ("probability", "ne1e2")) == em("_num", "probability", {"lo": {"$lt": 50.0}}, {"hi": {"$gte": 150.0}})
    assert f("RiskAssessment", ("probability", "gt0.8,le0.1,sa3,eb4,lt5,ge6,ap10")) == em(
        "_num", "probability",
        {"hi": {"$gt": 0.8}}, {"lo": {"$lte": 0.1}}, {"lo": {"$gt": 3.0}}, {"hi": {"$lt": 4.0}}, {"lo": {"$lt": 5.0}},
        {"hi": {"$gte": 6.0}}, {"lo": {"$lte": 11.0}, "hi": {"$gte": 9.0}},
    )


def test_quantity_units():
    assert f("Observation", ("value-quantity", "5.4|http://unitsofmeasure.org|mg")) == {
        "_qty": {
            "$elemMatch": {
                "p": "value-quantity",
                "lo": {"$gte": 5.35},
                "hi": {"$lt": 5.45},
                "s": "http://unitsofmeasure.org",
                "c": "mg",
            }
        }
    }
    # no system: the code or the human unit, both indexed as c (the unit as an entry without system)
    assert f("Observation", ("value-quantity", "lt5.4||mg")) == em("_qty", "value-quantity", {"lo": {"$lt": 5.4}, "c": "mg"})
    assert f("Observation", ("value-quantity", "ne5||mg")) == em(
        "_qty", "value-quantity", {"lo": {"$lt": 4.5}, "c": "mg"}, {"hi": {"$gte": 5.5}, "c": "mg"},
    )


def test_uri_modifiers():
    assert f("ValueSet", ("url", "http://a/b")) == {"_uri": {"$elemMatch": {"p": "url", "v": "http://a/b"}}}
    assert f("ValueSet", ("url:below", "http://a/b")) == {
        "_uri": {"$elemMatch": {"p": "url", "v": {"$regex": "^http://a/b"}}}
    }
    assert f("ValueSet", ("url:above", "http://a/b/c/d")) == {
        "_uri": {"$elemMatch": {"p": "url", "v": {"$in": ["http://a/b/c/d", "http://a/b/c", "http://a/b", "http://a"]}}}
    }


def test_composite():
    assert f("Observation", ("code-value-quantity", "http://loinc.org|8480-6$gt100||mm[Hg]")) == em(
        "_cmp", "code-value-quantity", {"c0.s": "http://loinc.org", "c0.c": "8480-6", "c1.hi": {"$gt": 100.0}, "c1.c": "mm[Hg]"},
    )
    assert f("Observation", ("code-value-quantity", "8480-6$ne100")) == em(
        "_cmp", "code-value-quantity", {"c0.c": "8480-6", "c1.lo": {"$lt": 99.5}}, {"c0.c": "8480-6", "c1.hi": {"$gte": 100.5}},
    )


def test_composite_token_date():
    assert f("Group", ("characteristic-value", "gender$male")) == {
        "_cmp": {"$elemMatch": {"p": "characteristic-value", "c0.c": "gender", "c1.c": "male"}}
    }


@pytest.mark.parametrize(
    ("param", "field"),
    [("name", "_str"), ("gender", "_tok"), ("organization", "_ref"), ("birthdate", "_dt")],
)
def test_missing(param, field):
    assert f("Patient", (f"{param}:missing", "true")) == {"$nor": [{field: {"$elemMatch": {"p": param}}}]}
    assert f("Patient", (f"{param}:missing", "false")) == {field: {"$elemMatch": {"p": param}}}


def test_missing_other_types():
    assert f("Observation", ("value-quantity:missing", "true")) == {
        "$nor": [{"_qty": {"$elemMatch": {"p": "value-quantity"}}}]
    }
    assert f("RiskAssessment", ("probability:missing", "false")) == {"_num": {"$elemMatch": {"p": "probability"}}}
    assert f("ValueSet", ("url:missing", "false")) == {"_uri": {"$elemMatch": {"p": "url"}}}
    assert f("Observation", ("code-value-quantity:missing", "false")) == {
        "_cmp": {"$elemMatch": {"p": "code-value-quantity"}}
    }
    assert f("Location", ("near:missing", "true")) == {"_geo": {"$exists": False}}


def test_near_bounding_box():
    import math

    from fhir_server.search.geo import KM_PER_DEGREE

    dlon = 1 / math.cos(math.radians(1.0))
    assert f("Location", ("near", f"0|10|{KM_PER_DEGREE!r}|km")) == {
        "_geo.lat": {"$gte": -1.0, "$lte": 1.0},
        "_geo.lon": {"$gte": 10 - dlon, "$lte": 10 + dlon},
    }
    # distance in metres, and a box across the antimeridian
    got = f("Location", ("near", f"0|179.5|{KM_PER_DEGREE * 1000!r}|m"))
    assert got == {
        "_geo.lat": {"$gte": -1.0, "$lte": 1.0},
        "$or": [{"_geo.lon": {"$gte": 179.5 - dlon}}, {"_geo.lon": {"$lte": 179.5 + dlon - 360}}],
    }


def test_and_of_repeated_parameters():
    assert f("Patient", ("given", "a"), ("given", "b")) == {
        "$and": [
            {"_str": {"$elemMatch": {"p": "given", "v": {"$regex": "^a"}}}},
            {"_str": {"$elemMatch": {"p": "given", "v": {"$regex": "^b"}}}},
        ]
    }


def test_common_tag_and_profile():
    assert f("Patient", ("_tag", "http://t|x"), ("_profile", "http://p")) == {
        "$and": [
            {"_tok": {"$elemMatch": {"p": "_tag", "s": "http://t", "c": "x"}}},
            {"_uri": {"$elemMatch": {"p": "_profile", "v": "http://p"}}},
        ]
    }

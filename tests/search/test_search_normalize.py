"""Folding, implicit ranges (dates, decimals), and property tests over them."""

from datetime import datetime

import mongomock
from hypothesis import given, settings
from hypothesis import strategies as st

from fhir_server.search.index import extract_index
from fhir_server.search.normalize import date_range, decimal_range, fold, parse_decimal
from fhir_server.search.parse import parse_search
from fhir_server.search.plan import translate


def test_fold():
    assert fold("  Bénédicte   du\tMarché ") == "benedicte du marche"
    assert fold("ÅNGSTRÖM") == "angstrom"
    assert fold("Straße") == "strasse"


def test_date_ranges_of_every_precision():
    assert date_range("2020") == (datetime(2020, 1, 1), datetime(2020, 12, 31, 23, 59, 59, 999000))
    assert date_range("2020-02") == (datetime(2020, 2, 1), datetime(2020, 2, 29, 23, 59, 59, 999000))
    assert date_range("2020-02-03") == (datetime(2020, 2, 3), datetime(2020, 2, 3, 23, 59, 59, 999000))
    assert date_range("2020-02-03T04:05Z") == (datetime(2020, 2, 3, 4, 5), datetime(2020, 2, 3, 4, 5, 59, 999000))
    assert date_range("2020-02-03T04:05:06-05:00") == (
        datetime(2020, 2, 3, 9, 5, 6),
        datetime(2020, 2, 3, 9, 5, 6, 999000),
    )
    assert date_range("2020-02-03T04:05:06.5Z") == (
        datetime(2020, 2, 3, 4, 5, 6, 500000),
        datetime(2020, 2, 3, 4, 5, 6, 599000),
    )
    assert date_range("2020-02-03T04:05:06.12Z") == (
        datetime(2020, 2, 3, 4, 5, 6, 120000),
        datetime(2020, 2, 3, 4, 5, 6, 129000),
    )
    assert date_range("2020-02-03T04:05:06.1234567Z") == (  # BSON stores milliseconds
        datetime(2020, 2, 3, 4, 5, 6, 123000),
        datetime(2020, 2, 3, 4, 5, 6, 123000),
    )
    for bad in ("2020-13", "2020-02-30", "20", "2020-01-01T25:00:00Z", "2020-1-1", "now"):
        assert date_range(bad) is None


def test_decimal_ranges():
    assert decimal_range(parse_decimal("100")) == (99.5, 100.5)
    assert decimal_range(parse_decimal("100.00")) == (99.995, 100.005)
    assert decimal_range(parse_decimal("1e2")) == (50.0, 150.0)
    assert decimal_range(parse_decimal("0.1")) == (0.05, 0.15)
    assert parse_decimal("1,5") is None and parse_decimal("nan") is None


dates = st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30))
offsets = st.sampled_from(["Z", "+00:00", "-05:00", "+14:00", "+05:30", ""])


@st.composite
def fhir_dates(draw) -> str:
    d = draw(dates)
    precision = draw(st.integers(0, 5))
    text = [f"{d.year:04d}", f"{d.year:04d}-{d.month:02d}", f"{d.year:04d}-{d.month:02d}-{d.day:02d}"]
    if precision < 3:
        return text[precision]
    time = f"T{d.hour:02d}:{d.minute:02d}"
    if precision >= 4:
        time += f":{d.second:02d}"
    if precision == 5:
        time += "." + str(d.microsecond).rjust(6, "0")[: draw(st.integers(1, 6))]
    return text[2] + time + draw(offsets)


@given(fhir_dates())
def test_any_date_has_an_ordered_range(text):
    rng = date_range(text)
    assert rng is not None
    assert rng[0] <= rng[1]


@settings(max_examples=60, deadline=None)
@given(fhir_dates())
def test_a_date_matches_its_own_eq_search_and_not_ne(text):
    coll = mongomock.MongoClient().db.Patient
    if "T" in text:  # birthDate is a date; use an Observation effectiveDateTime for times
        coll = mongomock.MongoClient().db.Observation
        res = {"resourceType": "Observation", "effectiveDateTime": text}
        code = "date"
    else:
        res = {"resourceType": "Patient", "birthDate": text}
        code = "birthdate"
    coll.insert_one({"_id": "x", **extract_index(res)})
    for prefix, hits in (("", ["x"]), ("eq", ["x"]), ("ne", []), ("ge", ["x"]), ("le", ["x"]), ("sa", []), ("eb", [])):
        flt = translate(parse_search(res["resourceType"], [(code, prefix + text)])).filter
        assert [d["_id"] for d in coll.find(flt)] == hits, (prefix, text)


@given(st.decimals(allow_nan=False, allow_infinity=False, places=3, min_value=-1e6, max_value=1e6))
def test_a_number_matches_its_own_eq_search(value):
    text = str(value)
    coll = mongomock.MongoClient().db.RiskAssessment
    res = {"resourceType": "RiskAssessment", "prediction": [{"probabilityDecimal": float(text)}]}
    coll.insert_one({"_id": "x", **extract_index(res)})
    for prefix, hits in (("", ["x"]), ("ne", []), ("ge", ["x"]), ("le", ["x"]), ("gt", []), ("lt", []), ("ap", ["x"])):
        flt = translate(parse_search("RiskAssessment", [("probability", prefix + text)])).filter
        assert [d["_id"] for d in coll.find(flt)] == hits, (prefix, text)


@given(st.text(min_size=1, max_size=20).filter(lambda s: s.strip() and "," not in s and "\\" not in s))
def test_any_string_matches_itself_and_its_prefix(text):
    coll = mongomock.MongoClient().db.Patient
    coll.insert_one({"_id": "x", **extract_index({"resourceType": "Patient", "name": [{"family": text}]})})
    for query in (text, text[: max(1, len(text) // 2)]):
        if not fold(query):
            continue
        flt = translate(parse_search("Patient", [("family", query)])).filter
        assert [d["_id"] for d in coll.find(flt)] == ["x"], query
    flt = translate(parse_search("Patient", [("family:exact", text)])).filter
    assert [d["_id"] for d in coll.find(flt)] == ["x"]

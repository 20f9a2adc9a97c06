"""Write-time index extraction: the whole index of the official Patient example, and edge cases."""

from datetime import datetime

import orjson
import pytest

from fhir_server.search.index import extract_index
from fhir_server.search.normalize import DT_MAX, DT_MIN, NUM_MAX
from fhir_server.spec.official_package import package_dir


def official(name: str) -> dict:
    pkg = package_dir()
    if pkg is None:
        pytest.skip("official R4 examples package unavailable (npm registry unreachable)")
    return orjson.loads((pkg / name).read_bytes())


def test_official_patient_example_whole_index():
    assert extract_index(official("Patient-example.json")) == EXPECTED_PATIENT


def test_dates_precision_timezone_and_open_period():
    res = {"resourceType": "Encounter", "period": {"start": "2020-03-01T10:00:00+02:00"}}
    assert extract_index(res)["_dt"] == [{"lo": datetime(2020, 3, 1, 8, 0), "hi": DT_MAX, "p": "date"}]
    res = {"resourceType": "Encounter", "period": {"end": "2020-02"}}
    assert extract_index(res)["_dt"] == [{"lo": DT_MIN, "hi": datetime(2020, 2, 29, 23, 59, 59, 999000), "p": "date"}]
    pat = {"resourceType": "Patient", "birthDate": "1980"}
    assert extract_index(pat)["_dt"] == [
        {"lo": datetime(1980, 1, 1), "hi": datetime(1980, 12, 31, 23, 59, 59, 999000), "p": "birthdate"}
    ]
    obs = {"resourceType": "Observation", "effectiveDateTime": "2021-05-06T07:08:09.12Z"}
    assert extract_index(obs)["_dt"] == [
        {"lo": datetime(2021, 5, 6, 7, 8, 9, 120000), "hi": datetime(2021, 5, 6, 7, 8, 9, 129000), "p": "date"}
    ]
    naive = {"resourceType": "Observation", "effectiveDateTime": "2021-05-06T07:08"}  # no timezone: UTC
    assert extract_index(naive)["_dt"] == [
        {"lo": datetime(2021, 5, 6, 7, 8), "hi": datetime(2021, 5, 6, 7, 8, 59, 999000), "p": "date"}
    ]


def test_timing_events_and_bounds():
    req = {
        "resourceType": "MedicationRequest",
        "dosageInstruction": [],
        "authoredOn": "2020-01-02",
    }
    assert extract_index(req)["_dt"] == [
        {"lo": datetime(2020, 1, 2), "hi": datetime(2020, 1, 2, 23, 59, 59, 999000), "p": "authoredon"}
    ]
    proc = {
        "resourceType": "CarePlan",
        "activity": [{"detail": {"scheduledTiming": {"event": ["2020-05-01"], "repeat": {"boundsPeriod": {"start": "2020-06"}}}}}],
    }
    assert extract_index(proc)["_dt"] == [
        {"lo": datetime(2020, 5, 1), "hi": datetime(2020, 5, 1, 23, 59, 59, 999000), "p": "activity-date"},
        {"lo": datetime(2020, 6, 1), "hi": DT_MAX, "p": "activity-date"},
    ]


def test_multiple_identifiers_and_accents():
    pat = {
        "resourceType": "Patient",
        "identifier": [
            {"system": "http://a", "value": "1"},
            {"system": "http://b", "value": "2", "type": {"text": "Médical Record"}},
        ],
        "name": [{"family": "Éléonore  du   Marché", "given": ["Zoë"]}],
    }
    idx = extract_index(pat)
    assert idx["_tok"] == [
        {"s": None, "c": "false", "t": None, "p": "deceased"},  # "deceased.exists() and deceased != false"
        {"s": "http://a", "c": "1", "t": None, "p": "identifier"},
        {"s": "http://b", "c": "2", "t": "medical record", "p": "identifier"},
    ]
    assert idx["_str"] == [
        {"v": "eleonore du marche", "x": "Éléonore  du   Marché", "p": "family"},
        {"v": "zoe", "x": "Zoë", "p": "given"},
        {"v": "eleonore du marche", "x": "Éléonore  du   Marché", "p": "name"},
        {"v": "zoe", "x": "Zoë", "p": "name"},
        # phonetic: the Soundex code of each word
        {"v": "e456", "x": "eleonore", "p": "phonetic"},
        {"v": "d000", "x": "du", "p": "phonetic"},
        {"v": "m620", "x": "marche", "p": "phonetic"},
        {"v": "z000", "x": "zoe", "p": "phonetic"},
    ]
    assert idx["_sort"] == {
        "deceased": "false", "family": "eleonore du marche", "given": "zoe", "identifier": "1", "name": "eleonore du marche",
        "phonetic": "d000",
    }  # fmt: skip
    assert idx["_sortd"] == {  # _sort=-code orders by the largest value
        "deceased": "false", "family": "eleonore du marche", "given": "zoe", "identifier": "2", "name": "zoe",
        "phonetic": "z000",
    }  # fmt: skip


def test_observation_value_quantity_reference_and_composite():
    obs = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "8480-6", "display": "Systolic"}], "text": "SBP"},
        "subject": {"reference": "Patient/p1"},
        "performer": [{"identifier": {"system": "http://npi", "value": "99"}}],
        "valueQuantity": {"value": 120, "unit": "mmHg", "system": "http://unitsofmeasure.org", "code": "mm[Hg]"},
    }
    idx = extract_index(obs)
    q = {"v": 120.0, "lo": 120.0, "hi": 120.0, "s": "http://unitsofmeasure.org", "c": "mm[Hg]"}
    unit = {**q, "s": None, "c": "mmHg"}  # the human unit, matched by 120||mmHg
    code = {"s": "http://loinc.org", "c": "8480-6", "t": "systolic"}
    assert idx == {
        "_tok": [
            {**code, "p": "code"},
            {"s": None, "c": None, "t": "sbp", "p": "code"},
            {"s": "http://npi", "c": "99", "t": None, "p": "performer"},
            {"s": None, "c": "final", "t": None, "p": "status"},
        ],  # combo-* are answered from their members' entries (code | component-code ...): not stored
        "_cmp": [  # components by position: c0 = code, c1 = value
            {"p": "code-value-quantity", "c0": code, "c1": q},
            {"p": "code-value-quantity", "c0": code, "c1": unit},
        ],
        "_qty": [{**q, "p": "value-quantity"}, {**unit, "p": "value-quantity"}],
        "_ref": [
            {"r": "Patient/p1", "t": "Patient", "i": "p1", "p": "patient"},
            {"r": None, "p": "performer"},
            {"r": "Patient/p1", "t": "Patient", "i": "p1", "p": "subject"},
        ],
        "_sort": {
            "code": "8480-6", "combo-code": "8480-6", "combo-value-quantity": 120.0, "patient": "Patient/p1",
            "status": "final", "subject": "Patient/p1", "value-quantity": 120.0,
        },
        "_sortd": {
            "code": "8480-6", "combo-code": "8480-6", "combo-value-quantity": 120.0, "patient": "Patient/p1",
            "status": "final", "subject": "Patient/p1", "value-quantity": 120.0,
        },
    }  # fmt: skip


def test_range_canonical_geo_and_meta():
    res = {
        "resourceType": "Library",
        "url": "http://x/Library/l",
        "useContext": [{"code": {"code": "age"}, "valueRange": {"low": {"value": 18, "unit": "a"}}}],
        "relatedArtifact": [{"type": "depends-on", "resource": "http://x/Library/dep|1.2"}],
        "meta": {"lastUpdated": "2020-01-01T00:00:00Z", "tag": [{"system": "http://t", "code": "x"}]},
    }
    idx = extract_index(res)
    assert idx["_qty"] == [
        {"v": None, "lo": 18.0, "hi": NUM_MAX, "s": None, "c": None, "p": "context-quantity"},
        {"v": None, "lo": 18.0, "hi": NUM_MAX, "s": None, "c": "a", "p": "context-quantity"},
    ]
    assert idx["_ref"] == [{"r": "http://x/Library/dep", "cv": "1.2", "p": "depends-on"}]
    assert idx["_uri"] == [{"v": "http://x/Library/l", "p": "url"}]
    assert idx["_tok"] == [
        {"s": "http://t", "c": "x", "t": None, "p": "_tag"},
        {"s": None, "c": "age", "t": None, "p": "context-type"},
    ]
    assert "_dt" not in idx  # _lastUpdated is answered from the document's ts
    loc = {"resourceType": "Location", "position": {"latitude": 42.25, "longitude": -83.69}}
    assert extract_index(loc) == {"_geo": {"lat": 42.25, "lon": -83.69}}


def test_unknown_type_and_garbage_do_not_raise():
    assert extract_index({"resourceType": "NotAType"}) == {}
    garbage = {"resourceType": "Patient", "birthDate": "yesterday", "name": "oops", "identifier": [1, None, {}]}
    assert extract_index(garbage) == {
        "_tok": [
            {"s": None, "c": "false", "t": None, "p": "deceased"},
            {"s": None, "c": "1", "t": None, "p": "identifier"},
        ],
        "_str": [{"v": "oops", "x": "oops", "p": "name"}, {"v": "o120", "x": "oops", "p": "phonetic"}],
        "_sort": {"deceased": "false", "identifier": "1", "name": "oops", "phonetic": "o120"},
        "_sortd": {"deceased": "false", "identifier": "1", "name": "oops", "phonetic": "o120"},
    }



EXPECTED_PATIENT = (
{'_tok': [{'s': None, 'c': 'true', 't': None, 'p': 'active'},
          {'s': None, 'c': 'home', 't': None, 'p': 'address-use'},
          {'s': None, 'c': 'false', 't': None, 'p': 'deceased'},
          {'s': None, 'c': 'male', 't': None, 'p': 'gender'},
          {'s': 'urn:oid:1.2.36.146.595.217.0.1',
           'c': '12345',
           't': None,
           'ys': 'http://terminology.hl7.org/CodeSystem/v2-0203',
           'yc': 'MR',
           'p': 'identifier'},
          {'s': 'phone', 'c': '(03) 5555 6473', 't': None, 'p': 'phone'},
          {'s': 'phone', 'c': '(03) 3410 5613', 't': None, 'p': 'phone'},
          {'s': 'phone', 'c': '(03) 5555 8834', 't': None, 'p': 'phone'},
          {'s': 'phone', 'c': '(03) 5555 6473', 't': None, 'p': 'telecom'},
          {'s': 'phone', 'c': '(03) 3410 5613', 't': None, 'p': 'telecom'},
          {'s': 'phone', 'c': '(03) 5555 8834', 't': None, 'p': 'telecom'}],
 '_str': [{'v': '534 erewhon st', 'x': '534 Erewhon St', 'p': 'address'},
          {'v': 'pleasantville', 'x': 'PleasantVille', 'p': 'address'},
          {'v': 'rainbow', 'x': 'Rainbow', 'p': 'address'},
          {'v': 'vic', 'x': 'Vic', 'p': 'address'},
          {'v': '3999', 'x': '3999', 'p': 'address'},
          {'v': '534 erewhon st peasantville, rainbow, vic 3999',
           'x': '534 Erewhon St PeasantVille, Rainbow, Vic  3999',
           'p': 'address'},
          {'v': 'pleasantville', 'x': 'PleasantVille', 'p': 'address-city'},
          {'v': '3999', 'x': '3999', 'p': 'address-postalcode'},
          {'v': 'vic', 'x': 'Vic', 'p': 'address-state'},
          {'v': 'chalmers', 'x': 'Chalmers', 'p': 'family'},
          {'v': 'windsor', 'x': 'Windsor', 'p': 'family'},
          {'v': 'peter', 'x': 'Peter', 'p': 'given'},
          {'v': 'james', 'x': 'James', 'p': 'given'},
          {'v': 'jim', 'x': 'Jim', 'p': 'given'},
          {'v': 'chalmers', 'x': 'Chalmers', 'p': 'name'},
          {'v': 'peter', 'x': 'Peter', 'p': 'name'},
          {'v': 'james', 'x': 'James', 'p': 'name'},
          {'v': 'jim', 'x': 'Jim', 'p': 'name'},
          {'v': 'windsor', 'x': 'Windsor', 'p': 'name'},
          {'v': 'c456', 'x': 'chalmers', 'p': 'phonetic'},
          {'v': 'p360', 'x': 'peter', 'p': 'phonetic'},
          {'v': 'j520', 'x': 'james', 'p': 'phonetic'},
          {'v': 'j500', 'x': 'jim', 'p': 'phonetic'},
          {'v': 'w532', 'x': 'windsor', 'p': 'phonetic'}],
 '_dt': [{'lo': datetime(1974, 12, 25, 0, 0),
          'hi': datetime(1974, 12, 25, 23, 59, 59, 999000),
          'p': 'birthdate'}],
 '_ref': [{'r': 'Organization/1', 't': 'Organization', 'i': '1', 'p': 'organization'}],
 '_sort': {'active': 'true',
           'address': '3999',
           'address-city': 'pleasantville',
           'address-postalcode': '3999',
           'address-state': 'vic',
           'address-use': 'home',
           'birthdate': datetime(1974, 12, 25, 0, 0),
           'deceased': 'false',
           'family': 'chalmers',
           'gender': 'male',
           'given': 'james',
           'identifier': '12345',
           'name': 'chalmers',
           'organization': 'Organization/1',
           'phone': '(03) 3410 5613',
           'phonetic': 'c456',
           'telecom': '(03) 3410 5613'},
 '_sortd': {'active': 'true',
            'address': 'vic',
            'address-city': 'pleasantville',
            'address-postalcode': '3999',
            'address-state': 'vic',
            'address-use': 'home',
            'birthdate': datetime(1974, 12, 25, 0, 0),
            'deceased': 'false',
            'family': 'windsor',
            'gender': 'male',
            'given': 'peter',
            'identifier': '12345',
            'name': 'windsor',
            'organization': 'Organization/1',
            'phone': '(03) 5555 8834',
            'phonetic': 'w532',
            'telecom': '(03) 5555 8834'}}
)

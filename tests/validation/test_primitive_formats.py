"""Property tests of the R4 primitive checks (http://hl7.org/fhir/R4/datatypes.html#primitive).

Each property compares a checker with an independent oracle (Python's calendar, base64, uuid, or
a hand-written rule) over generated valid values and mutations of them.
"""

from __future__ import annotations

import base64
import datetime as dt
import string

from hypothesis import assume, given
from hypothesis import strategies as st

from fhir_server.validation import primitives as p

INT32 = st.integers(min_value=p.INT32_MIN, max_value=p.INT32_MAX)
XML_WHITESPACE = " \t\n\r\f\v"

dates = st.dates(min_value=dt.date(1, 1, 1), max_value=dt.date(9999, 12, 31))
# R4 offsets run from -14:00 to +14:00, minutes 00-59 (14 only with :00).
offsets = st.integers(min_value=-14 * 60, max_value=14 * 60)
times = st.times()


def zone(minutes: int, utc_as_z: bool) -> str:
    if minutes == 0 and utc_as_z:
        return "Z"
    sign = "-" if minutes < 0 else "+"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def clock(t: dt.time, fraction: bool) -> str:
    text = t.strftime("%H:%M:%S")
    return f"{text}.{t.microsecond:06d}" if fraction else text


def ok(result: object) -> bool:
    return result is None


@given(dates, st.sampled_from([4, 7, 10]))
def test_valid_dates_at_every_precision_are_accepted(day: dt.date, length: int) -> None:
    text = day.isoformat()[:length]
    assert ok(p.check_date(text))
    assert ok(p.check_date_time(text))


@given(st.integers(0, 10_999), st.integers(0, 99), st.integers(0, 99))
def test_a_full_date_is_valid_exactly_when_it_is_a_calendar_day(year: int, month: int, day: int) -> None:
    text = f"{year:04d}-{month:02d}-{day:02d}"
    try:
        real = dt.date(year, month, day).isoformat() == text
    except ValueError:
        real = False
    assert ok(p.check_date(text)) == real
    assert ok(p.check_date_time(text)) == real


@given(dates, times, offsets, st.booleans(), st.booleans())
def test_valid_date_times_and_instants_are_accepted(day: dt.date, t: dt.time, offset: int, frac: bool, z: bool) -> None:
    text = f"{day.isoformat()}T{clock(t, frac)}{zone(offset, z)}"
    assert ok(p.check_date_time(text))
    assert ok(p.check_instant(text))


@given(dates, times, st.booleans())
def test_a_time_without_zone_is_not_a_date_time(day: dt.date, t: dt.time, frac: bool) -> None:
    text = f"{day.isoformat()}T{clock(t, frac)}"
    assert not ok(p.check_date_time(text))
    assert not ok(p.check_instant(text))
    assert ok(p.check_time(clock(t, frac)))


@given(dates, times, offsets, st.data())
def test_mutated_date_times_are_rejected(day: dt.date, t: dt.time, offset: int, data: st.DataObject) -> None:
    text = f"{day.isoformat()}T{clock(t, False)}{zone(offset, True)}"
    position = data.draw(st.integers(0, len(text) - 1))
    mutation = data.draw(st.sampled_from(["drop", "letter", "space", "double"]))
    if mutation == "drop":
        mutated = text[:position] + text[position + 1 :]
    elif mutation == "letter":
        mutated = text[:position] + "x" + text[position + 1 :]
    elif mutation == "space":
        mutated = text[:position] + " " + text[position:]
    else:
        mutated = text[:position] + text[position] + text[position:]
    assume(mutated != text)
    assert not ok(p.check_date_time(mutated))
    assert not ok(p.check_instant(mutated))


@given(st.integers(0, 99), st.integers(0, 99), st.integers(0, 99))
def test_times_are_valid_exactly_in_range(hour: int, minute: int, second: int) -> None:
    assert ok(p.check_time(f"{hour:02d}:{minute:02d}:{second:02d}")) == (hour < 24 and minute < 60 and second <= 60)


@given(st.integers())
def test_integers(value: int) -> None:
    assert ok(p.check_integer(value)) == (p.INT32_MIN <= value <= p.INT32_MAX)
    assert ok(p.check_unsigned_int(value)) == (0 <= value <= p.INT32_MAX)
    assert ok(p.check_positive_int(value)) == (1 <= value <= p.INT32_MAX)


@given(st.one_of(st.floats(allow_nan=False, allow_infinity=False), st.text(), st.booleans(), st.none()))
def test_non_integers_are_not_integers(value: object) -> None:
    assert not ok(p.check_integer(value))
    assert not ok(p.check_positive_int(value))


@given(st.one_of(INT32, st.floats(allow_nan=False, allow_infinity=False)))
def test_numbers_are_decimals(value: float) -> None:
    assert ok(p.check_decimal(value))


@given(st.one_of(st.text(), st.booleans(), st.none(), st.lists(st.integers())))
def test_other_json_types_are_not_decimals(value: object) -> None:
    assert not ok(p.check_decimal(value))


@given(st.one_of(st.booleans(), st.integers(), st.text(), st.none()))
def test_booleans_are_only_true_and_false(value: object) -> None:
    assert ok(p.check_boolean(value)) == (value is True or value is False)


@given(st.text(alphabet=string.ascii_letters + string.digits + "-.", min_size=1, max_size=80))
def test_ids_are_1_to_64_id_characters(value: str) -> None:
    assert ok(p.check_id(value)) == (len(value) <= 64)


@given(st.text(min_size=1, max_size=10))
def test_ids_with_other_characters_are_rejected(value: str) -> None:
    allowed = set(string.ascii_letters + string.digits + "-.")
    assert ok(p.check_id(value)) == (set(value) <= allowed)


def _is_code(value: str) -> bool:
    """``[^\\s]+(\\s[^\\s]+)*`` spelt out: no leading, trailing or consecutive whitespace."""
    if not value or value[0] in XML_WHITESPACE or value[-1] in XML_WHITESPACE:
        return False
    return not any(a in XML_WHITESPACE and b in XML_WHITESPACE for a, b in zip(value, value[1:]))


@given(st.text(alphabet=st.sampled_from(list("ab1-_ é") + list(XML_WHITESPACE)), max_size=12))
def test_codes(value: str) -> None:
    assert ok(p.check_code(value)) == _is_code(value)


@given(st.text(max_size=20))
def test_uris_are_non_empty_and_free_of_whitespace(value: str) -> None:
    assert ok(p.check_uri(value)) == (value != "" and not any(c in XML_WHITESPACE for c in value))


@given(st.binary(max_size=300), st.integers(1, 80))
def test_base64_encodings_are_accepted_with_or_without_line_breaks(data: bytes, width: int) -> None:
    encoded = base64.b64encode(data).decode()
    assume(encoded)
    wrapped = "\n".join(encoded[i : i + width] for i in range(0, len(encoded), width))
    assert ok(p.check_base64(encoded))
    assert ok(p.check_base64(wrapped))
    assert not ok(p.check_base64(encoded + "*"))
    assert not ok(p.check_base64(encoded[:-1]))


@given(st.uuids())
def test_uuids(value: object) -> None:
    assert ok(p.check_uuid(f"urn:uuid:{value}"))
    assert not ok(p.check_uuid(str(value)))
    if any(c.isalpha() for c in str(value)):
        assert not ok(p.check_uuid(f"urn:uuid:{str(value).upper()}"))


@given(st.lists(st.integers(0, 10**6), min_size=1, max_size=8), st.integers(0, 2))
def test_oids(arcs: list[int], root: int) -> None:
    value = "urn:oid:" + ".".join(map(str, [root, *arcs]))
    assert ok(p.check_oid(value))
    assert not ok(p.check_oid(value + "."))
    assert not ok(p.check_oid(value.replace("urn:oid:", "")))


@given(st.text(min_size=1))
def test_any_non_empty_string_is_a_string(value: str) -> None:
    assert ok(p.check_string(value))
    assert ok(p.check_markdown(value))
    assert not ok(p.check_string(""))

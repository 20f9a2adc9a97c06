"""Checks of the R4 primitive datatypes in their JSON form.

Implements the JSON types of http://hl7.org/fhir/R4/json.html#primitive and the lexical rules
(regular expressions) of http://hl7.org/fhir/R4/datatypes.html#primitive. Each checker takes the
JSON value and returns None when it is valid, else ``(issue code, reason)`` where the reason
completes a sentence such as "Element 'birthDate' <reason>". ``structure`` is used when a JSON
object or array stands where a primitive belongs, ``value`` for a wrong JSON type or format.

Cheap string checks stand in front of the regular expressions wherever they give the same answer.
"""

from __future__ import annotations

import re
from typing import Any, Callable

from fhir_server.validation.issues import json_type

Result = tuple[str, str] | None
Checker = Callable[[Any], Result]

INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1
_MAX_SHOWN = 80

# http://hl7.org/fhir/R4/datatypes.html#primitive. ``re.ASCII``: the spec's ``\s`` is XML Schema's.
_YEAR = r"([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)"
_MONTH = r"(0[1-9]|1[0-2])"
_DAY = r"(0[1-9]|[1-2][0-9]|3[0-1])"
_TIME = r"([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?"
_ZONE = r"(Z|(\+|-)((0[0-9]|1[0-3]):[0-5][0-9]|14:00))"
DATE_RE = re.compile(rf"{_YEAR}(-{_MONTH}(-{_DAY})?)?")
DATETIME_RE = re.compile(rf"{_YEAR}(-{_MONTH}(-{_DAY}(T{_TIME}{_ZONE})?)?)?")
INSTANT_RE = re.compile(rf"{_YEAR}-{_MONTH}-{_DAY}T{_TIME}{_ZONE}")
TIME_RE = re.compile(_TIME)
ID_RE = re.compile(r"[A-Za-z0-9\-\.]{1,64}")
CODE_RE = re.compile(r"[^\s]+(\s[^\s]+)*", re.ASCII)
OID_RE = re.compile(r"urn:oid:[0-2](\.(0|[1-9][0-9]*))+")
UUID_RE = re.compile(r"urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
# The R4 page's base64 regex ``(\s*([0-9a-zA-Z\+\=]){4}\s*)+`` omits "/" (a known erratum): this
# checks RFC 4648 groups of four after dropping whitespace, without the backtracking of that form.
BASE64_RE = re.compile(r"[0-9a-zA-Z+/]*={0,2}")
_WHITESPACE = re.compile(r"\s", re.ASCII).search

_DAYS_IN_MONTH = (0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def shown(value: Any) -> str:
    """A value quoted for a diagnostics sentence, cut when long."""
    text = value if isinstance(value, str) else repr(value)
    if len(text) > _MAX_SHOWN:
        text = text[:_MAX_SHOWN] + "..."
    return f"'{text}'"


def _wrong_type(value: Any, expected: str) -> tuple[str, str]:
    code = "structure" if isinstance(value, (dict, list)) else "value"
    return code, f"must be {expected}, not {json_type(value)}"


def _day_exists(value: str) -> bool:
    """Whether the YYYY-MM-DD prefix names a real calendar day (the regexes allow 02-31)."""
    day = int(value[8:10])
    if day <= 28:
        return True
    month = int(value[5:7])
    if month != 2:
        return day <= _DAYS_IN_MONTH[month]
    year = int(value[0:4])
    return day == 29 and year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def check_boolean(value: Any) -> Result:
    if value is True or value is False:
        return None
    return _wrong_type(value, "a JSON boolean (true or false)")


def _check_int(value: Any, low: int, kind: str) -> Result:
    if type(value) is not int:
        return _wrong_type(value, f"a JSON integer ({kind})")
    if low <= value <= INT32_MAX:
        return None
    return "value", f"is {value}, outside the range of {kind} ({low} to {INT32_MAX})"


def check_integer(value: Any) -> Result:
    if type(value) is int and INT32_MIN <= value <= INT32_MAX:
        return None
    return _check_int(value, INT32_MIN, "integer")


def check_unsigned_int(value: Any) -> Result:
    if type(value) is int and 0 <= value <= INT32_MAX:
        return None
    return _check_int(value, 0, "unsignedInt")


def check_positive_int(value: Any) -> Result:
    if type(value) is int and 1 <= value <= INT32_MAX:
        return None
    return _check_int(value, 1, "positiveInt")


def check_decimal(value: Any) -> Result:
    kind = type(value)
    if kind is float or kind is int:
        if kind is float and (value != value or value in (float("inf"), float("-inf"))):
            return "value", "must be a finite JSON number"
        return None
    return _wrong_type(value, "a JSON number (decimal)")


def _string(value: Any, type_name: str) -> Result:
    if type(value) is not str:
        return _wrong_type(value, f"a JSON string ({type_name})")
    return "value", "is an empty string; empty strings are not allowed in FHIR JSON"


def check_string(value: Any) -> Result:
    """string, markdown, xhtml: any non-empty string."""
    if type(value) is str and value:
        return None
    return _string(value, "string")


def check_markdown(value: Any) -> Result:
    if type(value) is str and value:
        return None
    return _string(value, "markdown")


def check_xhtml(value: Any) -> Result:
    if type(value) is str and value:
        return None
    return _string(value, "xhtml")


def check_code(value: Any) -> Result:
    """code: ``[^\\s]+(\\s[^\\s]+)*``, no leading, trailing or repeated whitespace."""
    if type(value) is str and value:
        if (value.isprintable() and " " not in value) or CODE_RE.fullmatch(value):
            return None
        return "value", f"is {shown(value)}, not a valid code (no leading, trailing or repeated whitespace)"
    return _string(value, "code")


def check_id(value: Any) -> Result:
    if type(value) is str and value:
        if ID_RE.fullmatch(value):
            return None
        return "value", (
            f"is {shown(value)} ({len(value)} characters), not a valid id "
            "(1 to 64 characters from A-Z, a-z, 0-9, '-' and '.')"
        )
    return _string(value, "id")


def _check_uri(value: Any, type_name: str) -> Result:
    if type(value) is str and value:
        if (value.isprintable() and " " not in value) or not _WHITESPACE(value):
            return None
        return "value", f"is {shown(value)}, not a valid {type_name} (whitespace is not allowed)"
    return _string(value, type_name)


def check_uri(value: Any) -> Result:
    if type(value) is str and value and value.isprintable() and " " not in value:
        return None  # the usual case without a second call; the rest as :func:`_check_uri`
    return _check_uri(value, "uri")


def check_url(value: Any) -> Result:
    if type(value) is str and value and value.isprintable() and " " not in value:
        return None
    return _check_uri(value, "url")


def check_canonical(value: Any) -> Result:
    if type(value) is str and value and value.isprintable() and " " not in value:
        return None
    return _check_uri(value, "canonical")


def check_oid(value: Any) -> Result:
    if type(value) is str and value:
        if OID_RE.fullmatch(value):
            return None
        return "value", f"is {shown(value)}, not a valid oid (expected urn:oid: followed by a dotted OID)"
    return _string(value, "oid")


def check_uuid(value: Any) -> Result:
    if type(value) is str and value:
        if UUID_RE.fullmatch(value):
            return None
        return "value", f"is {shown(value)}, not a valid uuid (expected urn:uuid: and a lowercase UUID)"
    return _string(value, "uuid")


def check_base64(value: Any) -> Result:
    if type(value) is str and value:
        compact = "".join(value.split()) if _WHITESPACE(value) else value
        if compact and len(compact) % 4 == 0 and BASE64_RE.fullmatch(compact):
            return None
        return "value", f"is {shown(value)}, not valid base64 (RFC 4648)"
    return _string(value, "base64Binary")


def check_date(value: Any) -> Result:
    if type(value) is str and value:
        if DATE_RE.fullmatch(value) and (len(value) < 10 or _day_exists(value)):
            return None
        return "value", f"is {shown(value)}, not a valid date (expected YYYY, YYYY-MM or YYYY-MM-DD)"
    return _string(value, "date")


def check_date_time(value: Any) -> Result:
    if type(value) is str and value:
        if DATETIME_RE.fullmatch(value) and (len(value) < 10 or _day_exists(value)):
            return None
        return "value", (
            f"is {shown(value)}, not a valid dateTime "
            "(expected YYYY, YYYY-MM, YYYY-MM-DD or YYYY-MM-DDThh:mm:ss[.sss] with a time zone)"
        )
    return _string(value, "dateTime")


def check_instant(value: Any) -> Result:
    if type(value) is str and value:
        if INSTANT_RE.fullmatch(value) and _day_exists(value):
            return None
        return "value", f"is {shown(value)}, not a valid instant (expected YYYY-MM-DDThh:mm:ss[.sss] with a time zone)"
    return _string(value, "instant")


def check_time(value: Any) -> Result:
    if type(value) is str and value:
        if TIME_RE.fullmatch(value):
            return None
        return "value", f"is {shown(value)}, not a valid time (expected hh:mm:ss[.sss])"
    return _string(value, "time")


CHECKERS: dict[str, Checker] = {
    "base64Binary": check_base64,
    "boolean": check_boolean,
    "canonical": check_canonical,
    "code": check_code,
    "date": check_date,
    "dateTime": check_date_time,
    "decimal": check_decimal,
    "id": check_id,
    "instant": check_instant,
    "integer": check_integer,
    "markdown": check_markdown,
    "oid": check_oid,
    "positiveInt": check_positive_int,
    "string": check_string,
    "time": check_time,
    "unsignedInt": check_unsigned_int,
    "uri": check_uri,
    "url": check_url,
    "uuid": check_uuid,
    "xhtml": check_xhtml,
}

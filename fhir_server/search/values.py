"""Parse one search value string into a typed value (http://hl7.org/fhir/R4/search.html#ptypes).

Escapes (http://hl7.org/fhir/R4/search.html#escaping): ``\\,`` ``\\$`` ``\\|`` ``\\\\``. Invalid values
raise a 400 naming the parameter.
"""

from __future__ import annotations

import re

from fhir_server.errors import FhirError, bad_request
from fhir_server.search import model as m
from fhir_server.search.normalize import date_range, decimal_range, parse_decimal
from fhir_server.spec.resource_types import RESOURCE_TYPES
from fhir_server.spec.search_parameters import SearchParam

PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap")
_UNESCAPE = re.compile(r"\\([\\,$|])")
_DISTANCE_UNITS_KM = {"km": 1.0, "m": 0.001, "[mi_i]": 1.609344, "mi": 1.609344, "[mi_us]": 1.609347}
DEFAULT_NEAR_KM = 10.0


def split_unescaped(text: str, sep: str, maxsplit: int = -1) -> list[str]:
    """Split at ``sep`` not preceded by an escaping backslash; escapes are kept."""
    out, cur, i, n = [], [], 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "\\" and i + 1 < n:
            cur.append(text[i : i + 2])
            i += 2
            continue
        if ch == sep and (maxsplit < 0 or len(out) < maxsplit):
            out.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
        i += 1
    out.append("".join(cur))
    return out


def unescape(text: str) -> str:
    return _UNESCAPE.sub(r"\1", text)


def invalid(name: str, raw: str, why: str) -> FhirError:
    return bad_request(f"Invalid value {raw!r} for search parameter '{name}': {why}")


def _prefix(raw: str, param: SearchParam, name: str) -> tuple[str, str]:
    if len(raw) > 2 and raw[:2] in PREFIXES and not raw[:2].isdigit():
        prefix, rest = raw[:2], raw[2:]
        if param.comparator and prefix not in param.comparator:
            raise invalid(name, raw, f"prefix '{prefix}' is not allowed")
        return prefix, rest
    return "eq", raw


def parse_date(raw: str, param: SearchParam, name: str) -> m.DateValue:
    prefix, rest = _prefix(raw, param, name)
    rng = date_range(rest)
    if rng is None:
        raise invalid(name, raw, "expected a date such as 2020, 2020-01, 2020-01-31 or 2020-01-31T10:00:00Z")
    return m.DateValue(prefix, rng[0], rng[1], rest)


def parse_number(raw: str, param: SearchParam, name: str) -> m.NumberValue:
    prefix, rest = _prefix(raw, param, name)
    value = parse_decimal(rest)
    if value is None or not value.is_finite():
        raise invalid(name, raw, "expected a number")
    lo, hi = decimal_range(value)
    return m.NumberValue(prefix, value, lo, hi)


def parse_quantity(raw: str, param: SearchParam, name: str) -> m.QuantityValue:
    parts = split_unescaped(raw, "|")
    if len(parts) not in (1, 3):
        raise invalid(name, raw, "expected [prefix]number or [prefix]number|system|code")
    num = parse_number(parts[0], param, name)
    system = unescape(parts[1]) or None if len(parts) == 3 else None
    code = unescape(parts[2]) or None if len(parts) == 3 else None
    if system and not code:
        raise invalid(name, raw, "a system needs a code")
    return m.QuantityValue(num.prefix, num.value, num.lo, num.hi, system, code)


def parse_token(raw: str, name: str) -> m.TokenValue:
    parts = split_unescaped(raw, "|", 1)
    if len(parts) == 1:
        code = unescape(parts[0])
        if not code:
            raise invalid(name, raw, "empty token")
        return m.TokenValue(None, code, False)
    system, code = unescape(parts[0]) or None, unescape(parts[1]) or None
    if system is None and code is None:
        raise invalid(name, raw, "empty token")
    return m.TokenValue(system, code, True)


def parse_of_type(raw: str, name: str) -> m.OfTypeValue:
    parts = split_unescaped(raw, "|")
    if len(parts) != 3 or not all(parts):
        raise invalid(name, raw, "expected type-system|type-code|value")
    return m.OfTypeValue(*(unescape(p) for p in parts))


def parse_reference(raw: str, name: str, target_type: str | None) -> m.ReferenceValue:
    text = unescape(raw)
    if not text:
        raise invalid(name, raw, "empty reference")
    if "://" in text or text.startswith(("urn:", "#")):
        url, bar, version = text.partition("|")
        return m.ReferenceValue(url=url, version=version if bar else None)
    parts = text.split("/")
    if len(parts) == 4 and parts[2] == "_history":
        parts = parts[:2]
    if len(parts) == 2:
        typ, rid = parts
        if typ not in RESOURCE_TYPES or not rid:
            raise invalid(name, raw, f"unknown resource type '{typ}'")
        if target_type and typ != target_type:
            raise invalid(name, raw, f"the reference type does not match the modifier ':{target_type}'")
        return m.ReferenceValue(type=typ, id=rid)
    if len(parts) == 1:
        return m.ReferenceValue(type=target_type, id=text)
    raise invalid(name, raw, "expected id, Type/id or an absolute URL")


def parse_uri(raw: str, name: str) -> m.UriValue:
    text = unescape(raw)
    if not text:
        raise invalid(name, raw, "empty uri")
    return m.UriValue(text)


def parse_near(raw: str, name: str) -> m.NearValue:
    parts = [unescape(p) for p in split_unescaped(raw, "|")]
    if len(parts) < 2 or len(parts) > 4:
        raise invalid(name, raw, "expected latitude|longitude[|distance[|units]]")
    try:
        lat, lon = float(parts[0]), float(parts[1])
        dist = float(parts[2]) if len(parts) > 2 and parts[2] else DEFAULT_NEAR_KM
    except ValueError:
        raise invalid(name, raw, "latitude, longitude and distance must be numbers") from None
    unit = parts[3] if len(parts) > 3 and parts[3] else "km"
    if unit not in _DISTANCE_UNITS_KM:
        raise invalid(name, raw, f"unsupported distance unit '{unit}' (use km, m or [mi_i])")
    if not (-90 <= lat <= 90 and -180 <= lon <= 180) or dist < 0:
        raise invalid(name, raw, "coordinates or distance out of range")
    km = dist if len(parts) <= 2 or not parts[2] else dist * _DISTANCE_UNITS_KM[unit]
    return m.NearValue(lat, lon, km)


def parse_value(param: SearchParam, raw: str, name: str, modifier: str | None, target_type: str | None) -> m.Value:
    """One comma-free value of ``param`` (``name`` is the parameter as written, for errors)."""
    kind = param.type
    if kind == "string":
        return m.StringValue(unescape(raw))
    if kind == "token":
        if modifier == "text":
            return m.StringValue(unescape(raw))
        if modifier in ("in", "not-in"):
            return parse_uri(raw, name)
        if modifier == "of-type":
            return parse_of_type(raw, name)
        return parse_token(raw, name)
    if kind == "reference":
        if modifier == "identifier":
            return parse_token(raw, name)
        return parse_reference(raw, name, target_type)
    if kind == "date":
        return parse_date(raw, param, name)
    if kind == "number":
        return parse_number(raw, param, name)
    if kind == "quantity":
        return parse_quantity(raw, param, name)
    if kind == "uri":
        return parse_uri(raw, name)
    if kind == "special" and param.code == "near":
        return parse_near(raw, name)
    if kind == "composite":
        return parse_composite(param, raw, name)
    raise bad_request(f"Search parameter '{name}' is not supported", code="not-supported")


def parse_composite(param: SearchParam, raw: str, name: str) -> m.CompositeValue:
    parts = split_unescaped(raw, "$")
    if len(parts) != len(param.component):
        raise invalid(name, raw, f"expected {len(param.component)} components joined by '$'")
    values = []
    for comp, part in zip(param.component, parts):
        sub = SearchParam(base=param.base, code=comp.code, type=comp.type, expression=comp.expression,
                          comparator=PREFIXES if comp.type in ("date", "number", "quantity") else ())  # fmt: skip
        values.append(parse_value(sub, part, name, None, None))
    return m.CompositeValue(tuple(values))

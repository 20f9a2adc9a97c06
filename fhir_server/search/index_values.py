"""Turn the elements a parameter's expression selects into index entries, one function per type.

Each converter takes a :class:`~fhir_server.search.fhirpath.Node` and returns entry bodies (dicts
without ``p``). What is indexed follows http://hl7.org/fhir/R4/search.html (the tables of which
data types each parameter type matches):

- string: string, HumanName (family, given, prefix, suffix, text), Address (line, city, district,
  state, postalCode, country, text), and other complex values' direct string members.
- token: Coding, CodeableConcept (each coding, plus ``text``), Identifier (system|value, type for
  ``:of-type``), ContactPoint (system|value), code/id/string/uri, boolean.
- reference: Reference (literal, plus its identifier as a token entry), canonical (version split).
- date: date, dateTime, instant, Period, Timing (events, bounds).
- number/quantity: numbers, Quantity (and its profiles), Range, Money.
- uri: uri/url/canonical/oid/uuid strings.
"""

from __future__ import annotations

from typing import Any

from fhir_server.search.fhirpath import QUANTITY_TYPES, Node
from fhir_server.search.normalize import (
    DT_MAX, DT_MIN, NUM_MAX, NUM_MIN, date_range_cached, fold, number_value, phonetic_codes,
)

_HUMAN_NAME_KEYS = ("family", "given", "prefix", "suffix", "text")
_ADDRESS_KEYS = ("line", "city", "district", "state", "postalCode", "country", "text")
_CONTACT_SYSTEMS = frozenset({"phone", "fax", "email", "pager", "url", "sms", "other"})
_STRING_KEYS = {"HumanName": _HUMAN_NAME_KEYS, "Address": _ADDRESS_KEYS}
_TEXT_ONLY = frozenset({"text", "id", "extension"})  # a CodeableConcept with only text (and id/extension)


# --- string ---------------------------------------------------------------------------------------
def strings(node: Node) -> list[str]:
    """The string values a string parameter matches in ``node``."""
    v = node[0]
    if isinstance(v, str):
        return [v]
    if not isinstance(v, dict):
        return []
    keys = _STRING_KEYS.get(node[1] or "")
    if keys is None:
        if "family" in v or "given" in v:
            keys = _HUMAN_NAME_KEYS
        elif "line" in v or "city" in v or "postalCode" in v or "country" in v:
            keys = _ADDRESS_KEYS
    out: list[str] = []
    if keys is None:
        for val in v.values():
            if isinstance(val, str):
                out.append(val)
        return out
    for key in keys:
        val = v.get(key)
        if isinstance(val, str):
            out.append(val)
        elif isinstance(val, list):
            for x in val:
                if isinstance(x, str):
                    out.append(x)
    return out


def string_entries(node: Node) -> list[dict]:
    out = []
    for s in strings(node):
        out.append({"v": fold(s), "x": s})
    return out


PHONETIC_URLS = frozenset(
    f"http://hl7.org/fhir/SearchParameter/{name}-phonetic" for name in ("individual", "Organization", "InsurancePlan")
)
"""The official ``phonetic`` parameters: matched by the Soundex codes of each word of a name."""


def phonetic_entries(node: Node) -> list[dict]:
    """``{v: soundex, x: the word}`` per word of the strings of ``node``."""
    out = []
    for text in strings(node):
        for word in fold(text).split():
            for code in phonetic_codes(word):
                out.append({"v": code, "x": word})
    return out


# --- token ----------------------------------------------------------------------------------------
def _coding(c: Any) -> dict | None:
    if not isinstance(c, dict):
        return None
    code, system = c.get("code"), c.get("system")
    if code is None and system is None:
        return None
    display = c.get("display")
    return {"s": system, "c": code, "t": fold(display) if isinstance(display, str) else None}


def token_entries(node: Node) -> list[dict]:
    v, typ = node
    if isinstance(v, bool):
        return [{"s": None, "c": "true" if v else "false", "t": None}]
    if isinstance(v, str):
        return [{"s": None, "c": v, "t": None}]
    if not isinstance(v, dict):
        num = number_value(v)
        return [] if num is None else [{"s": None, "c": str(v), "t": None}]
    if typ == "CodeableConcept" or "coding" in v or (typ is None and "text" in v and v.keys() <= _TEXT_ONLY):
        out = []
        for c in v.get("coding") or ():
            e = _coding(c)
            if e is not None:
                out.append(e)
        text = v.get("text")
        if isinstance(text, str):
            out.append({"s": None, "c": None, "t": fold(text)})
        return out
    if "value" in v and typ != "Coding":
        return _identifier_or_contact(v, typ)
    e = _coding(v)
    return [e] if e else []


def _identifier_or_contact(v: dict, typ: str | None) -> list[dict]:
    value, system = v.get("value"), v.get("system")
    if not isinstance(value, str):
        return []
    contact = typ == "ContactPoint" or (typ != "Identifier" and system in _CONTACT_SYSTEMS and "type" not in v)
    if contact:
        return [{"s": system, "c": value, "t": None}]
    itype = v.get("type")
    if not isinstance(itype, dict):
        return [{"s": system, "c": value, "t": None}]
    text = itype.get("text")
    folded = fold(text) if isinstance(text, str) else None
    out = []
    for c in itype.get("coding") or ():
        if isinstance(c, dict) and c.get("code"):
            # one entry per type coding so ``:of-type`` matches type and value on the same entry
            out.append({"s": system, "c": value, "t": folded, "ys": c.get("system"), "yc": c.get("code")})
    return out or [{"s": system, "c": value, "t": folded}]


# --- reference ------------------------------------------------------------------------------------
_LOCAL_BASES: tuple[str, ...] = ()


def set_local_bases(base_urls: "tuple[str, ...] | list[str]") -> None:
    """The base URLs of this server: absolute references under them are indexed as local ``Type/id``
    (http://hl7.org/fhir/R4/references.html#literal: a reference to this server may be absolute).
    Set once at start-up; documents written before a change need ``$reindex``."""
    global _LOCAL_BASES
    _LOCAL_BASES = tuple(sorted({b.rstrip("/") + "/" for b in base_urls if b}, key=len, reverse=True))


def local_bases() -> tuple[str, ...]:
    """The configured base URLs (each ending in ``/``)."""
    return _LOCAL_BASES


def localize(ref: str) -> str:
    """``ref`` relative to this server when it is an absolute URL under one of its base URLs."""
    for base in _LOCAL_BASES:
        if ref.startswith(base):
            return ref[len(base):]
    return ref


def split_reference(ref: str) -> dict:
    """Index form of a literal reference: ``r`` plus type ``t`` and id ``i`` when relative (absolute
    references to this server count as relative)."""
    if ref.startswith("#"):
        return {"r": ref}
    if _LOCAL_BASES and "://" in ref:
        ref = localize(ref)
    parts = ref.split("/")
    if len(parts) >= 4 and parts[-2] == "_history":
        parts = parts[:-2]
        ref = "/".join(parts)
    if len(parts) == 2 and parts[0][:1].isupper() and parts[0].isalpha():
        return {"r": ref, "t": parts[0], "i": parts[1]}
    return {"r": ref}  # absolute URL, urn:uuid:..., logical: matched by the whole value only


def canonical_entry(url: str) -> dict:
    base, bar, version = url.partition("|")
    return {"r": base, "cv": version} if bar else {"r": base}


def reference_entries(node: Node) -> tuple[list[dict], list[dict]]:
    """(``_ref`` bodies, ``_tok`` bodies for Reference.identifier)."""
    v = node[0]
    if isinstance(v, str):
        return [canonical_entry(v)], []
    if not isinstance(v, dict):
        return [], []
    refs, toks = [], []
    ref = v.get("reference")
    if isinstance(ref, str):
        refs.append(split_reference(ref))
    ident = v.get("identifier")
    if isinstance(ident, dict):
        toks = _identifier_or_contact(ident, "Identifier")
        if not refs:
            refs.append({"r": None})  # present (for :missing) but not a literal reference
    return refs, toks


# --- date -----------------------------------------------------------------------------------------
def date_entries(node: Node) -> list[dict]:
    v = node[0]
    if isinstance(v, str):
        rng = date_range_cached(v)
        return [{"lo": rng[0], "hi": rng[1]}] if rng else []
    if not isinstance(v, dict):
        return []
    if "start" in v or "end" in v:
        return [_period(v)]
    out = []
    for ev in v.get("event") or ():  # Timing
        rng = date_range_cached(ev) if isinstance(ev, str) else None
        if rng:
            out.append({"lo": rng[0], "hi": rng[1]})
    bounds = (v.get("repeat") or {}).get("boundsPeriod") if isinstance(v.get("repeat"), dict) else None
    if isinstance(bounds, dict):
        out.append(_period(bounds))
    return out


def _period(p: dict) -> dict:
    start = date_range_cached(p["start"]) if isinstance(p.get("start"), str) else None
    end = date_range_cached(p["end"]) if isinstance(p.get("end"), str) else None
    return {"lo": start[0] if start else DT_MIN, "hi": end[1] if end else DT_MAX}


# --- number / quantity ----------------------------------------------------------------------------
def number_entries(node: Node) -> list[dict]:
    v = node[0]
    num = number_value(v)
    if num is not None:
        return [{"v": num, "lo": num, "hi": num}]
    if isinstance(v, dict):
        if "low" in v or "high" in v:
            return [_range(v)[0]]
        num = number_value(v.get("value"))
        if num is not None:
            return [{"v": num, "lo": num, "hi": num}]
    return []


def _range(v: dict) -> tuple[dict, dict]:
    low = v.get("low") if isinstance(v.get("low"), dict) else {}
    high = v.get("high") if isinstance(v.get("high"), dict) else {}
    lo, hi = number_value(low.get("value")), number_value(high.get("value"))
    unit = low if lo is not None else high
    return {"v": None, "lo": NUM_MIN if lo is None else lo, "hi": NUM_MAX if hi is None else hi}, unit


def quantity_entries(node: Node) -> list[dict]:
    """``{v, lo, hi, s, c}`` per value; a human ``unit`` that differs from ``code`` adds an entry
    with ``c`` = the unit and no system, so ``n||unit`` matches it on the same index as codes
    (http://hl7.org/fhir/R4/search.html#quantity) while ``n|system|code`` cannot."""
    v = node[0]
    num = number_value(v)
    if num is not None:
        return [{"v": num, "lo": num, "hi": num, "s": None, "c": None}]
    if not isinstance(v, dict):
        return []
    if node[1] == "Range" or "low" in v or "high" in v:
        entry, unit = _range(v)
        return _with_unit({**entry, "s": unit.get("system"), "c": unit.get("code")}, unit.get("unit"))
    num = number_value(v.get("value"))
    if num is None:
        return []
    if node[1] == "Money" or ("currency" in v and node[1] not in QUANTITY_TYPES):
        return [{"v": num, "lo": num, "hi": num, "s": "urn:iso:std:iso:4217", "c": v.get("currency")}]
    return _with_unit({"v": num, "lo": num, "hi": num, "s": v.get("system"), "c": v.get("code")}, v.get("unit"))


def _with_unit(entry: dict, unit: Any) -> list[dict]:
    if isinstance(unit, str) and unit and unit != entry["c"]:
        return [entry, {**entry, "s": None, "c": unit}]
    return [entry]


# --- uri ------------------------------------------------------------------------------------------
def uri_entries(node: Node) -> list[dict]:
    v = node[0]
    return [{"v": v}] if isinstance(v, str) else []


def geo_value(node: Node) -> dict | None:
    """``_geo`` for the special ``near`` parameter (Location.position)."""
    v = node[0]
    if not isinstance(v, dict):
        return None
    lat, lon = number_value(v.get("latitude")), number_value(v.get("longitude"))
    if lat is None or lon is None:
        return None
    return {"lat": lat, "lon": lon}

"""Conditions on ONE index entry (the inside of an ``$elemMatch``), one builder per value type.

They implement the matching rules of http://hl7.org/fhir/R4/search.html: prefixes against the
implicit ranges (#prefix), string folding and starts-with (#string), token forms (#token),
references (#reference), uri ``:below``/``:above`` (#uri). User values only ever appear as
MongoDB *values*, never as keys, and reach regexes only through ``re.escape``.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from fhir_server.search import model as m
from fhir_server.search.normalize import DT_MAX, DT_MIN, fold

_ONE_MS = timedelta(milliseconds=1)

Cond = dict[str, Any]


def all_of(*conds: Cond) -> Cond:
    """AND of conditions: one merged dict when their keys are disjoint, else ``$and``."""
    merged: Cond = {}
    for cond in conds:
        for key, value in cond.items():
            if key in merged:
                if isinstance(merged[key], dict) and isinstance(value, dict) and not set(merged[key]) & set(value):
                    merged[key] = {**merged[key], **value}
                    continue
                return {"$and": [c for c in conds if c]}
            merged[key] = value
    return merged


def any_of(conds: list[Cond]) -> Cond:
    return conds[0] if len(conds) == 1 else {"$or": conds}


def dnf(cond: Cond, limit: int = 64) -> list[Cond]:
    """``cond`` as alternatives without ``$or``/``$and`` (disjunctive normal form), so each can be
    one ``$elemMatch`` that an index serves; ``[cond]`` when that would exceed ``limit`` branches."""
    alternatives: list[Cond] = [{k: v for k, v in cond.items() if k not in ("$or", "$and")}]
    for part in cond.get("$and", ()):
        alternatives = [all_of(a, b) for a in alternatives for b in dnf(part, limit)]
    if "$or" in cond:
        options = [b for part in cond["$or"] for b in dnf(part, limit)]
        alternatives = [all_of(a, b) for a in alternatives for b in options]
    return [cond] if len(alternatives) > limit else alternatives


_IN_KEYS = ("c", "r", "i", "v", "x", "s")


def merge_in(conds: list[Cond]) -> list[Cond]:
    """Alternatives that differ only in the scalar value of one key become one ``$in``, in the
    place of the first of them (``c=a`` or ``c=b`` -> ``c in [a, b]``: one index range scan
    instead of a union)."""
    for key in _IN_KEYS:
        slots: list[Any] = []  # a condition, or [template, values] for a group
        groups: dict[tuple, list] = {}
        for cond in conds:
            value = cond.get(key, _ABSENT)
            if value is _ABSENT or isinstance(value, (dict, list)):
                slots.append(cond)
                continue
            others = tuple(sorted((k, repr(v)) for k, v in cond.items() if k != key))
            group = groups.get(others)
            if group is None:
                group = groups[others] = [cond, []]
                slots.append(group)
            if value not in group[1]:
                group[1].append(value)
        conds = [
            slot if isinstance(slot, dict) else {**slot[0], key: slot[1][0] if len(slot[1]) == 1 else {"$in": slot[1]}}
            for slot in slots
        ]
    return conds


_ABSENT = object()


def prefixed(cond: Cond, prefix: str) -> Cond:
    """``cond`` with every field key under ``prefix.`` (for composite components)."""
    out: Cond = {}
    for key, value in cond.items():
        if key in ("$or", "$and", "$nor"):
            out[key] = [prefixed(c, prefix) for c in value]
        else:
            out[f"{prefix}.{key}"] = value
    return out


def regex_literal(text: str) -> str:
    """``text`` as a regex matching it literally, on both engines (MongoDB refuses a raw NUL)."""
    return re.escape(text).replace("\x00", "\\x00")


def starts_with(text: str) -> dict:
    return {"$regex": "^" + regex_literal(text)}


# --- string ---------------------------------------------------------------------------------------
def string_cond(value: m.StringValue, modifier: str | None) -> Cond:
    if modifier == "exact":
        return {"x": value.text}
    if modifier == "contains":
        return {"v": {"$regex": regex_literal(fold(value.text))}}
    return {"v": starts_with(fold(value.text))}


# --- token ----------------------------------------------------------------------------------------
def token_cond(value: m.Value) -> Cond:
    if isinstance(value, m.StringValue):  # :text
        return {"t": starts_with(fold(value.text))}
    if isinstance(value, m.OfTypeValue):
        return {"ys": value.type_system, "yc": value.type_code, "c": value.value}
    assert isinstance(value, m.TokenValue)
    if not value.has_system:
        return {"c": value.code}
    if value.code is None:
        return {"s": value.system}
    return {"s": value.system, "c": value.code}


def value_set_cond(pairs: list[tuple[str | None, str]]) -> Cond | None:
    """``:in`` over an expansion: (system, code) pairs grouped by system into ``$in`` lists."""
    by_system: dict[str | None, list[str]] = {}
    for system, code in pairs:
        by_system.setdefault(system, []).append(code)
    if not by_system:
        return None
    conds = [{"s": s, "c": {"$in": sorted(set(codes))}} for s, codes in sorted(by_system.items(), key=lambda kv: kv[0] or "")]
    return any_of(conds)


# --- reference ------------------------------------------------------------------------------------
def reference_cond(value: m.ReferenceValue, base_urls: tuple[str, ...] = ()) -> Cond:
    if value.url is not None:
        for base in base_urls:
            base = base.rstrip("/") + "/"
            if value.url.startswith(base):
                local = value.url[len(base) :].split("/")
                if len(local) == 2 or (len(local) == 4 and local[2] == "_history"):
                    return {"r": {"$in": [value.url, f"{local[0]}/{local[1]}"]}}
        if value.version is not None:
            return {"r": value.url, "cv": value.version}
        return {"r": value.url}
    if value.type is not None:
        return {"r": f"{value.type}/{value.id}"}
    return {"i": value.id}


# --- date -----------------------------------------------------------------------------------------
def range_cond(prefix: str, slo: Any, shi: Any, lo: str, hi: str, tol: Any) -> Cond:
    """Prefix rules of http://hl7.org/fhir/R4/search.html#prefix on a target range [lo, hi]
    against the search range [slo, shi] (``tol`` widens it for ``ap``)."""
    eq = all_of({lo: {"$gte": slo}}, {hi: {"$lte": shi}})
    if prefix == "eq":
        return eq
    if prefix == "ne":
        return {"$or": [{lo: {"$lt": slo}}, {hi: {"$gt": shi}}]}
    if prefix == "gt":
        return {hi: {"$gt": shi}}
    if prefix == "lt":
        return {lo: {"$lt": slo}}
    if prefix == "ge":
        return {"$or": [{hi: {"$gt": shi}}, eq]}
    if prefix == "le":
        return {"$or": [{lo: {"$lt": slo}}, eq]}
    if prefix == "sa":
        return {lo: {"$gt": shi}}
    if prefix == "eb":
        return {hi: {"$lt": slo}}
    if prefix == "ap":
        return all_of({lo: {"$lte": shi + tol}}, {hi: {"$gte": slo - tol}})
    raise ValueError(prefix)


def date_cond(value: m.DateValue, now: datetime, lo: str = "lo", hi: str = "hi") -> Cond:
    """Date prefixes; ``ap`` uses 10% of the gap between now and the value (search.html#prefix)."""
    tol = abs(now - value.lo) / 10 if value.prefix == "ap" else timedelta(0)
    if value.prefix == "ap":
        tol = min(tol // _ONE_MS * _ONE_MS, value.lo - DT_MIN, DT_MAX - value.hi)  # whole ms, as stored
    return range_cond(value.prefix, value.lo, value.hi, lo, hi, tol)


# --- number / quantity ----------------------------------------------------------------------------
def number_cond(value: m.NumberValue | m.QuantityValue) -> Cond:
    """Number prefixes: ``eq``/``ne`` use the implicit precision range ``[lo, hi)`` of the search
    value (``100`` is ``[99.5, 100.5)``); the others compare with the exact value
    (http://hl7.org/fhir/R4/search.html#number). The target is its ``[lo, hi]`` (a value: lo == hi;
    a Range: its bounds)."""
    x = float(value.value)
    p = value.prefix
    if p == "eq":
        return {"lo": {"$gte": value.lo}, "hi": {"$lt": value.hi}}
    if p == "ne":
        return {"$or": [{"lo": {"$lt": value.lo}}, {"hi": {"$gte": value.hi}}]}
    if p == "ap":
        tol = abs(x) / 10
        return {"lo": {"$lte": x + tol}, "hi": {"$gte": x - tol}}
    ops = {"gt": ("hi", "$gt"), "lt": ("lo", "$lt"), "ge": ("hi", "$gte"), "le": ("lo", "$lte"),
           "sa": ("lo", "$gt"), "eb": ("hi", "$lt")}  # fmt: skip
    key, op = ops[p]
    return {key: {op: x}}


def quantity_cond(value: m.QuantityValue) -> Cond:
    """Number rules plus units: ``n|system|code`` matches system and code; ``n||unit`` matches the
    code or the human unit (http://hl7.org/fhir/R4/search.html#quantity). No UCUM conversion."""
    num = number_cond(value)
    if value.system is not None:
        return all_of(num, {"s": value.system, "c": value.code})
    if value.code is not None:  # code or human unit: both are indexed as ``c`` (see index_values)
        return all_of(num, {"c": value.code})
    return num


# --- uri ------------------------------------------------------------------------------------------
def uri_cond(value: m.UriValue, modifier: str | None) -> Cond:
    if modifier == "below":
        return {"v": starts_with(value.uri)}
    if modifier == "above":
        return {"v": {"$in": uri_ancestors(value.uri)}}
    return {"v": value.uri}


def uri_ancestors(uri: str) -> list[str]:
    """``http://a/b/c`` -> the uri itself and every path-segment parent (``http://a/b``, ``http://a``)."""
    out = [uri]
    scheme_end = uri.find("://")
    floor = uri.find("/", scheme_end + 3) if scheme_end >= 0 else 0
    cut = uri.rstrip("/")
    while True:
        idx = cut.rfind("/")
        if idx <= floor or idx < 0:
            break
        cut = cut[:idx]
        out.append(cut)
    if floor > 0 and uri[:floor] not in out:
        out.append(uri[:floor])
    return out

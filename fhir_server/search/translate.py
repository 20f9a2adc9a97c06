"""Translate parsed search clauses into MongoDB filters (http://hl7.org/fhir/R4/search.html).

One pure function per parameter type; each returns a filter on the index arrays of
:mod:`fhir_server.search.index` using ``$elemMatch`` so that every condition of one value holds on
the same entry (system and code of one Coding, components of one composite element). OR values
(comma) become ``$or`` inside the ``$elemMatch``; ``:not``/``:not-in``/``:missing=true`` become
``$nor``. ``_id`` and ``_lastUpdated`` are answered from the document's ``_id`` and ``ts``.

Chains and ``_has`` cannot be expressed as one filter: :func:`translate` returns a
:class:`~fhir_server.search.plan.SearchPlan` holding the inner plans; see there.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from fhir_server.errors import bad_request
from fhir_server.search import conditions as c
from fhir_server.search import model as m
from fhir_server.search.geo import bounding_box
from fhir_server.search.index import FIELD_OF_TYPE
from fhir_server.search.index_values import PHONETIC_URLS
from fhir_server.search.normalize import phonetic_codes

Filter = dict[str, Any]
ValueSetExpander = Callable[[str], Iterable[tuple[str | None, str]] | None]
MATCH_NOTHING: Filter = {"_id": {"$in": []}}


@dataclass(frozen=True)
class Context:
    """What translation needs beyond the clause: the ``:in`` expansion hook, "now" for date
    ``ap``, and this server's base URLs (absolute references to it match local ones)."""

    expand: ValueSetExpander | None = None
    now: datetime | None = None
    base_urls: tuple[str, ...] = ()

    def current_time(self) -> datetime:
        return self.now or datetime.now(timezone.utc).replace(tzinfo=None)


def _p(clause: m.Clause) -> Any:
    """What the ``p`` of the clause's index entries is: its code, or one of the codes that hold
    the entries of a parameter not stored itself (``Clause.stored_as``)."""
    return {"$in": list(clause.stored_as)} if clause.stored_as else clause.code


def _elem(field: str, clause: m.Clause, conds: list[c.Cond]) -> Filter:
    """Some entry of ``field`` of the clause's parameter matches one of ``conds`` (comma = OR).

    Each alternative becomes its own ``$elemMatch`` under a top-level ``$or`` (alternatives that
    differ in one value merged into ``$in``), so every branch constrains ``p`` and an indexed key:
    MongoDB cannot bound an index scan with an ``$or`` inside ``$elemMatch``."""
    p = _p(clause)
    if not conds:
        return {field: {"$elemMatch": {"p": p}}}
    branches = c.merge_in([branch for cond in conds for branch in c.dnf(cond)])
    out = [{field: {"$elemMatch": {"p": p, **branch}}} for branch in branches]
    return out[0] if len(out) == 1 else {"$or": out}


def translate_missing(clause: m.Clause) -> Filter:
    """``:missing=true`` (no entry for the parameter) / ``:missing=false`` (http://hl7.org/fhir/R4/search.html#missing)."""
    code = clause.param.code
    if code == "_id":
        return {"_id": {"$exists": not clause.missing}}
    if code == "_lastUpdated":
        return {"ts": {"$exists": not clause.missing}}
    if clause.param.type == "special":
        return {"_geo": {"$exists": not clause.missing}}
    present = {FIELD_OF_TYPE[clause.param.type]: {"$elemMatch": {"p": _p(clause)}}}
    return {"$nor": [present]} if clause.missing else present


def translate_string(clause: m.Clause) -> Filter:
    if clause.param.url in PHONETIC_URLS and clause.modifier is None:
        return translate_phonetic(clause)
    conds = [c.string_cond(v, clause.modifier) for v in clause.values]  # type: ignore[arg-type]
    return _elem("_str", clause, conds)


def translate_phonetic(clause: m.Clause) -> Filter:
    """``phonetic``: every word of the value sounds like (same Soundex code as) a word of a name."""
    alternatives = []
    for value in clause.values:
        assert isinstance(value, m.StringValue)
        codes = phonetic_codes(value.text)
        if codes:
            alternatives.append(and_filters([_elem("_str", clause, [{"v": code}]) for code in codes]))
    if not alternatives:
        return dict(MATCH_NOTHING)
    return alternatives[0] if len(alternatives) == 1 else {"$or": alternatives}


def translate_token(clause: m.Clause, ctx: Context = Context()) -> Filter:
    code, mod = clause.code, clause.modifier
    if code == "_id":
        ids = [v.code for v in clause.values if isinstance(v, m.TokenValue)]
        return {"_id": {"$nin" if mod == "not" else "$in": ids}}
    if mod in ("in", "not-in"):
        conds = []
        for v in clause.values:
            assert isinstance(v, m.UriValue)
            expansion = ctx.expand(v.uri) if ctx.expand else None
            if expansion is None:
                raise bad_request(f"Cannot expand value set '{v.uri}' for '{code}:{mod}'", code="not-supported")
            cond = c.value_set_cond(list(expansion))
            if cond is not None:
                conds.append(cond)
        if not conds:
            return {} if mod == "not-in" else dict(MATCH_NOTHING)
        found = _elem("_tok", clause, conds)
        return {"$nor": [found]} if mod == "not-in" else found
    found = _elem("_tok", clause, [c.token_cond(v) for v in clause.values])
    # :not = resources without a matching value, those missing the element included (search.html#token)
    return {"$nor": [found]} if mod == "not" else found


def translate_reference(clause: m.Clause, ctx: Context = Context()) -> Filter:
    if clause.modifier == "identifier":
        return _elem("_tok", clause, [c.token_cond(v) for v in clause.values])
    conds = [c.reference_cond(v, ctx.base_urls) for v in clause.values]  # type: ignore[arg-type]
    return _elem("_ref", clause, conds)


def translate_date(clause: m.Clause, ctx: Context = Context()) -> Filter:
    now = ctx.current_time()
    if clause.code == "_lastUpdated":
        conds = [c.date_cond(v, now, "ts", "ts") for v in clause.values]  # type: ignore[arg-type]
        return c.any_of(conds)
    conds = [c.date_cond(v, now) for v in clause.values]  # type: ignore[arg-type]
    return _elem("_dt", clause, conds)


def translate_number(clause: m.Clause) -> Filter:
    return _elem("_num", clause, [c.number_cond(v) for v in clause.values])  # type: ignore[arg-type]


def translate_quantity(clause: m.Clause) -> Filter:
    return _elem("_qty", clause, [c.quantity_cond(v) for v in clause.values])  # type: ignore[arg-type]


def translate_uri(clause: m.Clause) -> Filter:
    return _elem("_uri", clause, [c.uri_cond(v, clause.modifier) for v in clause.values])  # type: ignore[arg-type]


_COMPONENT_COND = {
    "string": lambda v, ctx: c.string_cond(v, None),
    "token": lambda v, ctx: c.token_cond(v),
    "reference": lambda v, ctx: c.reference_cond(v, ctx.base_urls),
    "date": lambda v, ctx: c.date_cond(v, ctx.current_time()),
    "number": lambda v, ctx: c.number_cond(v),
    "quantity": lambda v, ctx: c.quantity_cond(v),
    "uri": lambda v, ctx: c.uri_cond(v, None),
}


def translate_composite(clause: m.Clause, ctx: Context = Context()) -> Filter:
    """All components matched on the same element (one ``_cmp`` entry, component i under ``c<i>``),
    http://hl7.org/fhir/R4/search.html#composite."""
    conds = []
    for value in clause.values:
        assert isinstance(value, m.CompositeValue)
        parts = [
            c.prefixed(_COMPONENT_COND[comp.type](part, ctx), f"c{i}")
            for i, (comp, part) in enumerate(zip(clause.param.component, value.parts))
        ]
        conds.append(c.all_of(*parts))
    return _elem("_cmp", clause, conds)


def translate_special(clause: m.Clause) -> Filter:
    """``near``: a bounding box on ``_geo``; the exact distance is the plan's post-filter."""
    if clause.code != "near":
        raise bad_request(f"Search parameter '{clause.code}' is not supported", code="not-supported")
    value = clause.values[0]
    assert isinstance(value, m.NearValue)
    return bounding_box(value)


def translate_clause(clause: m.Clause, ctx: Context = Context()) -> Filter:
    """Dispatch one clause to the function of its parameter type."""
    if clause.missing is not None:
        return translate_missing(clause)
    kind = clause.param.type
    if kind == "string":
        return translate_string(clause)
    if kind == "token":
        return translate_token(clause, ctx)
    if kind == "reference":
        return translate_reference(clause, ctx)
    if kind == "date":
        return translate_date(clause, ctx)
    if kind == "number":
        return translate_number(clause)
    if kind == "quantity":
        return translate_quantity(clause)
    if kind == "uri":
        return translate_uri(clause)
    if kind == "composite":
        return translate_composite(clause, ctx)
    return translate_special(clause)


def and_filters(filters: list[Filter]) -> Filter:
    filters = [f for f in filters if f]
    if not filters:
        return {}
    return filters[0] if len(filters) == 1 else {"$and": filters}

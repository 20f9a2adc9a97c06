"""A search as the executor runs it: a static filter plus joins resolved inner-query-first.

:func:`translate` turns a :class:`ParsedSearch` into a :class:`SearchPlan`:

- ``filter``: the MongoDB filter of the plain clauses (ANDed);
- ``chains``: :class:`ChainJoin` per chained parameter (http://hl7.org/fhir/R4/search.html#chaining),
  with one inner plan per candidate target type. Resolved by running each inner plan on its type,
  collecting ``Type/id`` and matching ``{"_ref": {"$elemMatch": {"p": code, "r": {"$in": refs}}}}``;
- ``has``: :class:`HasJoin` per ``_has`` (#has): run the inner plan on the source type, read the
  ``_ref`` entries of its reference parameter pointing at this type, match ``_id $in``;
- ``near``: exact-distance post-filter (:meth:`SearchPlan.post_filter`) after the bounding box;
- ``sort``: MongoDB sort keys for ``_sort``.

`SearchPlan.resolve` does the joins given an async ``run(resource_type, filter, projection)``
callable, so this module stays free of any database code.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from fhir_server.errors import bad_request
from fhir_server.search import geo
from fhir_server.search import model as m
from fhir_server.search.translate import MATCH_NOTHING, Context, Filter, and_filters, translate_clause

Runner = Callable[[str, Filter, dict[str, Any]], Awaitable[Iterable[dict[str, Any]]]]


@dataclass
class ChainJoin:
    param: str  # reference parameter code on the outer type
    targets: dict[str, "SearchPlan"]  # target type -> inner plan

    async def resolve(self, run: Runner, limit: int | None = None) -> Filter:
        refs: list[str] = []
        for target, plan in self.targets.items():
            for doc in await run(target, await plan.resolve(run, limit), {"_id": 1, "_geo": 1}):
                if plan.post_filter(doc):
                    refs.append(f"{target}/{doc['_id']}")
                    _check_limit(refs, limit, self.param)
        if not refs:
            return dict(MATCH_NOTHING)
        return {"_ref": {"$elemMatch": {"p": self.param, "r": {"$in": refs}}}}


@dataclass
class HasJoin:
    source_type: str
    ref_param: str
    target_type: str | None  # the outer resource type (None for a search across all types)
    plan: "SearchPlan"

    async def resolve(self, run: Runner, limit: int | None = None) -> Filter:
        ids: set[str] = set()
        for doc in await run(self.source_type, await self.plan.resolve(run, limit), {"_ref": 1, "_geo": 1}):
            if not self.plan.post_filter(doc):
                continue
            for entry in doc.get("_ref") or ():
                if entry.get("p") == self.ref_param and entry.get("i") is not None:
                    if self.target_type is None or entry.get("t") == self.target_type:
                        ids.add(entry["i"])
            _check_limit(ids, limit, "_has")
        if not ids:
            return dict(MATCH_NOTHING)
        return {"_id": {"$in": sorted(ids)}}


def _check_limit(found: Any, limit: int | None, what: str) -> None:
    if limit is not None and len(found) > limit:
        raise bad_request(f"The inner search of '{what}' matches more than {limit} resources; refine it", code="too-costly")


@dataclass
class SearchPlan:
    resource_type: str | None
    filter: Filter
    chains: list[ChainJoin] = field(default_factory=list)
    has: list[HasJoin] = field(default_factory=list)
    near: list[m.NearValue] = field(default_factory=list)
    sort: list[tuple[str, int]] = field(default_factory=list)

    @property
    def needs_joins(self) -> bool:
        return bool(self.chains or self.has)

    async def resolve(self, run: Runner, limit: int | None = None) -> Filter:
        """The complete filter, after running the inner searches of chains and ``_has``."""
        if not self.needs_joins:
            return self.filter
        parts = [self.filter]
        for join in [*self.chains, *self.has]:
            resolved = await join.resolve(run, limit)
            if resolved == MATCH_NOTHING:
                return dict(MATCH_NOTHING)
            parts.append(resolved)
        return and_filters(parts)

    def post_filter(self, doc: dict[str, Any]) -> bool:
        """Exact checks the filter cannot do (``near`` distance); call on each matched document."""
        return all(geo.within(doc, near) for near in self.near)


def translate(parsed: m.ParsedSearch, ctx: Context = Context()) -> SearchPlan:
    """The plan of a parsed search (pure: nothing is run)."""
    filters = [translate_clause(cl, ctx) for cl in parsed.clauses]
    near = [
        v for cl in parsed.clauses if cl.param.type == "special" and cl.missing is None for v in cl.values
    ]  # fmt: skip
    chains = [
        ChainJoin(ch.param.code, {t: translate(inner, ctx) for t, inner in ch.inner.items()}) for ch in parsed.chains
    ]
    has = [HasJoin(h.source_type, h.ref_param.code, parsed.resource_type, translate(h.inner, ctx)) for h in parsed.has]
    return SearchPlan(
        parsed.resource_type,
        and_filters(filters),
        chains,
        has,
        near,  # type: ignore[arg-type]
        sort_spec(parsed.sort),
    )


def sort_field(code: str, descending: bool = False) -> str:
    """Document field for sorting by a parameter: ``_id``, ``ts`` for ``_lastUpdated``, else
    ``_sort.<code>`` (the smallest of the parameter's values) ascending and ``_sortd.<code>`` (the
    largest) descending. Resources without a value sort first ascending, last descending."""
    if code == "_id":
        return "_id"
    if code == "_lastUpdated":
        return "ts"
    return f"_sortd.{code}" if descending else f"_sort.{code}"


def sort_spec(keys: list[m.SortKey]) -> list[tuple[str, int]]:
    """pymongo sort list for ``_sort`` (http://hl7.org/fhir/R4/search.html#sort)."""
    return [(sort_field(k.code, k.descending), -1 if k.descending else 1) for k in keys]


# --- _include / _revinclude (http://hl7.org/fhir/R4/search.html#include) -------------------------
def include_targets(doc: dict[str, Any], include: m.Include) -> list[tuple[str, str]]:
    """(type, id) of the resources ``doc`` (a stored document of ``include.source_type``) points at
    through ``include.param`` (every reference parameter for ``*``), restricted to ``target_type``."""
    out: list[tuple[str, str]] = []
    for entry in doc.get("_ref") or ():
        if include.param != "*" and entry.get("p") != include.param:
            continue
        t, i = entry.get("t"), entry.get("i")
        if t is None or i is None or (include.target_type and t != include.target_type):
            continue
        if (t, i) not in out:
            out.append((t, i))
    return out


def revinclude_filter(refs: list[str], codes: list[str]) -> Filter:
    """Filter on a source type for resources whose reference parameters ``codes`` point at one of
    ``refs`` (``Type/id`` of the matched resources)."""
    p: Any = codes[0] if len(codes) == 1 else {"$in": codes}
    return {"_ref": {"$elemMatch": {"p": p, "r": {"$in": refs}}}}


def include_filter(refs: list[tuple[str, str]], resource_type: str) -> Filter:
    """Filter on ``resource_type``'s collection for the ids among ``refs`` of that type."""
    return {"_id": {"$in": [i for t, i in refs if t == resource_type]}}

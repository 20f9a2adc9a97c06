"""``_include`` and ``_revinclude``, with ``:iterate`` (http://hl7.org/fhir/R4/search.html#include).

Included resources are read through the repository like any other query, so the caller's access
filter applies to them too: nothing leaks out of a tenant or compartment through an include.
"""

from __future__ import annotations

from typing import Any

from fhir_server.context import RequestContext
from fhir_server.interactions.backend import Backend
from fhir_server.search import model as m
from fhir_server.search.plan import include_targets, revinclude_filter

Doc = dict[str, Any]
MAX_ITERATIONS = 4
MAX_REVINCLUDED = 1000
FIELDS = {"_id": 1, "vid": 1, "ts": 1, "del": 1, "raw": 1, "_ref": 1}


async def included(
    backend: Backend, ctx: RequestContext, parsed: m.ParsedSearch, matches: list[tuple[str, Doc]],
) -> list[tuple[str, Doc]]:
    """The resources the ``_include``/``_revinclude`` parameters add to a page of ``matches``."""
    if not parsed.include and not parsed.revinclude:
        return []
    seen = {(t, d["_id"]) for t, d in matches}
    added: list[tuple[str, Doc]] = []
    frontier = matches
    for round_number in range(MAX_ITERATIONS):
        first = round_number == 0
        forward = [i for i in parsed.include if first or i.iterate]
        reverse = [i for i in parsed.revinclude if first or i.iterate]
        found = await _forward(backend, ctx, forward, frontier) + await _reverse(backend, ctx, reverse, frontier)
        frontier = []
        for resource_type, doc in found:
            if (resource_type, doc["_id"]) not in seen:
                seen.add((resource_type, doc["_id"]))
                frontier.append((resource_type, doc))
        added += frontier
        if not frontier:
            break
    return added


async def _forward(backend: Backend, ctx: RequestContext, includes: list[m.Include], docs: list[tuple[str, Doc]]) -> list[tuple[str, Doc]]:
    wanted: dict[str, set[str]] = {}
    for include in includes:
        for resource_type, doc in docs:
            if include.source_type in (resource_type, "*"):
                for target_type, target_id in include_targets(doc, include):
                    wanted.setdefault(target_type, set()).add(target_id)
    found = []
    for target_type, ids in wanted.items():
        for doc in await backend.repository.find(ctx, target_type, {"_id": {"$in": sorted(ids)}}, fields=FIELDS):
            found.append((target_type, doc))
    return found


async def _reverse(backend: Backend, ctx: RequestContext, includes: list[m.Include], docs: list[tuple[str, Doc]]) -> list[tuple[str, Doc]]:
    if not docs:
        return []
    refs = [f"{t}/{d['_id']}" for t, d in docs]
    found = []
    for include in includes:
        matches = await backend.repository.find(
            ctx, include.source_type, revinclude_filter(include, refs), fields=FIELDS, limit=MAX_REVINCLUDED
        )
        found += [(include.source_type, doc) for doc in matches]
    return found

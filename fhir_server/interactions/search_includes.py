"""``_include`` and ``_revinclude``, with ``:iterate`` and ``*`` (http://hl7.org/fhir/R4/search.html#include).

Included resources are read through the repository like any other query, so the caller's access
filter applies to them too: nothing leaks out of a tenant or compartment through an include.

- ``_include=Source:param[:Target]`` / ``_include=*``: the resources the page's matches point at.
- ``_revinclude=Source:param`` / ``Source:*`` / ``*``: the resources pointing at them, through
  ``param``, every reference parameter of Source, or every reference parameter of every stored
  type that can point at them (queries name the parameter codes so they stay on the ``_ref`` index).
- ``:iterate``: applied again to what the previous round added, up to MAX_ITERATIONS rounds.

Each round's additions are ordered by type and id, so the Bundle is deterministic.
"""

from __future__ import annotations

from typing import Any

from fhir_server.context import RequestContext
from fhir_server.interactions.backend import Backend
from fhir_server.search import model as m
from fhir_server.search.plan import include_targets, revinclude_filter
from fhir_server.spec.resource_types import RESOURCE_TYPES
from fhir_server.spec.search_parameters import params_for
from fhir_server.storage.reindex_store import stored_types

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
        if not forward and not reverse:
            break
        found = await _forward(backend, ctx, forward, frontier) + await _reverse(backend, ctx, reverse, frontier)
        frontier = []
        for resource_type, doc in sorted(found, key=lambda item: (item[0], item[1]["_id"])):
            if (resource_type, doc["_id"]) not in seen:
                seen.add((resource_type, doc["_id"]))
                frontier.append((resource_type, doc))
        added += frontier
        if not frontier:
            break
    return added


async def _forward(
    backend: Backend, ctx: RequestContext, includes: list[m.Include], docs: list[tuple[str, Doc]],
) -> list[tuple[str, Doc]]:
    wanted: dict[str, set[str]] = {}
    for include in includes:
        for resource_type, doc in docs:
            if include.source_type in (resource_type, "*"):
                for target_type, target_id in include_targets(doc, include):
                    wanted.setdefault(target_type, set()).add(target_id)
    found = []
    for target_type, ids in sorted(wanted.items()):
        if target_type not in RESOURCE_TYPES:
            continue
        for doc in await backend.repository.find(ctx, target_type, {"_id": {"$in": sorted(ids)}}, fields=FIELDS):
            found.append((target_type, doc))
    return found


async def _reverse(
    backend: Backend, ctx: RequestContext, includes: list[m.Include], docs: list[tuple[str, Doc]],
) -> list[tuple[str, Doc]]:
    if not docs or not includes:
        return []
    found = []
    for (source, target), codes in await _sources(backend, includes, {t for t, _ in docs}):
        refs = [f"{t}/{d['_id']}" for t, d in docs if target in (None, t)]
        if not refs:
            continue
        matches = await backend.repository.find(
            ctx, source, revinclude_filter(refs, codes), fields=FIELDS, limit=MAX_REVINCLUDED,
        )
        found += [(source, doc) for doc in matches]
    return found


async def _sources(
    backend: Backend, includes: list[m.Include], targets: set[str],
) -> list[tuple[tuple[str, str | None], list[str]]]:
    """((source type, target type or None), reference parameter codes) to query for ``_revinclude``."""
    wanted: dict[tuple[str, str | None], set[str]] = {}
    stored: list[str] | None = None
    for include in includes:
        if include.source_type == "*":
            stored = stored if stored is not None else await stored_types(backend.repository, RESOURCE_TYPES)
            sources = stored
        else:
            sources = [include.source_type]
        for source in sources:
            codes = _reference_codes(source, targets) if include.param == "*" else [include.param]
            if codes:
                wanted.setdefault((source, include.target_type), set()).update(codes)
    return [(key, sorted(codes)) for key, codes in sorted(wanted.items(), key=lambda kv: (kv[0][0], kv[0][1] or ""))]


def _reference_codes(source: str, targets: set[str]) -> list[str]:
    """The reference parameters of ``source`` that can point at one of ``targets``."""
    return [
        code for code, p in params_for(source).items()
        if p.type == "reference" and p.indexed and (not p.target or targets & set(p.target))
    ]

"""search at type, system and compartment level (http://hl7.org/fhir/R4/search.html).

A search is parsed against the parameter registry, translated to a MongoDB filter over the
write-time index (chains and ``_has`` resolved inner query first), and run through the
repository, which adds the caller's access filter. The ordered ids of the matches are kept in a
snapshot when they span several pages, so ``next``/``previous`` links stay stable while data
changes. Entries are spliced from the stored JSON bytes.
"""

from __future__ import annotations

from functools import cache
from typing import Any
from urllib.parse import parse_qsl, urlencode

import orjson

from fhir_server import errors
from fhir_server.context import RequestContext
from fhir_server.errors import Issue, operation_outcome
from fhir_server.interactions.backend import Backend
from fhir_server.interactions.rendering import bundle_bytes, entry_bytes
from fhir_server.interactions.search_includes import FIELDS, included
from fhir_server.interactions.shaping import select_elements, summarize
from fhir_server.interactions.valuesets import expansions, value_set_urls
from fhir_server.search import model as m
from fhir_server.search.parse import parse_search
from fhir_server.search.plan import SearchPlan, translate
from fhir_server.search.translate import Context
from fhir_server.spec.resource_types import RESOURCE_TYPES
from fhir_server.spec.search_parameters import patient_compartment
from fhir_server.storage.repository import StoredVersion
from fhir_server.storage.snapshots import load_snapshot, save_snapshot

Doc = dict[str, Any]
Ref = tuple[str, str]
PAGING = ("_getpages", "_offset")
SNAPSHOT_SECONDS = 3600
MAX_JOIN_RESULTS = 10_000


@cache
def _compartment() -> dict[str, tuple[str, ...]]:
    return patient_compartment()


async def search(
    backend: Backend, ctx: RequestContext, resource_type: str | None, query: list[tuple[str, str]], *,
    compartment: tuple[str, str] | None = None, lenient: bool = False,
) -> bytes:
    """A ``searchset`` Bundle for ``query`` (``_getpages`` continues an earlier search)."""
    state = dict((k, v) for k, v in query if k in PAGING)
    if "_getpages" in state:
        return await _continue(backend, ctx, state["_getpages"], _offset(state.get("_offset")), query)
    criteria = [(k, v) for k, v in query if k not in PAGING]
    parsed = parse_search(resource_type, criteria, lenient=lenient)
    if parsed.contained not in (None, "false"):
        raise errors.bad_request("_contained=true|both is not supported: contained resources are not searched", "_contained")
    refs, total = await _matching_refs(backend, ctx, parsed, compartment)
    count = _page_size(backend, parsed)
    path = _path(resource_type, compartment)
    kept = [(k, v) for k, v in criteria if (k, v) not in parsed.ignored]
    self_url = f"{backend.settings.base_url}/{path}?{urlencode(kept)}".rstrip("?")
    links = [("self", self_url)]
    if parsed.summary == "count":
        return bundle_bytes("searchset", [], total=total)
    if len(refs) > count:
        key = await save_snapshot(backend.repository, refs, f"{path}?{urlencode(kept)}", SNAPSHOT_SECONDS)
        links.append(("next", _page_url(backend, key, count, count)))
    entries = await _page_entries(backend, ctx, parsed, refs[:count])
    if parsed.ignored:
        entries.append(_ignored_outcome(parsed.ignored))
    return bundle_bytes("searchset", entries, total=None if parsed.total == "none" else total, links=links)


async def find_matches(
    backend: Backend, ctx: RequestContext, resource_type: str, criteria: list[tuple[str, str]], limit: int,
) -> list[StoredVersion]:
    """The current resources matching ``criteria`` (for conditional interactions), at most ``limit``."""
    parsed = parse_search(resource_type, [(k, v) for k, v in criteria if not k.startswith("_format")])
    plan = translate(parsed, await _context(backend, ctx, parsed))
    flt = await plan.resolve(_runner(backend, ctx), MAX_JOIN_RESULTS)
    docs = await backend.repository.find(ctx, resource_type, flt, limit=0 if plan.near else limit)
    return [backend.repository.stored(resource_type, d) for d in docs if plan.post_filter(d)][:limit]


async def _matching_refs(
    backend: Backend, ctx: RequestContext, parsed: m.ParsedSearch, compartment: tuple[str, str] | None,
) -> tuple[list[Ref], int]:
    """The ordered (type, id) of every match and their number."""
    context = await _context(backend, ctx, parsed)
    refs: list[Ref] = []
    for resource_type in _types(parsed):
        plan = translate(_for_type(parsed, resource_type), context)
        flt = await plan.resolve(_runner(backend, ctx), MAX_JOIN_RESULTS)
        if compartment is not None:
            flt = _in_compartment(flt, resource_type, compartment)
            if flt is None:
                continue
        fields = {"_id": 1, "_geo": 1} if plan.near else {"_id": 1}
        docs = await backend.repository.find(ctx, resource_type, flt, sort=_sort(plan), fields=fields)
        refs += [(resource_type, d["_id"]) for d in docs if plan.post_filter(d)]
    return refs, len(refs)


def _for_type(parsed: m.ParsedSearch, resource_type: str) -> m.ParsedSearch:
    if parsed.resource_type == resource_type:
        return parsed
    copy = m.ParsedSearch(**{**parsed.__dict__})
    copy.resource_type = resource_type
    return copy


def _types(parsed: m.ParsedSearch) -> list[str]:
    if parsed.resource_type:
        return [parsed.resource_type]
    if parsed.types:
        unknown = [t for t in parsed.types if t not in RESOURCE_TYPES]
        if unknown:
            raise errors.bad_request(f"_type names unknown resource types: {', '.join(unknown)}", "_type")
        return parsed.types
    return sorted(RESOURCE_TYPES)


def _sort(plan: SearchPlan) -> list[tuple[str, int]]:
    keys = list(plan.sort)
    if not any(k == "_id" for k, _ in keys):
        keys.append(("_id", 1))
    return keys


def _in_compartment(flt: Doc, resource_type: str, compartment: tuple[str, str]) -> Doc | None:
    """``flt`` restricted to the Patient compartment (http://hl7.org/fhir/R4/compartmentdefinition-patient.html)."""
    owner_type, owner_id = compartment
    if owner_type != "Patient":
        raise errors.bad_request(f"Compartment searches are supported for Patient, not {owner_type}")
    codes = _compartment().get(resource_type)
    if resource_type == "Patient":
        return {"$and": [flt, {"_id": owner_id}]}
    if not codes:
        return None
    member = {"_ref": {"$elemMatch": {"p": {"$in": list(codes)}, "r": f"Patient/{owner_id}"}}}
    return {"$and": [flt, member]} if flt else member


def _runner(backend: Backend, ctx: RequestContext):
    async def run(resource_type: str, flt: Doc, projection: dict[str, Any]) -> list[Doc]:
        return await backend.repository.find(ctx, resource_type, flt, fields=projection)

    return run


async def _context(backend: Backend, ctx: RequestContext, parsed: m.ParsedSearch) -> Context:
    urls = value_set_urls(parsed)
    expanded = await expansions(backend, ctx, urls) if urls else {}
    return Context(expand=expanded.get, base_urls=(backend.settings.base_url,))


async def _page_entries(backend: Backend, ctx: RequestContext, parsed: m.ParsedSearch, page: list[Ref]) -> list[bytes]:
    docs = await _fetch(backend, ctx, page)
    matches = [(t, docs[(t, i)]) for t, i in page if (t, i) in docs]
    extra = await included(backend, ctx, parsed, matches)
    base = backend.settings.base_url
    return [_entry(base, parsed, t, d, "match") for t, d in matches] + [_entry(base, parsed, t, d, "include") for t, d in extra]


async def _fetch(backend: Backend, ctx: RequestContext, page: list[Ref]) -> dict[Ref, Doc]:
    by_type: dict[str, list[str]] = {}
    for resource_type, resource_id in page:
        by_type.setdefault(resource_type, []).append(resource_id)
    found: dict[Ref, Doc] = {}
    for resource_type, ids in by_type.items():
        for doc in await backend.repository.find(ctx, resource_type, {"_id": {"$in": ids}}, fields=FIELDS):
            found[(resource_type, doc["_id"])] = doc
    return found


def _entry(base: str, parsed: m.ParsedSearch, resource_type: str, doc: Doc, mode: str) -> bytes:
    raw = doc["raw"]
    if mode == "match" and (parsed.summary not in (None, "false") or parsed.elements):
        resource = orjson.loads(raw)
        if parsed.summary not in (None, "false"):
            resource = summarize(resource, parsed.summary)
        if parsed.elements:
            resource = select_elements(resource, parsed.elements)
        raw = orjson.dumps(resource)
    return entry_bytes({"fullUrl": f"{base}/{resource_type}/{doc['_id']}"}, raw, {"search": {"mode": mode}})


def _ignored_outcome(ignored: list[tuple[str, str]]) -> bytes:
    names = ", ".join(sorted({name for name, _ in ignored}))
    outcome = operation_outcome([Issue("not-supported", f"Unknown search parameters ignored: {names}", severity="warning")])
    return entry_bytes({}, orjson.dumps(outcome), {"search": {"mode": "outcome"}})


async def _continue(backend: Backend, ctx: RequestContext, key: str, offset: int, query: list[tuple[str, str]]) -> bytes:
    """A later page of a snapshotted search."""
    snapshot = await load_snapshot(backend.repository, key)
    if snapshot is None:
        raise errors.gone("This search has expired; run it again")
    original, refs = snapshot
    path, _, original_query = original.partition("?")
    resource_type = path if path in RESOURCE_TYPES else None
    parsed = parse_search(resource_type, parse_qsl(original_query, keep_blank_values=True), lenient=True)
    count = _offset(dict(query).get("_count")) or _page_size(backend, parsed)
    links = [("self", _page_url(backend, key, offset, count))]
    if offset + count < len(refs):
        links.append(("next", _page_url(backend, key, offset + count, count)))
    if offset > 0:
        links.append(("previous", _page_url(backend, key, max(0, offset - count), count)))
    entries = await _page_entries(backend, ctx, parsed, refs[offset:offset + count])
    return bundle_bytes("searchset", entries, total=None if parsed.total == "none" else len(refs), links=links)


def _page_url(backend: Backend, key: str, offset: int, count: int) -> str:
    return f"{backend.settings.base_url}?{urlencode([('_getpages', key), ('_offset', offset), ('_count', count)])}"


def _page_size(backend: Backend, parsed: m.ParsedSearch) -> int:
    settings = backend.settings
    return min(parsed.count if parsed.count is not None else settings.default_page_size, settings.max_page_size)


def _offset(value: str | None) -> int:
    if value is None:
        return 0
    if not value.isdigit():
        raise errors.bad_request(f"Paging offsets and counts are non-negative integers, got {value!r}")
    return int(value)


def _path(resource_type: str | None, compartment: tuple[str, str] | None) -> str:
    if compartment is not None:
        return f"{compartment[0]}/{compartment[1]}/{resource_type}"
    return resource_type or ""

"""search at type, system and compartment level (http://hl7.org/fhir/R4/search.html).

A search is parsed against the parameter registry, translated to a MongoDB filter over the
write-time index (chains and ``_has`` resolved inner query first), and run through the
repository, which adds the caller's access filter. The ordered ids of the matches are kept in a
snapshot when they span several pages, so ``next``/``previous`` links stay stable while data
changes (http://hl7.org/fhir/R4/http.html#paging). Entries are spliced from the stored JSON bytes.

System search (``GET [base]?_type=A,B&...``) parses the criteria once per type (a parameter must be
known on every listed type) and, with ``_sort``, merges the types' results by the sort keys.
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
from fhir_server.interactions import search_parameter_sync
from fhir_server.interactions.rendering import bundle_bytes, entry_bytes
from fhir_server.interactions.search_includes import FIELDS, included
from fhir_server.interactions.shaping import select_elements, summarize
from fhir_server.interactions.valuesets import expansions, value_set_urls
from fhir_server.search import model as m
from fhir_server.search.index_values import local_bases, set_local_bases
from fhir_server.search.parse import parse_search
from fhir_server.search.plan import SearchPlan, translate
from fhir_server.search.translate import Context
from fhir_server.spec.resource_types import RESOURCE_TYPES
from fhir_server.spec.search_parameters import patient_compartment
from fhir_server.storage.reindex_store import stored_types
from fhir_server.storage.repository import StoredVersion
from fhir_server.storage.snapshots import load_snapshot, save_snapshot

Doc = dict[str, Any]
Ref = tuple[str, str]
PAGING = ("_getpages", "_offset")
SNAPSHOT_SECONDS = 3600
MAX_JOIN_RESULTS = 10_000
MAX_RESULTS = 50_000  # ids kept per search (snapshot size); beyond: the first ones, with a warning


@cache
def _compartment() -> dict[str, tuple[str, ...]]:
    return patient_compartment()


async def search(
    backend: Backend, ctx: RequestContext, resource_type: str | None, query: list[tuple[str, str]], *,
    compartment: tuple[str, str] | None = None, lenient: bool = False,
) -> bytes:
    """A ``searchset`` Bundle for ``query`` (``_getpages`` continues an earlier search)."""
    await prepare(backend)
    state = dict((k, v) for k, v in query if k in PAGING)
    if "_getpages" in state:
        return await _continue(backend, ctx, state["_getpages"], _offset(state.get("_offset")), query)
    criteria = [(k, v) for k, v in query if k not in PAGING]
    parsed = _parse(resource_type, criteria, lenient)
    if parsed.contained not in (None, "false"):
        raise errors.bad_request("_contained=true|both is not supported: contained resources are not searched", "_contained")
    path = _path(resource_type, compartment)
    kept = [(k, v) for k, v in criteria if (k, v) not in parsed.ignored]
    links = [("self", _url(backend, path, kept))]
    count = _page_size(backend, parsed)
    if parsed.summary == "count" or count == 0:
        total = await _count(backend, ctx, parsed, compartment)
        return bundle_bytes("searchset", _outcomes(parsed, False), total=total, links=links)
    refs, total, truncated = await _matching_refs(backend, ctx, parsed, compartment)
    if len(refs) > count:
        key = await save_snapshot(backend.repository, refs, f"{path}?{urlencode(kept)}", SNAPSHOT_SECONDS, total)
        links.append(("next", _page_url(backend, key, count, count)))
    entries = await _page_entries(backend, ctx, parsed, refs[:count])
    entries += _outcomes(parsed, truncated)
    return bundle_bytes("searchset", entries, total=None if parsed.total == "none" else total, links=links)


async def prepare(backend: Backend) -> None:
    """Before a search: custom SearchParameters changed by other processes are picked up (at most
    every few seconds), and absolute references to this server's base URL count as local."""
    await search_parameter_sync.refresh(backend)
    if not local_bases():
        set_local_bases((backend.settings.base_url,))


async def find_matches(
    backend: Backend, ctx: RequestContext, resource_type: str, criteria: list[tuple[str, str]], limit: int,
) -> list[StoredVersion]:
    """The current resources matching ``criteria`` (for conditional interactions), at most ``limit``."""
    await prepare(backend)
    parsed = parse_search(resource_type, [(k, v) for k, v in criteria if not k.startswith("_format")])
    plan = translate(parsed, await _context(backend, ctx, parsed))
    flt = await plan.resolve(_runner(backend, ctx), MAX_JOIN_RESULTS)
    docs = await backend.repository.find(ctx, resource_type, flt, limit=0 if plan.near else limit)
    return [backend.repository.stored(resource_type, d) for d in docs if plan.post_filter(d)][:limit]


# --- parsing ---------------------------------------------------------------------------------------
def _parse(resource_type: str | None, criteria: list[tuple[str, str]], lenient: bool) -> m.ParsedSearch:
    """The parsed search; at system level with ``_type`` the criteria are parsed for each listed
    type (http://hl7.org/fhir/R4/search.html#all: parameters common to those types) into ``per_type``."""
    types = _listed_types(criteria) if resource_type is None else []
    if not types:
        return parse_search(resource_type, criteria, lenient=lenient)
    per_type = {t: parse_search(t, criteria, lenient=lenient) for t in types}
    parsed = per_type[types[0]]
    system = m.ParsedSearch(None, **{k: v for k, v in parsed.__dict__.items() if k not in ("resource_type", "per_type")})
    system.types = types
    system.ignored = sorted({item for p in per_type.values() for item in p.ignored})
    system.per_type = per_type
    return system


def _listed_types(criteria: list[tuple[str, str]]) -> list[str]:
    types: list[str] = []
    for key, value in criteria:
        if key == "_type":
            for name in (v.strip() for v in value.split(",")):
                if name not in RESOURCE_TYPES:
                    raise errors.bad_request(f"Invalid value {name!r} for '_type': not a resource type", "_type")
                if name not in types:
                    types.append(name)
    return types


def _for_type(parsed: m.ParsedSearch, resource_type: str) -> m.ParsedSearch:
    if parsed.per_type:
        return parsed.per_type[resource_type]
    if parsed.resource_type == resource_type:
        return parsed
    copy = m.ParsedSearch(**{**parsed.__dict__})
    copy.resource_type = resource_type
    return copy


async def _types(backend: Backend, parsed: m.ParsedSearch) -> list[str]:
    if parsed.resource_type:
        return [parsed.resource_type]
    if parsed.types:
        return parsed.types
    return await stored_types(backend.repository, RESOURCE_TYPES)


# --- matching ---------------------------------------------------------------------------------------
async def _plans(
    backend: Backend, ctx: RequestContext, parsed: m.ParsedSearch, compartment: tuple[str, str] | None,
) -> list[tuple[str, SearchPlan, Doc]]:
    """(type, plan, resolved filter) per searched type; types outside the compartment are left out."""
    context = await _context(backend, ctx, parsed)
    out = []
    for resource_type in await _types(backend, parsed):
        plan = translate(_for_type(parsed, resource_type), context)
        flt: Doc | None = await plan.resolve(_runner(backend, ctx), MAX_JOIN_RESULTS)
        if compartment is not None:
            flt = _in_compartment(flt or {}, resource_type, compartment)
            if flt is None:
                continue
        out.append((resource_type, plan, flt or {}))
    return out


async def _matching_refs(
    backend: Backend, ctx: RequestContext, parsed: m.ParsedSearch, compartment: tuple[str, str] | None,
) -> tuple[list[Ref], int, bool]:
    """The ordered (type, id) of the matches (at most MAX_RESULTS), their number, and whether
    there were more than MAX_RESULTS."""
    plans = await _plans(backend, ctx, parsed, compartment)
    merge = len(plans) > 1 and bool(parsed.sort)
    found: list[tuple[str, Doc]] = []
    total = 0
    for resource_type, plan, flt in plans:
        docs, count = await _ids(backend, ctx, resource_type, plan, flt, merge)
        total += count
        if len(plans) == 1:
            return [(resource_type, d["_id"]) for d in docs[:MAX_RESULTS]], total, total > MAX_RESULTS
        found += [(resource_type, d) for d in docs]
    if merge:
        found = _merged(found, plans[0][1].sort)
    return [(t, d["_id"]) for t, d in found[:MAX_RESULTS]], total, total > MAX_RESULTS


async def _ids(
    backend: Backend, ctx: RequestContext, resource_type: str, plan: SearchPlan, flt: Doc, with_sort_keys: bool,
) -> tuple[list[Doc], int]:
    """The matching documents of one type in ``_sort`` order (``_id``, and the sort keys when the
    results of several types are merged; at most MAX_RESULTS + 1) and how many match in all."""
    fields = {"_id": 1, **({"_geo": 1} if plan.near else {}), **({f: 1 for f, _ in plan.sort} if with_sort_keys else {})}
    limit = 0 if plan.near else MAX_RESULTS + 1
    docs = await backend.repository.find(ctx, resource_type, flt, sort=_sort(plan), fields=fields, limit=limit)
    if plan.near:
        docs = [d for d in docs if plan.post_filter(d)]
    elif len(docs) > MAX_RESULTS:
        return docs, await backend.repository.count(ctx, resource_type, flt)
    return docs, len(docs)


async def _count(backend: Backend, ctx: RequestContext, parsed: m.ParsedSearch, compartment: tuple[str, str] | None) -> int:
    """The number of matches (``_summary=count``, ``_count=0``) without fetching them."""
    total = 0
    for resource_type, plan, flt in await _plans(backend, ctx, parsed, compartment):
        if plan.near:
            docs = await backend.repository.find(ctx, resource_type, flt, fields={"_id": 1, "_geo": 1})
            total += sum(1 for d in docs if plan.post_filter(d))
        else:
            total += await backend.repository.count(ctx, resource_type, flt)
    return total


def _merged(found: list[tuple[str, Doc]], keys: list[tuple[str, int]]) -> list[tuple[str, Doc]]:
    """Results of several types ordered by the ``_sort`` keys (missing values first ascending,
    last descending, as within one type), then by id and type."""
    ordered = sorted(found, key=lambda item: (item[1]["_id"], item[0]))
    for field, direction in reversed(keys):
        ordered.sort(key=lambda item: _sort_value(item[1], field), reverse=direction < 0)
    return ordered


def _sort_value(doc: Doc, field: str) -> tuple:
    value: Any = doc
    for part in field.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    if value is None:
        return (0,)
    return (1, type(value).__name__, value)


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
    if resource_type == "Patient":
        return {"$and": [flt, {"_id": owner_id}]} if flt else {"_id": owner_id}
    codes = _compartment().get(resource_type)
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
    for inner in parsed.per_type.values():
        urls |= value_set_urls(inner)
    expanded = await expansions(backend, ctx, urls) if urls else {}
    return Context(expand=expanded.get, base_urls=(backend.settings.base_url,))


# --- the page ----------------------------------------------------------------------------------------
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


def _outcomes(parsed: m.ParsedSearch, truncated: bool) -> list[bytes]:
    """An ``outcome`` entry with warnings: parameters ignored under ``Prefer: handling=lenient``
    (http://hl7.org/fhir/R4/search.html#errors), results cut at MAX_RESULTS."""
    issues = []
    unknown = sorted({name for name, value in parsed.ignored if value != ""})  # empty ones are silently ignored
    if unknown:
        names = ", ".join(unknown)
        issues.append(Issue("not-supported", f"Unknown search parameters ignored: {names}", severity="warning"))
    if truncated:
        cut = f"Only the first {MAX_RESULTS} matches can be paged through; refine the search"
        issues.append(Issue("too-costly", cut, severity="warning"))
    if not issues:
        return []
    return [orjson.dumps({"resource": operation_outcome(issues), "search": {"mode": "outcome"}})]


# --- later pages -------------------------------------------------------------------------------------
async def _continue(backend: Backend, ctx: RequestContext, key: str, offset: int, query: list[tuple[str, str]]) -> bytes:
    """A later page of a snapshotted search: the ids stored by the first page, so pages neither
    repeat nor skip resources when data changes in between (deleted ones are left out)."""
    snapshot = await load_snapshot(backend.repository, key)
    if snapshot is None:
        raise errors.gone("This search has expired; run it again")
    original, refs, total = snapshot
    path, _, original_query = original.partition("?")
    last = path.rsplit("/", 1)[-1]
    resource_type = last if last in RESOURCE_TYPES else None
    parsed = parse_search(resource_type, parse_qsl(original_query, keep_blank_values=True), lenient=True)
    count = min(_offset(dict(query).get("_count")) or _page_size(backend, parsed), backend.settings.max_page_size)
    links = [("self", _page_url(backend, key, offset, count))]
    if offset + count < len(refs):
        links.append(("next", _page_url(backend, key, offset + count, count)))
    if offset > 0:
        links.append(("previous", _page_url(backend, key, max(0, offset - count), count)))
    entries = await _page_entries(backend, ctx, parsed, refs[offset:offset + count])
    return bundle_bytes("searchset", entries, total=None if parsed.total == "none" else total, links=links)


def _url(backend: Backend, path: str, query: list[tuple[str, str]]) -> str:
    base = f"{backend.settings.base_url}/{path}" if path else backend.settings.base_url
    return f"{base}?{urlencode(query)}" if query else base


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

"""ValueSet expansion for the token modifiers ``:in`` / ``:not-in`` (http://hl7.org/fhir/R4/search.html#modifiers).

Only value sets this server holds are used: their ``expansion.contains``, else their
``compose.include`` (listed concepts, or every concept of a CodeSystem the server holds).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson

from fhir_server.context import RequestContext
from fhir_server.interactions.backend import Backend
from fhir_server.search import model as m

Pairs = list[tuple[str | None, str]]


def value_set_urls(parsed: m.ParsedSearch) -> set[str]:
    """The value set URLs named by ``:in``/``:not-in`` clauses (chains and ``_has`` included)."""
    urls = {v.uri for c in parsed.clauses if c.modifier in ("in", "not-in") for v in c.values if isinstance(v, m.UriValue)}
    for chain in parsed.chains:
        for inner in chain.inner.values():
            urls |= value_set_urls(inner)
    for has in parsed.has:
        urls |= value_set_urls(has.inner)
    return urls


async def expansions(backend: Backend, ctx: RequestContext, urls: set[str]) -> dict[str, Pairs]:
    """The (system, code) pairs of each value set URL the server holds; absent ones are left out."""
    found: dict[str, Pairs] = {}
    for url in urls:
        value_set = await _by_url(backend, ctx, "ValueSet", url)
        if value_set is not None:
            found[url] = await _expand(backend, ctx, value_set)
    return found


async def _by_url(backend: Backend, ctx: RequestContext, resource_type: str, url: str) -> dict[str, Any] | None:
    docs = await backend.repository.find(ctx, resource_type, {"_uri": {"$elemMatch": {"p": "url", "v": url}}}, limit=1)
    return orjson.loads(docs[0]["raw"]) if docs else None


async def _expand(backend: Backend, ctx: RequestContext, value_set: dict[str, Any]) -> Pairs:
    contains = (value_set.get("expansion") or {}).get("contains")
    if contains:
        return list(_contains(contains))
    pairs: Pairs = []
    for include in (value_set.get("compose") or {}).get("include", []):
        system = include.get("system")
        if include.get("concept"):
            pairs += [(system, concept["code"]) for concept in include["concept"]]
        elif system:
            code_system = await _by_url(backend, ctx, "CodeSystem", system)
            if code_system is not None:
                pairs += [(system, code) for code in _concepts(code_system.get("concept", []))]
    return pairs


def _contains(items: list[dict[str, Any]]) -> Iterator[tuple[str | None, str]]:
    for item in items:
        if "code" in item:
            yield item.get("system"), item["code"]
        yield from _contains(item.get("contains", []))


def _concepts(items: list[dict[str, Any]]) -> Iterator[str]:
    for item in items:
        yield item["code"]
        yield from _concepts(item.get("concept", []))

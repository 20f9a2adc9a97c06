"""Custom ``SearchParameter`` resources become search parameters (http://hl7.org/fhir/R4/searchparameter.html).

A SearchParameter written through the API is checked before it is stored (:func:`check`: a 400
names what is wrong), registered in the parameter registry once stored (:func:`on_saved`), so the
next write of its base types is indexed by it and searches can use it, and unregistered when it
is deleted or retired. Documents written before it carry no index for it: ``$reindex`` adds it.

At start-up :func:`load_custom` registers every stored SearchParameter that is not an official
R4 one (and tells the index which base URL is this server's). Several processes serving one
database see each other's changes through :func:`refresh`: at most every ``REFRESH_SECONDS`` it
compares (number, newest ``ts``) of the stored SearchParameters with what it last loaded.

Wiring (the write path calls these): ``check(resource)`` when a SearchParameter is validated,
``on_saved(type, resource, id)`` / ``on_versions(versions)`` after versions are stored,
``await load_custom(backend)`` in the app's lifespan, ``await refresh(backend)`` before a write or
a search (searches already do).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from fhir_server import errors
from fhir_server.context import RequestContext
from fhir_server.errors import Issue
from fhir_server.interactions.backend import Backend
from fhir_server.search.fhirpath import expression_error
from fhir_server.search.index_values import set_local_bases
from fhir_server.search.parse import RESULT_PARAMS
from fhir_server.spec import search_parameters as registry
from fhir_server.spec.search_parameters import parts_for
from fhir_server.storage.repository import NewVersion

log = logging.getLogger(__name__)

TYPE = "SearchParameter"
REFRESH_SECONDS = 5.0
_INDEXABLE = ("number", "date", "string", "token", "reference", "composite", "quantity", "uri")


@dataclass
class _State:
    """What this process registered: stored SearchParameter id -> url, and the store's stamp."""

    by_id: dict[str, str] = field(default_factory=dict)
    stamps: dict[int, tuple[int, Any]] = field(default_factory=dict)  # id(repository) -> (count, newest ts)
    checked: dict[int, float] = field(default_factory=dict)  # id(repository) -> monotonic time of last check


_state = _State()


# --- validation (before storing) ---------------------------------------------------------------------
def check(resource: dict[str, Any]) -> None:
    """Raise a 400 OperationOutcome when ``resource`` cannot work as a search parameter here.

    Official R4 definitions (by url) are accepted as they are: they are already built in.
    """
    problems = _problems(resource)
    if problems:
        raise errors.FhirError(400, [Issue("invalid", p, expression=(e,)) for p, e in problems])


def _problems(sp: dict[str, Any]) -> list[tuple[str, str]]:
    if _is_official(sp):
        return []
    out: list[tuple[str, str]] = [(p, "SearchParameter") for p in registry._check(sp)]
    if out:
        return out
    code, kind = sp["code"], sp["type"]
    if code.startswith("_") or code in RESULT_PARAMS:
        out.append((f"code '{code}' is reserved for the parameters of the FHIR specification", "SearchParameter.code"))
    if kind not in _INDEXABLE:
        out.append((f"parameters of type '{kind}' cannot be defined on this server", "SearchParameter.type"))
    expression = sp.get("expression")
    if not expression:
        out.append(("an expression is required: values are indexed from it", "SearchParameter.expression"))
        return out
    for base in sp["base"]:
        parts = parts_for(expression, base)
        if not parts:
            out.append((f"the expression has no part that applies to base {base}", "SearchParameter.expression"))
        for part in parts:
            problem = _expression_problem(part, base)
            if problem:
                out.append((problem, "SearchParameter.expression"))
    for i, comp in enumerate(sp.get("component") or ()):
        if not isinstance(comp, dict) or registry.registry().by_url(comp.get("definition", "")) is None:
            definition = comp.get("definition") if isinstance(comp, dict) else comp
            out.append((f"component definition {definition!r} is not a known search parameter",
                        f"SearchParameter.component[{i}].definition"))
        elif not isinstance(comp.get("expression"), str) or not comp["expression"]:
            out.append(("a component needs an expression", f"SearchParameter.component[{i}].expression"))
    return out


def _expression_problem(part: str, base: str) -> str | None:
    """Why ``part`` cannot be evaluated (None when it can)."""
    root = base if base not in ("Resource", "DomainResource") else "Resource"
    error = expression_error(part, root)
    return None if error is None else f"the expression {part!r} cannot be evaluated: {error}"


def _is_official(sp: dict[str, Any]) -> bool:
    url = sp.get("url")
    if not isinstance(url, str):
        return False
    found = registry.registry().by_url(url)
    return found is not None and not found.custom


# --- after storing -------------------------------------------------------------------------------------
def on_saved(resource_type: str, resource: dict[str, Any] | None, resource_id: str | None = None) -> None:
    """Register (or, for a delete: ``resource`` None, unregister) the SearchParameter just stored."""
    if resource_type != TYPE:
        return
    rid = resource_id or (resource or {}).get("id")
    previous = _state.by_id.pop(rid, None) if rid else None
    wanted = resource is not None and _wanted(resource)
    if previous and (not wanted or resource.get("url") != previous):  # type: ignore[union-attr]
        registry.unregister(previous)
    if not wanted:
        return
    assert resource is not None
    try:
        registry.register(resource)
    except errors.FhirError as error:  # stored before this check was wired: keep serving, say why
        log.warning("SearchParameter/%s not registered: %s", rid, error)
        return
    if rid:
        _state.by_id[rid] = resource["url"]


def on_versions(versions: Iterable[NewVersion]) -> None:
    """:func:`on_saved` for every SearchParameter among stored ``versions`` (single writes and Bundles)."""
    for version in versions:
        if version.type == TYPE:
            on_saved(TYPE, orjson.loads(version.raw) if version.raw is not None else None, version.id)


def _wanted(sp: dict[str, Any]) -> bool:
    """Registered: not an official definition, not retired, and usable."""
    return sp.get("status") != "retired" and not _is_official(sp) and not _problems(sp)


# --- start-up and other processes ---------------------------------------------------------------------
async def load_custom(backend: Backend) -> int:
    """Register every stored custom SearchParameter (and drop registrations no longer stored);
    returns how many are registered. Also sets this server's base URL for reference indexing."""
    set_local_bases((backend.settings.base_url,))
    ctx = _system_context(backend)
    docs = await backend.repository.find(ctx, TYPE, {}, fields={"_id": 1, "raw": 1, "ts": 1})
    stored = {d["_id"]: orjson.loads(d["raw"]) for d in docs if d.get("raw")}
    for rid in [r for r in _state.by_id if r not in stored]:
        on_saved(TYPE, None, rid)
    for rid, resource in stored.items():
        on_saved(TYPE, resource, rid)
    key = id(backend.repository)
    _state.stamps[key] = await _stamp(backend)
    _state.checked[key] = time.monotonic()
    return len(_state.by_id)


async def refresh(backend: Backend, max_age: float = REFRESH_SECONDS) -> bool:
    """Reload when another process changed the stored SearchParameters (checked at most every
    ``max_age`` seconds); True when it reloaded."""
    key = id(backend.repository)
    now = time.monotonic()
    if now - _state.checked.get(key, float("-inf")) < max_age:
        return False
    _state.checked[key] = now
    stamp = await _stamp(backend)
    if stamp == _state.stamps.get(key):
        return False
    await load_custom(backend)
    return True


async def _stamp(backend: Backend) -> tuple[int, datetime | None]:
    ctx = _system_context(backend)
    count = await backend.repository.count(ctx, TYPE, {})
    newest = await backend.repository.find(ctx, TYPE, {}, sort=[("ts", -1)], limit=1, fields={"ts": 1})
    return count, newest[0]["ts"] if newest else None


def _system_context(backend: Backend) -> RequestContext:
    return RequestContext(base_url=backend.settings.base_url)


def registered() -> dict[str, str]:
    """Stored SearchParameter id -> url of what this process registered (for tests and status)."""
    return dict(_state.by_id)


def reset() -> None:
    """Unregister everything this module registered (tests; a store switched under a process)."""
    for url in set(_state.by_id.values()) | set(registry.registry()._custom):
        registry.unregister(url)
    _state.by_id.clear()
    _state.stamps.clear()
    _state.checked.clear()

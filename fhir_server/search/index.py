"""Write-time search index extraction (http://hl7.org/fhir/R4/search.html).

:func:`extract_index` returns the index fields stored beside a resource in its type's collection,
in the attribute pattern so a few compound indexes (:data:`INDEX_KEYS`) serve every parameter:

``_str``  ``{p, v: folded, x: exact}``                 string
``_tok``  ``{p, s, c, t[, ys, yc]}``                   token (+ Reference.identifier of reference params)
``_ref``  ``{p, r[, t, i][, cv]}``                     reference (t/i for relative refs, cv = canonical version)
``_dt``   ``{p, lo, hi}``                              date (implicit range, naive UTC)
``_num``  ``{p, v, lo, hi}``                           number (lo == hi == v for a value; Range bounds)
``_qty``  ``{p, v, lo, hi, s, c}``                     quantity (a differing unit: one more entry, c = unit, s = None)
``_uri``  ``{p, v}``                                   uri
``_cmp``  ``{p, c0: <entry body>, c1: ...}``            composite, one per selected element (c<i>: component i)
``_sort`` ``{code: sortable}``                         ascending ``_sort`` key: the smallest value
``_sortd`` ``{code: sortable}``                        descending ``_sort`` key: the largest value
``_geo``  ``{lat, lon}``                               special ``near`` (Location.position)

``_id`` is answered from the document ``_id`` and not indexed again.
"""

from __future__ import annotations

import itertools
import threading
from typing import Any

from fhir_server.search import index_values as iv
from fhir_server.search.fhirpath import Extractor, Node, compile_expression
from fhir_server.search.index_codegen import Extract, compile_plan
from fhir_server.search.index_keys import INDEX_KEYS  # noqa: F401  (re-exported)
from fhir_server.search.index_plan import (  # noqa: F401  (FIELD_OF_TYPE re-exported)
    CONVERTERS, FIELD_OF_TYPE, SORT_KEY, TypePlan, converter_of, derived_sort_values, reference_param_entries, sort_values,
)
from fhir_server.spec import search_parameters as registry
from fhir_server.spec.search_parameters import SearchParam

FIELDS = ("_str", "_tok", "_ref", "_dt", "_num", "_qty", "_uri", "_cmp")
INDEX_FIELDS = (*FIELDS, "_sort", "_sortd", "_geo")
"""Every top-level document field :func:`extract_index` may set (what ``$reindex`` rewrites)."""
_NOT_INDEXED = frozenset({"_id", "_lastUpdated"})  # answered from the document _id and ts


class _Compiled:
    __slots__ = ("param", "code", "kind", "field", "convert", "sort_key", "extract", "fallback", "components")

    def __init__(self, param: SearchParam) -> None:
        self.param = param
        self.code = param.code
        self.kind = param.type
        self.field = FIELD_OF_TYPE[param.type]
        self.convert = converter_of(param)
        self.sort_key = SORT_KEY.get(param.type)
        base = param.base if param.base not in ("Resource", "DomainResource") else "Resource"
        result = compile_expression(param.expression or "", base)
        self.extract: Extractor = result.extract
        self.fallback = result.fallback
        self.components: list[tuple[str, str, Extractor]] = []
        for comp in param.component:
            sub = compile_expression(comp.expression, None)
            self.components.append((comp.code, comp.type, sub.extract))
            self.fallback = self.fallback or sub.fallback


_cache: dict[str, tuple[int, list[_Compiled]]] = {}
_plans: dict[str, tuple[int, TypePlan, Extract]] = {}
_lock = threading.Lock()


def _indexed(resource_type: str) -> list[SearchParam]:
    return [p for code, p in registry.params_for(resource_type).items() if p.indexed and code not in _NOT_INDEXED]


def compiled_params(resource_type: str) -> list[_Compiled]:
    """The compiled indexable parameters of a type, rebuilt when the registry changes."""
    version = registry.version()
    hit = _cache.get(resource_type)
    if hit is not None and hit[0] == version:
        return hit[1]
    derived = type_plan(resource_type).derived  # before the lock: the plan takes it too
    with _lock:
        params = [_Compiled(p) for p in _indexed(resource_type) if p.code not in derived]
        _cache[resource_type] = (version, params)
    return params


def type_plan(resource_type: str) -> TypePlan:
    """The extraction plan of a type (:mod:`.index_plan`), rebuilt when the registry changes."""
    return _planned(resource_type)[1]


def _planned(resource_type: str) -> tuple[int, TypePlan, Extract]:
    """(registry version, plan, the plan compiled by :mod:`.index_codegen`) of a type."""
    version = registry.version()
    hit = _plans.get(resource_type)
    if hit is not None and hit[0] == version:
        return hit
    with _lock:
        plan = TypePlan(resource_type, _indexed(resource_type))
        hit = _plans[resource_type] = (version, plan, compile_plan(plan, extract_index_plain))
    return hit


def stored_as(resource_type: str | None, code: str) -> tuple[str, ...]:
    """The codes of the parameters whose index entries answer parameter ``code`` of a type: its
    members when it is derived (:func:`~fhir_server.search.index_plan.derived_params`), else ()."""
    return type_plan(resource_type).derived.get(code, ()) if resource_type else ()


def fallback_expressions(resource_type: str) -> list[tuple[str, str]]:
    """(code, expression) of the parameters of a type evaluated (in part) by fhirpathpy."""
    return [(c.param.code, c.param.expression or "") for c in compiled_params(resource_type) if c.fallback]


def extract_index(resource: dict) -> dict[str, Any]:
    """The index fields of ``resource`` (only non-empty ones are returned).

    Runs the type's :class:`~fhir_server.search.index_plan.TypePlan` compiled to a function
    (:mod:`.index_codegen`): shared paths are walked once, shared conversions made once; the
    result equals :func:`extract_index_plain`.
    """
    return _planned(resource.get("resourceType", ""))[2](resource)


def extract_index_plain(resource: dict) -> dict[str, Any]:
    """The straightforward extractor: each parameter's compiled expression on its own.

    The reference :func:`extract_index` is tested against (same values, same order).
    """
    out: dict[str, Any] = {}
    sort: dict[str, Any] = {}
    sort_desc: dict[str, Any] = {}
    for comp in compiled_params(resource.get("resourceType", "")):
        nodes = comp.extract(resource)
        if not nodes:
            continue
        kind, code = comp.kind, comp.code
        if kind == "reference":
            entries = reference_param_entries(code, nodes, out)
        elif kind == "composite":
            entries = _composites(comp, nodes)
        elif kind == "special":
            geo = next((g for g in map(iv.geo_value, nodes) if g), None)
            if geo:
                out["_geo"] = geo
            continue
        else:
            convert = comp.convert
            entries = []
            for node in nodes:
                for body in convert(node):  # type: ignore[misc]
                    body["p"] = code
                    entries.append(body)
            if kind == "string" and len(entries) > 1:
                entries = list({(e["v"], e["x"]): e for e in entries}.values())
        if not entries:
            continue
        field = comp.field
        if field in out:
            out[field].extend(entries)
        else:
            out[field] = entries
        key = comp.sort_key
        if key:
            sort_values(code, key, entries, sort, sort_desc)
    if sort:
        derived_sort_values(type_plan(resource.get("resourceType", "")).derived_sort, sort, sort_desc)
        out["_sort"] = sort
        out["_sortd"] = sort_desc
    return out


def _component_values(kind: str, nodes: list[Node]) -> list[dict]:
    convert = CONVERTERS.get(kind)
    if convert is None:
        return []
    values = [body for node in nodes for body in convert(node)]
    if kind == "token":  # a text-only CodeableConcept cannot match a component's system|code
        values = [v for v in values if v["c"] is not None]
    return values


def _composites(comp: _Compiled, nodes: list[Node]) -> list[dict]:
    entries = []
    for node in nodes:
        per_component = []
        for position, (_code, kind, extract) in enumerate(comp.components):
            values = _component_values(kind, extract(node[0]))
            if not values:
                break
            per_component.append([(f"c{position}", v) for v in values])
        else:
            for combo in itertools.product(*per_component):
                entry: dict[str, Any] = {"p": comp.param.code}
                entry.update(combo)
                entries.append(entry)
    return entries

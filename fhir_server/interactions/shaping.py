"""``_summary`` and ``_elements``: return a subset of a resource.

http://hl7.org/fhir/R4/search.html#summary and http://hl7.org/fhir/R4/search.html#elements.

- ``_summary=true``: the elements marked ``isSummary`` in the base definition, recursively through
  the backbone elements of the resource. Inside complex datatypes the rule of
  http://hl7.org/fhir/R4/elementdefinition-definitions.html#ElementDefinition.isSummary applies:
  "Other than Attachment.data, all data type properties are included in the summary form", so a
  kept datatype is kept whole except ``Attachment.data``. An inline resource that is itself a
  summary element (``Bundle.entry.resource``, ``Parameters.parameter.resource``) is summarized by
  its own type; ``contained`` is not a summary element and is dropped.
- ``_summary=text``: ``text``, ``id``, ``meta`` and the top-level mandatory elements.
- ``_summary=data``: everything but the top-level ``text``.
- ``_summary=false``: everything.
- ``_elements``: ``id``, ``meta``, the mandatory top-level elements and the listed base element
  names (``name``, ``value`` for ``value[x]``, or ``Patient.name``); a dotted name beyond the
  type prefix keeps its whole top-level element (servers may return more than asked).

When anything was removed, the result carries the ``SUBSETTED`` tag
(http://terminology.hl7.org/CodeSystem/v3-ObservationValue) so that it is not mistaken for the whole
resource. Results are new top-level dicts that may share unchanged nested values with the input:
treat both as read-only. Each primitive's ``_name`` companion (its id/extensions) follows ``name``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from fhir_server import errors
from fhir_server.spec.summary import RESOURCE, TypeInfo, type_info, type_keys

SUBSETTED_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-ObservationValue"
SUBSETTED_TAG = {"system": SUBSETTED_SYSTEM, "code": "SUBSETTED"}
SUMMARY_MODES = ("true", "text", "data", "false")
_ALWAYS = ("resourceType", "id", "meta")


@dataclass(eq=False, slots=True)
class _Plan:
    """How to cut one object: keep only ``keep`` (select) or all but ``drop``; recurse per ``keep``.

    A ``keep`` value is the child's plan, ``RESOURCE`` (plan by the child's own resourceType) or
    None (keep the value as it is).
    """

    select: bool
    keep: dict[str, Any] = field(default_factory=dict)
    drop: frozenset[str] = frozenset()
    walk: tuple[tuple[str, Any], ...] = ()  # ``keep`` as pairs, for all-but plans


def summarize(resource: dict[str, Any], mode: str) -> dict[str, Any]:
    """``resource`` cut to ``_summary=mode``; see the module docstring."""
    if mode not in SUMMARY_MODES:
        raise errors.bad_request(
            f"Unknown _summary value {mode!r}: expected one of true, text, data, false"
            + (" (count applies to searches only)" if mode == "count" else "")
        )
    if mode == "false":
        return dict(resource)
    plan = _mode_plan(resource.get("resourceType"), mode)
    if plan is None:
        return dict(resource)
    return _finish(resource, _walk(resource, plan))


def select_elements(resource: dict[str, Any], elements: Iterable[str]) -> dict[str, Any]:
    """``resource`` cut to ``_elements=elements``; see the module docstring."""
    plan = _elements_plan(resource.get("resourceType"), tuple(elements))
    if plan is None:
        return dict(resource)
    return _finish(resource, _walk(resource, plan))


def _finish(original: dict[str, Any], cut: dict[str, Any]) -> dict[str, Any]:
    if cut is original:
        return dict(original)
    return _with_subsetted_tag(cut)


def _with_subsetted_tag(resource: dict[str, Any]) -> dict[str, Any]:
    meta = dict(resource.get("meta") or {})
    tags = list(meta.get("tag") or [])
    if not any(t.get("system") == SUBSETTED_SYSTEM and t.get("code") == "SUBSETTED" for t in tags):
        tags.append(dict(SUBSETTED_TAG))
    meta["tag"] = tags
    if "meta" in resource:
        return {**resource, "meta": meta}
    out: dict[str, Any] = {}
    for key in ("resourceType", "id", "_id"):
        if key in resource:
            out[key] = resource[key]
    out["meta"] = meta
    out.update(resource)
    return out


# -- walking ---------------------------------------------------------------------------------------


def _walk(value: Any, plan: Any) -> Any:
    """``value`` cut by ``plan``; the very same object when nothing changed."""
    if type(value) is list:
        out = None
        for i, item in enumerate(value):
            cut = _walk_object(item, plan) if type(item) is dict else item
            if cut is not item:
                if out is None:
                    out = list(value)
                out[i] = cut
        return value if out is None else out
    if type(value) is dict:
        return _walk_object(value, plan)
    return value


def _walk_object(node: dict[str, Any], plan: Any) -> dict[str, Any]:
    if plan is RESOURCE:
        plan = _summary_plan(node.get("resourceType"))
        if plan is None:
            return node
    if plan.select:
        return _select(node, plan)
    return _except(node, plan)


def _select(node: dict[str, Any], plan: _Plan) -> dict[str, Any]:
    keep = plan.keep
    out: dict[str, Any] = {}
    changed = False
    for key, value in node.items():
        if key not in keep:
            changed = True
            continue
        sub = keep[key]
        if sub is None:
            out[key] = value
        else:
            cut = out[key] = _walk(value, sub)
            changed = changed or cut is not value
    return out if changed else node


def _except(node: dict[str, Any], plan: _Plan) -> dict[str, Any]:
    out: dict[str, Any] | None = None
    if plan.drop:
        for key in plan.drop:
            if key in node:
                if out is None:
                    out = dict(node)
                del out[key]
    for key, sub in plan.walk:
        value = node.get(key)
        if value is None:
            continue
        cut = _walk(value, sub)
        if cut is not value:
            if out is None:
                out = dict(node)
            out[key] = cut
    return node if out is None else out


# -- plans -----------------------------------------------------------------------------------------

_SUMMARY_PLANS: dict[str, _Plan | None] = {}
_PLAN_LOCK = threading.Lock()
_UNBUILT = object()


def _mode_plan(resource_type: Any, mode: str) -> _Plan | None:
    if mode == "true":
        return _summary_plan(resource_type)
    if mode == "data":
        return _DATA_PLAN
    return _top_level_plan(resource_type, ("text",))


_DATA_PLAN = _Plan(select=False, drop=frozenset({"text", "_text"}))


def _summary_plan(key: Any) -> _Plan | None:
    """The ``_summary=true`` plan of a type key (None: keep whole), built once per key.

    Plans are built under a lock and published only when complete (they may be cyclic, e.g.
    ``Questionnaire.item``), so concurrent callers never see a half-built plan.
    """
    plan = _SUMMARY_PLANS.get(key, _UNBUILT) if isinstance(key, str) else None
    if plan is not _UNBUILT:
        return plan
    with _PLAN_LOCK:
        building: dict[str, _Plan | None] = {}
        plan = _build_summary_plan(key, building)
        _SUMMARY_PLANS.update(building)
        _SUMMARY_PLANS.setdefault(key, plan)
    return plan


def _build_summary_plan(key: str, building: dict[str, _Plan | None]) -> _Plan | None:
    for known in (_SUMMARY_PLANS, building):
        if key in known:
            return known[key]
    info = type_info(key)
    if info is None:
        return None
    if info.in_datatype:
        return _build_datatype_plan(info, building)
    plan = building[key] = _Plan(select=True)
    keep = plan.keep
    if not info.backbone:
        keep["resourceType"] = None
    for name in info.summary:
        child = info.children.get(name)
        if child is None:
            keep[name] = keep["_" + name] = None
        else:
            keep[name] = RESOURCE if child == RESOURCE else _build_summary_plan(child, building)
    return plan


def _build_datatype_plan(info: TypeInfo, building: dict[str, _Plan | None]) -> _Plan | None:
    """Keep all but ``Attachment.data``, wherever an Attachment can occur below the datatype."""
    if info.key not in _needs_walk():
        building[info.key] = None
        return None
    drop = frozenset({"data", "_data"}) if info.key == "Attachment" else frozenset()
    plan = building[info.key] = _Plan(select=False, drop=drop)
    for name, child in info.children.items():
        if child in _needs_walk():
            plan.keep[name] = _build_summary_plan(child, building)
    plan.walk = tuple(plan.keep.items())
    return plan


@lru_cache(maxsize=1)
def _needs_walk() -> frozenset[str]:
    """Datatype keys below which an Attachment can occur (fixpoint over the child types)."""
    infos = [info for info in map(type_info, type_keys()) if info is not None and info.in_datatype]
    found = {"Attachment"}
    grew = True
    while grew:
        grew = False
        for info in infos:
            if info.key not in found and any(c in found for c in info.children.values()):
                found.add(info.key)
                grew = True
    return frozenset(found)


@lru_cache(maxsize=512)
def _top_level_plan(resource_type: Any, extra: tuple[str, ...]) -> _Plan | None:
    """Keep ``resourceType``, ``id``, ``meta``, the mandatory top-level elements and ``extra``."""
    info = type_info(resource_type) if isinstance(resource_type, str) else None
    if info is None or info.backbone or info.in_datatype:
        return None
    names = set(_ALWAYS) | info.mandatory | set(extra)
    keep: dict[str, Any] = {}
    for name in names:
        keep[name] = None
        keep["_" + name] = None
    return _Plan(select=True, keep=keep)


@lru_cache(maxsize=512)
def _elements_plan(resource_type: Any, elements: tuple[str, ...]) -> _Plan | None:
    info = type_info(resource_type) if isinstance(resource_type, str) else None
    if info is None or info.backbone or info.in_datatype:
        return None
    wanted: list[str] = []
    for raw in elements:
        name = raw.strip()
        head, dot, rest = name.partition(".")
        if dot and head == resource_type:
            name = rest
        elif dot and head[:1].isupper():
            continue  # names another resource type
        name = name.partition(".")[0].removesuffix("[x]")
        if name in info.choices:
            wanted.extend(info.choices[name])
        elif name:
            wanted.append(name)
    return _top_level_plan(resource_type, tuple(sorted(set(wanted))))

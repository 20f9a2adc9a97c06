"""Registry of the search parameters this server knows (http://hl7.org/fhir/R4/searchparameter.html).

Keyed by (resource type, code). It starts from the 1,375 official R4 SearchParameters generated into
``data/search_parameters.json`` by ``scripts/gen_search_params.py`` (expressions already reduced to
the union members that apply to each base type), adds the Resource-level parameters (``_id``,
``_lastUpdated``, ``_tag``, ``_profile``, ``_security``, ``_source``...) to every type, and accepts
custom ``SearchParameter`` resources at run time (:func:`register` / :func:`unregister`); every
change bumps :func:`version` so compiled extractors are rebuilt for the next write.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from functools import cache
from importlib import resources as _res

import orjson

from fhir_server.errors import bad_request
from fhir_server.spec.resource_types import RESOURCE_TYPES

PARAM_TYPES = ("number", "date", "string", "token", "reference", "composite", "quantity", "uri", "special")
ALL_PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap")
NON_DOMAIN_RESOURCES = frozenset({"Bundle", "Binary", "Parameters"})
_CODE_RE = re.compile(r"[A-Za-z][A-Za-z0-9_\-]*|_[a-z][A-Za-z0-9_\-]*")
_BASE_MODIFIERS = {
    "string": ("missing", "exact", "contains"),
    "token": ("missing", "text", "not", "in", "not-in"),
    "reference": ("missing", "identifier"),
    "uri": ("missing", "below", "above"),
}


@dataclass(frozen=True)
class Component:
    """One component of a composite parameter: ``code`` names the index key in ``_cmp``."""

    code: str
    type: str
    expression: str


@dataclass(frozen=True)
class SearchParam:
    """One search parameter as it applies to one resource type."""

    base: str  # resource type, or "Resource" / "DomainResource" for the common ones
    code: str
    type: str
    expression: str | None  # FHIRPath reduced to this base; None when not indexable (_text, _content)
    url: str = ""
    target: tuple[str, ...] = ()
    modifier: tuple[str, ...] = ()
    comparator: tuple[str, ...] = ()
    component: tuple[Component, ...] = ()
    custom: bool = field(default=False, compare=False)

    @property
    def indexed(self) -> bool:
        return self.expression is not None


def _param(base: str, code: str, d: dict, custom: bool = False) -> SearchParam:
    return SearchParam(
        base=base,
        code=code,
        type=d["type"],
        expression=d.get("expression"),
        url=d.get("url", ""),
        target=tuple(d.get("target") or ()),
        modifier=tuple(d.get("modifier") or ()),
        comparator=tuple(d.get("comparator") or ()),
        component=tuple(Component(c["code"], c["type"], c["expression"]) for c in d.get("component") or ()),
        custom=custom,
    )


@cache
def _data() -> dict:
    return orjson.loads((_res.files("fhir_server.spec") / "data" / "search_parameters.json").read_bytes())


@cache
def choice_elements() -> frozenset[str]:
    """Names of elements that are choices (``value`` for ``value[x]``) anywhere in R4."""
    return frozenset(_data()["choiceElements"])


@cache
def patient_compartment() -> dict[str, tuple[str, ...]]:
    """Resource type -> codes of the parameters linking it to the Patient compartment.

    From CompartmentDefinition ``patient`` (http://hl7.org/fhir/R4/compartmentdefinition-patient.html).
    """
    raw = orjson.loads((_res.files("fhir_server.spec") / "data" / "compartment_patient.json").read_bytes())
    return {k: tuple(v) for k, v in raw.items()}


class Registry:
    """The mutable set of parameters; module-level functions delegate to one instance."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._version = 0
        data = _data()
        self._common = {c: _param("Resource", c, d) for c, d in data["resourceCommon"].items()}
        self._domain = {c: _param("DomainResource", c, d) for c, d in data["domainResourceCommon"].items()}
        self._types: dict[str, dict[str, SearchParam]] = {
            t: {c: _param(t, c, d) for c, d in params.items()} for t, params in data["types"].items()
        }
        self._custom: dict[str, list[tuple[str, str]]] = {}
        self._merged: dict[str, dict[str, SearchParam]] = {}

    @property
    def version(self) -> int:
        return self._version

    def params_for(self, resource_type: str) -> dict[str, SearchParam]:
        """Every parameter usable on ``resource_type`` (type-specific first, then the common ones)."""
        merged = self._merged.get(resource_type)
        if merged is None:
            with self._lock:
                merged = dict(self._common)
                if resource_type not in NON_DOMAIN_RESOURCES:
                    merged.update(self._domain)
                merged.update(self._types.get(resource_type, {}))
                self._merged[resource_type] = merged
        return merged

    def get(self, resource_type: str, code: str) -> SearchParam | None:
        return self.params_for(resource_type).get(code)

    def register(self, sp: dict) -> list[SearchParam]:
        """Add (or replace, by url) a custom ``SearchParameter`` resource; returns what was added."""
        problems = _check(sp)
        if problems:
            raise bad_request("invalid SearchParameter: " + "; ".join(problems), "SearchParameter")
        added = []
        with self._lock:
            self._drop(sp["url"])
            keys = []
            for base in sp["base"]:
                parts = parts_for(sp.get("expression") or "", base) if sp.get("expression") else []
                if sp.get("expression") and not parts:
                    continue
                d = dict(sp)
                d["expression"] = " | ".join(parts) if parts else None
                d["modifier"] = _modifiers_for(sp, parts)
                d["comparator"] = sp.get("comparator") or (
                    list(ALL_PREFIXES) if sp["type"] in ("date", "number", "quantity") else []
                )
                d["component"] = [self._component(c) for c in sp.get("component") or ()]
                param = _param(base, sp["code"], d, custom=True)
                table = (
                    self._common if base == "Resource" else self._domain if base == "DomainResource" else None
                )
                if table is None:
                    table = self._types.setdefault(base, {})
                table[sp["code"]] = param
                keys.append((base, sp["code"]))
                added.append(param)
            self._custom[sp["url"]] = keys
            self._changed()
        return added

    def unregister(self, url: str) -> bool:
        """Remove the custom parameter registered with ``url``; False when there was none."""
        with self._lock:
            found = self._drop(url)
            if found:
                self._changed()
            return found

    def _drop(self, url: str) -> bool:
        keys = self._custom.pop(url, None)
        if not keys:
            return False
        for base, code in keys:
            table = (
                self._common if base == "Resource" else self._domain if base == "DomainResource" else self._types[base]
            )
            table.pop(code, None)
        # restore an official definition the custom one may have shadowed
        data = _data()
        for base, code in keys:
            if base == "Resource" and code in data["resourceCommon"]:
                self._common[code] = _param(base, code, data["resourceCommon"][code])
            elif base == "DomainResource" and code in data["domainResourceCommon"]:
                self._domain[code] = _param(base, code, data["domainResourceCommon"][code])
            elif base in data["types"] and code in data["types"][base]:
                self._types[base][code] = _param(base, code, data["types"][base][code])
        return True

    def _component(self, comp: dict) -> dict:
        ref = self.by_url(comp.get("definition", ""))
        if ref is None:
            raise bad_request(f"composite component definition {comp.get('definition')!r} is unknown")
        return {"code": ref.code, "type": ref.type, "expression": comp.get("expression", "")}

    def by_url(self, url: str) -> SearchParam | None:
        for table in (self._common, self._domain, *self._types.values()):
            for p in table.values():
                if p.url == url:
                    return p
        return None

    def _changed(self) -> None:
        self._merged.clear()
        self._version += 1


def _modifiers_for(sp: dict, parts: list[str]) -> list[str]:
    mods = list(_BASE_MODIFIERS.get(sp["type"], ("missing",)))
    if sp["type"] == "token" and (sp["code"] == "identifier" or (parts and all(p.endswith(".identifier") for p in parts))):
        mods.append("of-type")
    return mods


def _check(sp: dict) -> list[str]:
    problems = []
    if sp.get("resourceType") != "SearchParameter":
        problems.append("resourceType must be SearchParameter")
    if not isinstance(sp.get("url"), str) or not sp.get("url"):
        problems.append("url is required")
    if not isinstance(sp.get("code"), str) or not _CODE_RE.fullmatch(sp.get("code", "")):
        problems.append("code must be letters, digits, '-' or '_'")
    if sp.get("type") not in PARAM_TYPES:
        problems.append(f"type must be one of {', '.join(PARAM_TYPES)}")
    bases = sp.get("base")
    if not isinstance(bases, list) or not bases:
        problems.append("base is required")
    else:
        for b in bases:
            if b not in RESOURCE_TYPES and b not in ("Resource", "DomainResource"):
                problems.append(f"base {b!r} is not a resource type")
    if sp.get("type") == "composite" and not sp.get("component"):
        problems.append("a composite parameter needs components")
    if sp.get("expression") is not None and not isinstance(sp.get("expression"), str):
        problems.append("expression must be a string")
    return problems


def split_union(expression: str) -> list[str]:
    """Split a FHIRPath expression at its top-level ``|`` operators."""
    parts, depth, quote, start = [], 0, False, 0
    for i, ch in enumerate(expression):
        if ch == "'" and (i == 0 or expression[i - 1] != "\\"):
            quote = not quote
        elif quote:
            continue
        elif ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        elif ch == "|" and depth == 0:
            parts.append(expression[start:i].strip())
            start = i + 1
    parts.append(expression[start:].strip())
    return [p for p in parts if p]


def _root_of(part: str) -> str:
    text = part.lstrip("(")
    end = 0
    while end < len(text) and (text[end].isalnum() or text[end] == "_"):
        end += 1
    return text[:end]


def parts_for(expression: str, base: str) -> list[str]:
    """The union members of ``expression`` that apply to resource type ``base``.

    ``Patient.name | Practitioner.name`` gives ``["Patient.name"]`` for Patient; members rooted at
    Resource/DomainResource apply to every base; relative members (InsurancePlan's ``name | alias``)
    are prefixed with the base.
    """
    chosen = []
    for part in split_union(expression):
        root = _root_of(part)
        if root == base or root in ("Resource", "DomainResource"):
            chosen.append(part)
        elif root not in RESOURCE_TYPES:
            chosen.append(f"{base}.{part}")
    return chosen


_REGISTRY: Registry | None = None
_INIT = threading.Lock()


def registry() -> Registry:
    """The process-wide registry."""
    global _REGISTRY
    if _REGISTRY is None:
        with _INIT:
            if _REGISTRY is None:
                _REGISTRY = Registry()
    return _REGISTRY


def get(resource_type: str, code: str) -> SearchParam | None:
    return registry().get(resource_type, code)


def params_for(resource_type: str) -> dict[str, SearchParam]:
    return registry().params_for(resource_type)


def register(search_parameter: dict) -> list[SearchParam]:
    return registry().register(search_parameter)


def unregister(url: str) -> bool:
    return registry().unregister(url)


def version() -> int:
    return registry().version

"""Locate the elements a FHIRPath Patch ``path`` names (http://hl7.org/fhir/R4/fhirpatch.html).

FHIRPath Patch needs *locations* (which object, which key, which list index), not just values, so
the paths are walked here over the resource's JSON. Supported forms, combinable in any order after
the optional leading resource type::

    Patient                       the resource itself
    Patient.name.given            child elements (a choice name such as ``value`` finds valueX)
    Patient.name[1]               indexer into the collection built so far
    .first()  .last()             first / last of the collection
    .where(use = 'official')      filter; the criteria is any FHIRPath expression evaluated by
    .where(period.end.exists())   fhirpathpy on each candidate element ($this)
    .extension('http://...')      extension(url), as FHIRPath defines it for FHIR

Anything else (``ofType()``, ``resolve()``, operators between paths, ...) is reported as
not supported.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable

import fhirpathpy

from fhir_server import errors
from fhir_server.spec.resource_types import RESOURCE_TYPES
from fhir_server.spec.summary import RESOURCE, type_info

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|`[^`]+`")
_INDEX = re.compile(r"\[\s*(\d+)\s*\]")
_NO_ARG_FUNCTIONS = ("first", "last")


@dataclass(slots=True)
class Node:
    """One located element: ``parent.value[key]`` or ``parent.value[key][index]``; root has no parent."""

    value: Any
    parent: Node | None = None
    key: str | None = None
    index: int | None = None
    type: str | None = None  # type key of the value (see fhir_server.spec.summary), None if primitive


@dataclass(frozen=True, slots=True)
class Step:
    kind: str  # "root", "child", "index", "first", "last", "where", "extension"
    arg: Any = None


def parse_path(path: str) -> tuple[Step, ...]:
    """The steps of ``path``; FhirError 422 (not-supported) for forms outside the supported set."""
    return _parse(path.strip())


@lru_cache(maxsize=1024)
def _parse(path: str) -> tuple[Step, ...]:
    steps: list[Step] = []
    pos = 0
    first = _IDENT.match(path)
    if first is None:
        raise _unsupported(path)
    name = _unquote(first.group())
    steps.append(Step("root", name) if name in RESOURCE_TYPES else Step("child", name))
    pos = first.end()
    while pos < len(path):
        if path[pos].isspace():
            pos += 1
            continue
        indexer = _INDEX.match(path, pos)
        if indexer:
            steps.append(Step("index", int(indexer.group(1))))
            pos = indexer.end()
            continue
        if path[pos] != ".":
            raise _unsupported(path)
        ident = _IDENT.match(path, pos + 1)
        if ident is None:
            raise _unsupported(path)
        pos = ident.end()
        if pos < len(path) and path[pos] == "(":
            args, pos = _call_arguments(path, pos)
            steps.append(_function(path, ident.group(), args))
        else:
            steps.append(Step("child", _unquote(ident.group())))
    return tuple(steps)


def _function(path: str, name: str, args: str) -> Step:
    if name in _NO_ARG_FUNCTIONS and not args.strip():
        return Step(name)
    if name == "where" and args.strip():
        return Step("where", _criteria(args.strip()))
    if name == "extension":
        literal = re.fullmatch(r"\s*'((?:[^'\\]|\\.)*)'\s*", args)
        if literal:
            return Step("extension", literal.group(1))
    raise _unsupported(path)


def _call_arguments(path: str, pos: int) -> tuple[str, int]:
    """The text between the parenthesis at ``pos`` and its match, and the index after it."""
    depth = 0
    quote: str | None = None
    i = pos
    while i < len(path):
        char = path[i]
        if quote:
            if char == "\\":
                i += 1
            elif char == quote:
                quote = None
        elif char in "'`":
            quote = char
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                return path[pos + 1 : i], i + 1
        i += 1
    raise errors.bad_request(f"FHIRPath Patch path {path!r} has unbalanced parentheses")


def _criteria(expression: str) -> Callable[..., list]:
    """The compiled criteria; tried once on an empty object, as fhirpathpy reports some syntax
    errors (e.g. a missing operand) only when evaluating."""
    try:
        compiled = _compiled(expression)
        compiled({})
    except Exception as exc:  # fhirpathpy raises assorted parser errors
        raise errors.bad_request(f"invalid where() criteria {expression!r}: {exc}") from None
    return compiled


@lru_cache(maxsize=256)
def _compiled(expression: str) -> Callable[..., list]:
    return fhirpathpy.compile(expression)


def _unquote(name: str) -> str:
    return name[1:-1] if name.startswith("`") else name


def _unsupported(path: str) -> errors.FhirError:
    return errors.unprocessable(
        f"FHIRPath Patch path {path!r} uses a form this server does not support "
        "(supported: Type.element.child, [n], first(), last(), where(criteria), extension('url'))",
        code="not-supported",
    )


# -- evaluation ------------------------------------------------------------------------------------


def locate(resource: dict[str, Any], path: str) -> list[Node]:
    """The nodes ``path`` selects in ``resource`` (in document order)."""
    return evaluate(resource, parse_path(path))


def evaluate(resource: dict[str, Any], steps: tuple[Step, ...]) -> list[Node]:
    nodes = [Node(resource, type=resource.get("resourceType"))]
    for step in steps:
        if step.kind == "root":
            nodes = [n for n in nodes if n.type == step.arg]
        elif step.kind == "child":
            nodes = [child for node in nodes for child in children(node, step.arg)]
        elif step.kind == "index":
            nodes = nodes[step.arg : step.arg + 1]
        elif step.kind == "first":
            nodes = nodes[:1]
        elif step.kind == "last":
            nodes = nodes[-1:]
        elif step.kind == "where":
            nodes = [n for n in nodes if _matches(step.arg, n.value)]
        else:  # extension('url')
            nodes = [e for n in nodes for e in children(n, "extension") if _url(e.value) == step.arg]
    return nodes


def json_keys(node: Node, name: str) -> list[str]:
    """The JSON keys of ``node`` that hold element ``name`` (several for an absent-typed choice)."""
    value = node.value
    if not isinstance(value, dict):
        return []
    if name in value:
        return [name]
    info = type_info(node.type) if node.type else None
    if info is not None and name in info.choices:
        return [k for k in info.choices[name] if k in value]
    return []


def child_type(node: Node, key: str, value: Any) -> str | None:
    info = type_info(node.type) if node.type else None
    found = info.children.get(key) if info is not None else None
    if found == RESOURCE and isinstance(value, dict):
        return value.get("resourceType")
    return found


def children(node: Node, name: str) -> list[Node]:
    found: list[Node] = []
    for key in json_keys(node, name):
        value = node.value[key]
        if isinstance(value, list):
            for i, item in enumerate(value):
                found.append(Node(item, node, key, i, child_type(node, key, item)))
        elif value is not None:
            found.append(Node(value, node, key, None, child_type(node, key, value)))
    return found


def _matches(criteria: Callable[..., list], value: Any) -> bool:
    try:
        result = criteria(value)
    except Exception as exc:  # fhirpathpy raises assorted evaluation errors
        raise errors.unprocessable(f"where() criteria could not be evaluated: {exc}") from None
    return result == [True]


def _url(value: Any) -> Any:
    return value.get("url") if isinstance(value, dict) else None

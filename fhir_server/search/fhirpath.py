"""Compile search parameter expressions (FHIRPath, http://hl7.org/fhir/R4/fhirpath.html) to extractors.

The common forms are compiled into plain Python closures over the resource dict:

- paths ``Type.a.b`` (choice elements ``value`` find ``valueQuantity``...), ``Type.a[0].b``;
- type filters ``(Type.x as Quantity)``, ``Type.x.as(Quantity)``, ``Type.x.ofType(Quantity)``;
- ``.where(resolve() is Patient)`` on references, ``.where(system='phone')`` on elements;
- unions ``a | b`` of the above.

Anything else falls back to fhirpathpy, evaluated once per resource and parameter. An extractor
returns a list of :class:`Node` (the value and, when known, its FHIR type from the choice suffix).
"""

from __future__ import annotations

import logging
import re
from decimal import Decimal
from collections.abc import Callable
from typing import Any, NamedTuple

from fhir_server.spec.search_parameters import choice_elements, split_union

log = logging.getLogger(__name__)


Node = tuple  # (value, FHIR type name when known from a choice suffix or a type filter, else None)


Extractor = Callable[[Any], list[Node]]
_Step = Callable[[list[Node]], list[Node]]

QUANTITY_TYPES = frozenset({"Quantity", "Age", "Duration", "Distance", "Count", "SimpleQuantity", "MoneyQuantity"})
_AS_WRAPPED = re.compile(r"^\((?P<path>[^()]+?) as (?P<type>\w+)\)(?P<rest>.*)$")
_IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
_STEP_PATTERNS = (
    ("index", re.compile(rf"\.({_IDENT})\[(\d+)\]")),
    ("as", re.compile(rf"\.(?:as|ofType)\(({_IDENT})\)")),
    ("resolve", re.compile(rf"\.where\(resolve\(\) is ({_IDENT})\)")),
    ("where_eq", re.compile(rf"\.where\(({_IDENT})\s*=\s*'([^'\\]*)'\)")),
    ("field", re.compile(rf"\.({_IDENT})(?![A-Za-z0-9_(])")),
)
_COMMON_ROOTS = ("Resource", "DomainResource")


_DEFAULT_SUFFIXES = frozenset(
    "Base64Binary Boolean Canonical Code Date DateTime Decimal Id Instant Integer Markdown Oid PositiveInt "
    "String Time UnsignedInt Uri Url Uuid Address Age Annotation Attachment CodeableConcept Coding "
    "ContactPoint Count Distance Duration HumanName Identifier Money Period Quantity Range Ratio Reference "
    "SampledData Signature Timing ContactDetail Contributor DataRequirement Expression ParameterDefinition "
    "RelatedArtifact TriggerDefinition UsageContext Dosage Meta".split()
)
_PRIMITIVE_NAMES = {
    "Base64Binary": "base64Binary", "Boolean": "boolean", "Canonical": "canonical", "Code": "code",
    "Date": "date", "DateTime": "dateTime", "Decimal": "decimal", "Id": "id", "Instant": "instant",
    "Integer": "integer", "Markdown": "markdown", "Oid": "oid", "PositiveInt": "positiveInt",
    "String": "string", "Time": "time", "UnsignedInt": "unsignedInt", "Uri": "uri", "Url": "url", "Uuid": "uuid",
}  # fmt: skip


class CompileResult(NamedTuple):
    extract: Extractor
    fallback: bool  # True when (part of) the expression is evaluated by fhirpathpy


StepKey = tuple
"""One compiled step as data: ``("field", name)``, ``("index", name, i)``, ``("as", type)``,
``("resolve", type)``, ``("where", name, literal)`` or ``("exists_not_false",)`` (an aggregate:
it also runs on an empty input). :func:`make_step` turns a key into its function; equal keys make
equal steps, so paths of several parameters can share their common prefixes (see
:mod:`fhir_server.search.index_plan`)."""
AGGREGATES = frozenset({("exists_not_false",)})


def compile_expression(expression: str, resource_type: str | None) -> CompileResult:
    """Compile ``expression``; ``resource_type`` None means a relative (component) expression."""
    extractors, fallback = [], False
    for part in split_union(expression):
        keys = compile_part(part, resource_type)
        if keys is None:
            extractors.append(fhirpathpy_extractor(part, resource_type is None))
            fallback = True
        else:
            extractors.append(_chain(keys))
    if len(extractors) == 1:
        return CompileResult(extractors[0], fallback)

    def union(value: Any) -> list[Node]:
        out: list[Node] = []
        for ex in extractors:
            out.extend(ex(value))
        return out

    return CompileResult(union, fallback)


_EXISTS_NOT_FALSE = re.compile(r"^(?P<path>[A-Za-z_][A-Za-z0-9_.]*)\.exists\(\) and (?P=path) != false$")


def _exists_not_false(nodes: list[Node]) -> list[Node]:
    """``x.exists() and x != false`` as one boolean (Patient ``deceased``)."""
    return [(any(n[0] is not False for n in nodes), "boolean")]


def compile_part(part: str, resource_type: str | None) -> tuple[StepKey, ...] | None:
    """The step keys of one union member, or None when only fhirpathpy can evaluate it."""
    special = _EXISTS_NOT_FALSE.match(part)
    if special:
        path = _compile_path(special["path"], resource_type)
        return None if path is None else (*path, ("exists_not_false",))
    wrapped = _AS_WRAPPED.match(part)
    if wrapped:
        head = _compile_path(wrapped["path"], resource_type)
        tail = _compile_steps(wrapped["rest"]) if wrapped["rest"] else ()
        if head is None or tail is None:
            return None
        return (*head, ("as", wrapped["type"]), *tail)
    return _compile_path(part, resource_type)


def _compile_path(path: str, resource_type: str | None) -> tuple[StepKey, ...] | None:
    root = re.match(_IDENT, path)
    if root is None:
        return None
    name = root.group(0)
    if resource_type is not None and (name == resource_type or name in _COMMON_ROOTS):
        return _compile_steps(path[root.end():])
    # relative expression (composite components) start with a field name
    return _compile_steps("." + path)


def _compile_steps(text: str) -> tuple[StepKey, ...] | None:
    keys: list[StepKey] = []
    pos = 0
    while pos < len(text):
        for kind, pattern in _STEP_PATTERNS:
            found = pattern.match(text, pos)
            if found:
                keys.append(_step_key(kind, found.groups()))
                pos = found.end()
                break
        else:
            return None
    return tuple(keys)


def _step_key(kind: str, groups: tuple[str, ...]) -> StepKey:
    if kind == "index":
        return ("index", groups[0], int(groups[1]))
    if kind == "where_eq":
        return ("where", groups[0], groups[1])
    return (kind, groups[0])


def make_step(key: StepKey) -> _Step:
    """The function of one step key (see :data:`StepKey`)."""
    kind = key[0]
    if kind == "field":
        return _field_step(key[1])
    if kind == "index":
        return _index_step(key[1], key[2])
    if kind == "as":
        return _as_step(key[1])
    if kind == "resolve":
        return _resolve_step(key[1])
    if kind == "where":
        return _where_eq_step(key[1], key[2])
    return _exists_not_false


def is_choice_element(name: str) -> bool:
    """Whether ``name`` is a choice element somewhere in R4 (``value`` of ``value[x]``)."""
    return name in choice_elements()


def children(value: Any, name: str, is_choice: bool) -> list[Node]:
    """The nodes of field ``name`` of ``value`` (its ``name[x]`` variants when a choice)."""
    return _children(value, name, is_choice, _DEFAULT_SUFFIXES)


def _children(value: Any, name: str, is_choice: bool, suffixes: frozenset[str]) -> list[Node]:
    if not isinstance(value, dict):
        return []
    found = value.get(name)
    if found is not None:
        if isinstance(found, list):
            return [(v, None) for v in found]
        return [(found, None)]
    if not is_choice:
        return []
    if suffixes is _DEFAULT_SUFFIXES:  # the variants present, found by one set intersection in C
        variants = _VARIANTS.get(name) or _variants(name)
        hits = value.keys() & variants.keys()
        if not hits:
            return []
        if len(hits) == 1:
            key = hits.pop()
            v, typ = value[key], variants[key]
            return [(x, typ) for x in v] if isinstance(v, list) else [(v, typ)]
    out = []  # several variants (invalid JSON, but indexed as found): in the object's key order
    cut = len(name)
    for key, v in value.items():
        if len(key) > cut and key.startswith(name):
            suffix = key[cut:]
            if suffix in suffixes:
                typ = _PRIMITIVE_NAMES.get(suffix, suffix)
                if isinstance(v, list):
                    out.extend((x, typ) for x in v)
                else:
                    out.append((v, typ))
    return out


_VARIANTS: dict[str, dict[str, str]] = {}


def _variants(name: str) -> dict[str, str]:
    """``{"valueQuantity": "Quantity", "valueString": "string", ...}`` for choice element ``name``."""
    found = _VARIANTS[name] = {name + suffix: _PRIMITIVE_NAMES.get(suffix, suffix) for suffix in _DEFAULT_SUFFIXES}
    return found


def _field_step(name: str) -> _Step:
    is_choice = name in choice_elements()
    suffixes = _DEFAULT_SUFFIXES

    def step(nodes: list[Node]) -> list[Node]:
        if len(nodes) == 1:
            return _children(nodes[0][0], name, is_choice, suffixes)
        out: list[Node] = []
        for node in nodes:
            out.extend(_children(node[0], name, is_choice, suffixes))
        return out

    return step


def _index_step(name: str, index: int) -> _Step:
    field = _field_step(name)

    def step(nodes: list[Node]) -> list[Node]:
        out = []
        for node in nodes:
            kids = field([node])
            if len(kids) > index:
                out.append(kids[index])
        return out

    return step


def as_types(type_name: str) -> frozenset[str]:
    """The node types ``as(type_name)`` / ``ofType(type_name)`` keeps (a node of unknown type is
    kept too, and takes ``type_name``)."""
    wanted = {type_name, type_name[:1].lower() + type_name[1:]}
    if type_name == "Quantity":
        wanted |= QUANTITY_TYPES
    return frozenset(wanted)


def _as_step(type_name: str) -> _Step:
    wanted = as_types(type_name)

    def step(nodes: list[Node]) -> list[Node]:
        return [n if n[1] else (n[0], type_name) for n in nodes if n[1] is None or n[1] in wanted]

    return step


def reference_type(reference: str) -> str | None:
    """The resource type a literal reference points at (relative or absolute), else None."""
    parts = reference.split("/")
    if len(parts) >= 4 and parts[-2] == "_history":
        parts = parts[:-2]
    if len(parts) >= 2 and parts[-2][:1].isupper() and parts[-2].isalpha():
        return parts[-2]
    return None


def _resolve_step(type_name: str) -> _Step:
    def step(nodes: list[Node]) -> list[Node]:
        out = []
        for node in nodes:
            v = node[0]
            if not isinstance(v, dict):
                continue
            ref = v.get("reference")
            target = reference_type(ref) if isinstance(ref, str) else v.get("type")
            if target == type_name:
                out.append(node)
        return out

    return step


def _where_eq_step(name: str, literal: str) -> _Step:
    def step(nodes: list[Node]) -> list[Node]:
        return [n for n in nodes if isinstance(n[0], dict) and n[0].get(name) == literal]

    return step


def _collect(steps: list[_Step]) -> _Step:
    """Run ``steps`` as one step that also passes an empty result on (for aggregate steps)."""

    def step(nodes: list[Node]) -> list[Node]:
        for inner in steps:
            nodes = inner(nodes)
        return nodes

    return step


def _chain(keys: tuple[StepKey, ...]) -> Extractor:
    if keys and keys[-1] in AGGREGATES:  # the path's result, even empty, goes to the aggregate
        collect, aggregate = _collect([make_step(k) for k in keys[:-1]]), make_step(keys[-1])
        steps: list[_Step] = [lambda nodes: aggregate(collect(nodes))]
    else:
        steps = [make_step(k) for k in keys]

    def extract(value: Any) -> list[Node]:
        nodes = [(value, None)]
        for step in steps:
            nodes = step(nodes)
            if not nodes:
                return nodes
        return nodes

    if len(steps) == 1:
        only = steps[0]
        return lambda value: only([(value, None)])
    if len(steps) == 2:
        first, second = steps

        def extract2(value: Any) -> list[Node]:
            nodes = first([(value, None)])
            return second(nodes) if nodes else nodes

        return extract2
    return extract


def fhirpathpy_extractor(part: str, relative: bool) -> Extractor:
    """Evaluate ``part`` with fhirpathpy; a failure (e.g. ``resolve()``) yields nothing."""
    from fhirpathpy import compile as fp_compile
    from fhirpathpy.models import models

    try:
        compiled = fp_compile(part, models["r4"])
    except Exception:  # an expression fhirpathpy cannot parse never breaks a write
        log.warning("search expression not supported: %s", part)
        return lambda value: []

    def extract(value: Any) -> list[Node]:
        try:
            result = compiled(value)
        except Exception:
            return []
        return [(_plain(v), None) for v in result if v is not None]

    return extract


def _plain(value: Any) -> Any:
    """fhirpathpy values back to JSON-like Python values."""
    if isinstance(value, (str, bool, int, float, Decimal, dict, list)):
        return value
    return str(value)


def expression_error(expression: str, resource_type: str | None) -> str | None:
    """Why ``expression`` cannot be used as a search parameter expression on ``resource_type``
    (a syntax error, an unknown function, a wrong number of arguments), or None when it can.

    Compiled forms are fine by construction; the others are parsed strictly (fhirpathpy's parser
    silently recovers from syntax errors) and evaluated once on an empty resource.
    """
    if not compile_expression(expression, resource_type).fallback:
        return None
    from antlr4 import CommonTokenStream, InputStream, Token
    from antlr4.error.ErrorListener import ErrorListener
    from fhirpathpy import compile as fp_compile
    from fhirpathpy.models import models
    from fhirpathpy.parser.generated.FHIRPathLexer import FHIRPathLexer
    from fhirpathpy.parser.generated.FHIRPathParser import FHIRPathParser

    class _Strict(ErrorListener):
        def syntaxError(self, recognizer: Any, offending: Any, line: int, column: int, msg: str, e: Any) -> None:
            raise ValueError(f"syntax error at column {column + 1}: {msg.split(' expecting ')[0]}")

    try:
        lexer = FHIRPathLexer(InputStream(expression))
        lexer.removeErrorListeners()
        lexer.addErrorListener(_Strict())
        tokens = CommonTokenStream(lexer)
        parser = FHIRPathParser(tokens)
        parser.removeErrorListeners()
        parser.addErrorListener(_Strict())
        parser.expression()
        if tokens.LA(1) != Token.EOF:
            raise ValueError(f"unexpected {tokens.LT(1).text!r} at column {tokens.LT(1).column + 1}")
        fp_compile(expression, models["r4"])({"resourceType": resource_type or "Resource"})
    except Exception as exc:  # noqa: BLE001 - every failure makes the expression unusable
        return str(exc) or type(exc).__name__
    return None

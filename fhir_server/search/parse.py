"""Parse search query parameters into a :class:`ParsedSearch` (http://hl7.org/fhir/R4/search.html).

Names and modifiers come only from the registry. Repeated parameters are ANDed, comma-separated
values ORed. Chains (``subject:Patient.name=x``, http://hl7.org/fhir/R4/search.html#chaining) and
reverse chains (``_has:Observation:patient:code=x``, #has) become nested :class:`ParsedSearch`
objects. Result parameters (#return) are parsed into typed fields. Unknown parameters are a 400
unless ``lenient`` (``Prefer: handling=lenient``), when they are listed in ``ignored``.
"""

from __future__ import annotations

import re
from dataclasses import replace

from fhir_server.errors import FhirError, bad_request
from fhir_server.search import model as m
from fhir_server.search.index import stored_as
from fhir_server.search.values import parse_value, split_unescaped
from fhir_server.spec import search_parameters as registry
from fhir_server.spec.resource_types import RESOURCE_TYPES
from fhir_server.spec.search_parameters import SearchParam

RESULT_PARAMS = frozenset(
    {"_count", "_sort", "_include", "_revinclude", "_summary", "_elements", "_total", "_contained",
     "_containedType", "_type", "_format", "_pretty"}
)  # fmt: skip
UNSUPPORTED = frozenset({"_text", "_content", "_query", "_filter", "_list"})
_SUMMARY = ("true", "text", "data", "count", "false")
_TOTAL = ("none", "estimate", "accurate")
_CONTAINED = ("true", "false", "both")
_CONTAINED_TYPE = ("container", "contained")
_ELEMENT_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)*$")
MAX_CHAIN_DEPTH = 4


class _Unknown(Exception):
    """An unknown parameter name (kept apart so chains can try several target types)."""

    def __init__(self, name: str) -> None:
        self.name = name


def _unknown_error(name: str, resource_type: str | None) -> FhirError:
    where = f" for resource type {resource_type}" if resource_type else ""
    return bad_request(f"Unknown search parameter '{name}'{where}", code="not-supported")


def params_of(resource_type: str | None) -> dict[str, SearchParam]:
    return registry.params_for(resource_type or "Resource")


def parse_search(
    resource_type: str | None, params: list[tuple[str, str]], *, lenient: bool = False
) -> m.ParsedSearch:
    """Parse ``params`` (name, value) of a search on ``resource_type`` (None: all types)."""
    parsed = m.ParsedSearch(resource_type)
    for name, value in params:
        if name in RESULT_PARAMS or name.split(":", 1)[0] in ("_include", "_revinclude"):
            _result_param(parsed, name, value)
            continue
        try:
            _parse_param(parsed, resource_type, name, value, depth=0)
        except _Unknown as unknown:
            if not lenient:
                raise _unknown_error(unknown.name, resource_type) from None
            parsed.ignored.append((name, value))
    _check_sort(parsed)
    return parsed


def _parse_param(ps: m.ParsedSearch, rt: str | None, name: str, value: str, depth: int, top: str | None = None) -> None:
    top = top or name
    if name.startswith("_has:"):
        ps.has.append(_parse_has(rt, name, value, depth, top))
        return
    head, dot, rest = name.partition(".")
    code, colon, modifier = head.partition(":")
    if code in UNSUPPORTED:
        raise bad_request(f"Search parameter '{code}' is not supported by this server", code="not-supported")
    param = params_of(rt).get(code)
    if param is None:
        raise _Unknown(name)
    if dot:
        ps.chains.append(_parse_chain(param, modifier if colon else None, rest, value, name, depth, top))
        return
    if value == "":
        ps.ignored.append((name, value))  # empty values are ignored (search.html#errors)
        return
    clause = parse_clause(param, modifier if colon else None, value, name)
    stored = stored_as(rt, code)
    ps.clauses.append(replace(clause, stored_as=stored) if stored else clause)


def parse_clause(param: SearchParam, modifier: str | None, value: str, name: str) -> m.Clause:
    """One ``name=value`` on a known parameter: checks the modifier and types every OR value."""
    target_type = None
    if modifier is not None:
        if modifier == "missing":
            if value not in ("true", "false"):
                raise bad_request(f"Invalid value {value!r} for '{name}': expected true or false")
            return m.Clause(param, "missing", (), missing=value == "true")
        if param.type == "reference" and modifier in RESOURCE_TYPES:
            if param.target and modifier not in param.target:
                raise bad_request(f"'{modifier}' is not a target type of search parameter '{param.code}'")
            target_type = modifier
        elif modifier not in param.modifier:
            raise bad_request(
                f"Modifier ':{modifier}' is not supported on search parameter '{param.code}' ({param.type})",
                code="not-supported",
            )
    if param.code == "_id" and modifier not in (None, "not"):
        raise bad_request(f"Modifier ':{modifier}' is not supported on search parameter '_id'", code="not-supported")
    if not param.indexed and param.type != "special":
        raise bad_request(f"Search parameter '{param.code}' is not supported by this server", code="not-supported")
    if param.type == "reference" and target_type is None and modifier is None and len(param.target) == 1:
        target_type = param.target[0]
    raws = split_unescaped(value, ",")
    if param.type == "special" and param.code == "near" and len(raws) > 1:
        raise bad_request(f"'{name}' takes a single value")
    values = tuple(parse_value(param, raw, name, modifier, target_type) for raw in raws if raw != "")
    if not values:
        raise bad_request(f"Search parameter '{name}' has no value")
    return m.Clause(param, modifier, values, target_type=target_type)


def _parse_chain(
    param: SearchParam, modifier: str | None, rest: str, value: str, name: str, depth: int, top: str,
) -> m.Chain:
    if param.type != "reference":
        raise bad_request(f"Search parameter '{param.code}' is not a reference: it cannot be chained ('{name}')")
    if depth >= MAX_CHAIN_DEPTH:
        raise bad_request(f"Chain '{top}' is too deep: at most {MAX_CHAIN_DEPTH} references can be chained", code="too-costly")
    if modifier is not None:
        if modifier not in RESOURCE_TYPES or (param.target and modifier not in param.target):
            raise bad_request(f"'{modifier}' is not a target type of search parameter '{param.code}'")
        candidates: tuple[str, ...] = (modifier,)
    else:
        candidates = param.target or tuple(sorted(RESOURCE_TYPES))
    inner: dict[str, m.ParsedSearch] = {}
    for target in candidates:
        sub = m.ParsedSearch(target)
        try:
            _parse_param(sub, target, rest, value, depth + 1, top)
        except _Unknown:
            continue
        inner[target] = sub
    if not inner:
        raise _Unknown(name)
    return m.Chain(param, inner)


def _parse_has(rt: str | None, name: str, value: str, depth: int, top: str) -> m.Has:
    parts = name.split(":", 3)
    if len(parts) != 4 or not parts[3]:
        raise bad_request(f"Invalid reverse chain '{name}': expected _has:Type:parameter:inner")
    _, source, ref_code, rest = parts
    if source not in RESOURCE_TYPES:
        raise bad_request(f"Invalid reverse chain '{name}': unknown resource type '{source}'")
    if depth >= MAX_CHAIN_DEPTH:
        raise bad_request(f"Reverse chain '{top}' is too deep: at most {MAX_CHAIN_DEPTH} levels", code="too-costly")
    ref = params_of(source).get(ref_code)
    if ref is None or ref.type != "reference":
        raise bad_request(f"Invalid reverse chain '{name}': '{ref_code}' is not a reference parameter of {source}")
    if rt and ref.target and rt not in ref.target:
        raise bad_request(f"Invalid reverse chain '{name}': {source}.{ref_code} cannot point at {rt}")
    inner = m.ParsedSearch(source)
    try:
        _parse_param(inner, source, rest, value, depth + 1, top)
    except _Unknown as unknown:
        raise _unknown_error(unknown.name, source) from None
    return m.Has(source, ref, inner)


# --- result parameters (http://hl7.org/fhir/R4/search.html#return) --------------------------------
def _choice(name: str, value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise bad_request(f"Invalid value {value!r} for '{name}': expected one of {', '.join(allowed)}")
    return value


def _result_param(ps: m.ParsedSearch, name: str, value: str) -> None:
    base, _, modifier = name.partition(":")
    if base == "_count":
        if not value.isdigit():
            raise bad_request(f"Invalid value {value!r} for '_count': expected a non-negative integer")
        ps.count = int(value)
    elif base == "_sort":
        ps.sort.extend(_sort_keys(ps.resource_type, value))
    elif base in ("_include", "_revinclude"):
        if modifier not in ("", "iterate", "recurse"):
            raise bad_request(f"Invalid modifier on '{name}': expected :iterate")
        inc = _include(value, base == "_revinclude", modifier != "")
        (ps.revinclude if inc.reverse else ps.include).append(inc)
    elif base == "_summary":
        ps.summary = _choice(name, value, _SUMMARY)
    elif base == "_elements":
        items = [v.strip() for v in value.split(",") if v.strip()]
        for item in items:
            if not _ELEMENT_RE.match(item):
                raise bad_request(f"Invalid element name {item!r} in '_elements'")
        ps.elements.extend(items)
    elif base == "_total":
        ps.total = _choice(name, value, _TOTAL)
    elif base == "_contained":
        ps.contained = _choice(name, value, _CONTAINED)
    elif base == "_containedType":
        ps.contained_type = _choice(name, value, _CONTAINED_TYPE)
    elif base == "_type":
        for t in (v.strip() for v in value.split(",")):
            if t not in RESOURCE_TYPES:
                raise bad_request(f"Invalid value {t!r} for '_type': not a resource type")
            ps.types.append(t)
    else:  # _format, _pretty: handled by the API layer
        ps.other[base] = value


def _sort_keys(resource_type: str | None, value: str) -> list[m.SortKey]:
    keys = []
    for item in value.split(","):
        item = item.strip()
        desc = item.startswith("-")
        code = item[1:] if desc else item
        if not code:
            raise bad_request(f"Invalid '_sort' value {value!r}")
        keys.append(m.SortKey(code, desc))
    return keys


def _check_sort(ps: m.ParsedSearch) -> None:
    checked = []
    for key in ps.sort:
        param = params_of(ps.resource_type).get(key.code)
        if param is None:
            raise bad_request(f"Unknown search parameter '{key.code}' in '_sort'", code="not-supported")
        if param.type in ("composite", "special") or not param.indexed:
            raise bad_request(f"Cannot sort on search parameter '{key.code}'", code="not-supported")
        checked.append(m.SortKey(key.code, key.descending, param))
    ps.sort = checked


def _include(value: str, reverse: bool, iterate: bool) -> m.Include:
    what = "_revinclude" if reverse else "_include"
    if value == "*":
        return m.Include("*", "*", None, iterate, reverse)
    parts = value.split(":")
    if len(parts) not in (2, 3):
        raise bad_request(f"Invalid '{what}' value {value!r}: expected SourceType:parameter[:TargetType]")
    source, code = parts[0], parts[1]
    target = parts[2] if len(parts) == 3 else None
    if source not in RESOURCE_TYPES:
        raise bad_request(f"Invalid '{what}' value {value!r}: unknown resource type '{source}'")
    if code != "*":
        param = params_of(source).get(code)
        if param is None or param.type != "reference":
            raise bad_request(f"Invalid '{what}' value {value!r}: '{code}' is not a reference parameter of {source}")
        if target is not None and param.target and target not in param.target:
            raise bad_request(f"Invalid '{what}' value {value!r}: '{target}' is not a target of {source}.{code}")
    if target is not None and target not in RESOURCE_TYPES:
        raise bad_request(f"Invalid '{what}' value {value!r}: unknown resource type '{target}'")
    return m.Include(source, code, target, iterate, reverse)

"""The element walker: checks a resource's JSON against the R4 element tables.

Implements the JSON representation rules of http://hl7.org/fhir/R4/json.html (element names,
arrays exactly for repeating elements, choice types, primitive ``_name`` extensions, no empty
objects / arrays / strings, no nulls), element cardinality
(http://hl7.org/fhir/R4/conformance-rules.html#cardinality), the Extension rule ext-1
(http://hl7.org/fhir/R4/extensibility.html#Extension) and the rule that a contained resource
holds no contained resources (dom-2, http://hl7.org/fhir/R4/references.html#contained).

Speed: one tight loop per JSON object over precompiled rows (:mod:`.tables`); valid values take
the shortest branch, and everything that only matters for a bad value (diagnostics, JSON type
names) lives in :mod:`.reports`. Where the walker is, ``Patient.name[0]``, is kept as a
:data:`~.issues.Path` (``(parent, key[, index])`` tuples) and spelled out only for an issue.
"""

from __future__ import annotations

from typing import Any

from fhir_server.errors import Issue
from fhir_server.spec.structures import structures
from fhir_server.validation import reports
from fhir_server.validation.bindings import check_code, check_coded
from fhir_server.validation.issues import Path, add, text
from fhir_server.validation.tables import COMPLEX, LINK, PRIMITIVE, STRING, TOKEN, Compiled, compile_tables

# Filled by :func:`load` on first use, so importing this package stays cheap.
_TABLES: dict[str, Compiled] = {}
_RESOURCE_TYPES: frozenset[str] = frozenset()
_ELEMENT: Compiled | None = None  # the ``_name`` object of a primitive: id + extension


def load() -> None:
    """Load and compile the element tables, once (about 60 ms)."""
    global _TABLES, _RESOURCE_TYPES, _ELEMENT
    if _ELEMENT is None:
        _TABLES = compile_tables()
        _RESOURCE_TYPES = structures().resource_types
        _ELEMENT = _TABLES["Element"]


Links = list[tuple[Any, Any]]
"""Where the ``LINK`` elements are (:mod:`.tables`): ``(object, key)`` or ``(array, index)``."""


def check_resource(
    resource: Any, path: Path | None, issues: list[Issue], contained: bool = False, links: Links | None = None,
) -> None:
    """Check one resource; ``path`` is None at the top, else where it sits (``Bundle.entry[0].resource``).
    ``links``, when given, receives the place of every ``LINK`` element met."""
    if type(resource) is not dict or not resource:
        reports.bad_resource(resource, text(path) if path else None, issues)
        return
    rtype = resource.get("resourceType")
    table = _TABLES.get(rtype) if type(rtype) is str and rtype in _RESOURCE_TYPES else None
    if table is None:
        reports.bad_resource_type(rtype, text(path) if path else None, issues)
        return
    path = path or rtype
    if contained and "contained" in resource:
        add(issues, "invalid", "A contained resource must not itself contain resources (dom-2).", f"{text(path)}.contained")
    walk(resource, table, path, issues, links)


def walk(obj: dict, table: Compiled, path: Path, issues: list[Issue], links: Links | None) -> None:
    """Check the properties of one non-empty JSON object against ``table``."""
    rows = table.rows
    seen: dict[str, str] | None = None  # choice base -> the variant present
    for key, value in obj.items():
        row = rows.get(key)
        if row is None:
            name = _other_key(obj, key, value, table, path, issues, links)
            if name is not None and name not in obj:  # ``_valueString`` alone still picks a choice
                base = rows[name][2]
                if base is not None:
                    seen = _choose(seen, base, name, path, issues)
            continue
        mode, is_array, base, check, vs, sub = row
        if base is not None:
            if seen is None:
                seen = {base: key}
            else:
                seen = _choose(seen, base, key, path, issues)
        if is_array:
            if type(value) is not list or not value:
                reports.not_an_array(key, value, text(path), issues)
            elif mode == COMPLEX:
                i = 0
                for item in value:
                    if type(item) is dict and item:
                        where = (path, key, i)
                        walk(item, sub, where, issues, links)
                        if vs is not None:
                            check_coded(item, key, sub.name, vs, where, issues)
                    else:
                        reports.not_an_object(key, item, sub.name, f"{text(path)}.{key}[{i}]", issues, True)
                    i += 1
            elif mode <= PRIMITIVE:
                if mode == LINK and links is not None:
                    links.extend([(value, i) for i in range(len(value))])
                _primitive_array(obj, key, value, check, vs, path, issues)
            else:
                contained = key == "contained"
                i = 0
                for item in value:
                    check_resource(item, (path, key, i), issues, contained, links)
                    i += 1
        elif mode == STRING:
            if type(value) is not str or not value:
                reports.bad_primitive(key, value, check, f"{text(path)}.{key}", issues)
        elif mode == TOKEN and type(value) is str and value and value.isprintable() and " " not in value:
            if vs is not None and value not in vs.codes:  # valid code / uri; a bound code must be listed
                check_code(value, key, vs, f"{text(path)}.{key}", issues)
        elif mode <= PRIMITIVE:
            if mode == LINK and links is not None:
                links.append((obj, key))
            bad = check(value)
            if bad is not None:
                reports.bad_primitive(key, value, check, f"{text(path)}.{key}", issues)
            elif vs is not None and value not in vs.codes:
                check_code(value, key, vs, f"{text(path)}.{key}", issues)
        elif mode == COMPLEX:
            if type(value) is dict and value:
                where = (path, key)
                walk(value, sub, where, issues, links)
                if vs is not None:
                    check_coded(value, key, sub.name, vs, where, issues)
            else:
                reports.not_an_object(key, value, sub.name, f"{text(path)}.{key}", issues)
        elif type(value) is list:
            reports.repeated(key, f"{text(path)}.{key}", issues)
        else:
            check_resource(value, (path, key), issues, False, links)
    if table.required:
        for name in table.required:
            if name not in obj and "_" + name not in obj:
                reports.missing(name, f"{text(path)}.{name}", issues)
    if table.required_choices:
        for base, _ in table.required_choices:
            if seen is None or base not in seen:
                reports.missing(f"{base}[x]", f"{text(path)}.{base}[x]", issues)
    if table.is_extension and (seen is not None and "value" in seen) == ("extension" in obj):
        reports.extension_value("extension" in obj, text(path), issues)


def _choose(seen: dict[str, str] | None, base: str, key: str, path: Path, issues: list[Issue]) -> dict[str, str]:
    """Record that choice ``key`` of ``base[x]`` is present; a second, different variant is an issue."""
    if seen is None:
        return {base: key}
    other = seen.setdefault(base, key)
    if other != key:
        add(
            issues,
            "structure",
            f"Element '{key}' conflicts with '{other}': only one {base}[x] choice may be present.",
            f"{text(path)}.{key}",
        )
    return seen


def _other_key(
    obj: dict, key: str, value: Any, table: Compiled, path: Path, issues: list[Issue], links: Links | None,
) -> str | None:
    """A key that is not an element: a primitive's ``_name``, ``resourceType`` or unknown.

    Returns the primitive element's name when ``key`` is its ``_name`` (so choice groups see it).
    """
    if key[:1] == "_":
        name = key[1:]
        row = table.rows.get(name)
        if row is not None and row[0] <= PRIMITIVE:
            _primitive_extension(obj, name, value, row[1], text(path), issues, links)
            return name
    elif key == "resourceType" and table.is_resource:
        return None
    if table is _ELEMENT:
        why = "the '_' object of a primitive element may only hold 'id' and 'extension'"
    else:
        why = f"{table.name} has no such element"
    add(issues, "structure", f"Unknown element '{key}': {why}.", f"{text(path)}.{key}")
    return None


def _primitive_array(obj: dict, key: str, values: list, check: Any, vs: Any, path: Path, issues: list[Issue]) -> None:
    """A repeating primitive; a null entry needs a non-null entry at the same index of ``_key``."""
    i = 0
    for item in values:
        if item is None:
            ext = obj.get("_" + key)
            if type(ext) is not list or len(ext) != len(values) or ext[i] is None:
                add(
                    issues,
                    "structure",
                    f"Element '{key}' has null at index {i} without a matching entry in '_{key}'.",
                    f"{text(path)}.{key}[{i}]",
                )
        elif check(item) is not None:
            reports.bad_primitive(key, item, check, f"{text(path)}.{key}[{i}]", issues, True)
        elif vs is not None and item not in vs.codes:
            check_code(item, key, vs, f"{text(path)}.{key}[{i}]", issues)
        i += 1


def _element_object(value: Any, key: str, path: str, issues: list[Issue], links: Links | None, in_array: bool = False) -> None:
    if type(value) is dict and value:
        walk(value, _ELEMENT, path, issues, links)
    else:
        reports.not_an_object(key, value, "Element", path, issues, in_array)


def _primitive_extension(
    obj: dict, name: str, ext: Any, is_array: bool, path: str, issues: list[Issue], links: Links | None,
) -> None:
    """``_name``: the id / extensions of a primitive (http://hl7.org/fhir/R4/json.html#primitive)."""
    key = "_" + name
    where = f"{path}.{name}"
    if not is_array:
        if type(ext) is list:
            text = f"Element '{key}' must be a JSON object, not a JSON array ('{name}' cannot repeat)."
            add(issues, "structure", text, where)
        else:
            _element_object(ext, key, where, issues, links)
        return
    if type(ext) is not list or not ext:
        reports.not_an_array(key, ext, path, issues, aligned_with=name)
        return
    values = obj.get(name)
    if type(values) is list and len(values) != len(ext):
        add(
            issues,
            "structure",
            f"Element '{key}' has {len(ext)} entries but '{name}' has {len(values)}; they must align.",
            where,
        )
        return
    i = 0
    for item in ext:
        if item is not None:
            _element_object(item, key, f"{where}[{i}]", issues, links, True)
        elif type(values) is not list or values[i] is None:
            text = f"Element '{key}' has null at index {i} without a value in '{name}'."
            add(issues, "structure", text, f"{where}[{i}]")
        i += 1


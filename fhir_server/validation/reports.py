"""Diagnostics for values the walker found wrong (only reached on the error path).

Sentences follow one pattern, "Element '<json name>' <what is wrong>.", with the issue codes of
http://hl7.org/fhir/R4/valueset-issue-type.html: ``structure`` for the JSON shape (unknown
element, array vs single value, object vs primitive, null, empty object or array), ``required``
for a missing mandatory element, ``value`` for a bad primitive, ``invalid`` for the rest.
"""

from __future__ import annotations

from typing import Any, Callable

from fhir_server.errors import Issue
from fhir_server.validation.issues import add, json_type


def _null(key: str, path: str, issues: list[Issue]) -> None:
    add(issues, "structure", f"Element '{key}' is null, which FHIR JSON does not allow.", path)


def repeated(key: str, path: str, issues: list[Issue]) -> None:
    add(issues, "structure", f"Element '{key}' must be a single value, not a JSON array (it cannot repeat).", path)


def bad_primitive(
    key: str, value: Any, check: Callable, path: str, issues: list[Issue], in_array: bool = False
) -> None:
    """A value that failed its primitive ``check`` (http://hl7.org/fhir/R4/datatypes.html#primitive)."""
    if value is None:
        _null(key, path, issues)
    elif type(value) is list and not in_array:
        repeated(key, path, issues)
    else:
        code, reason = check(value)
        add(issues, code, f"Element '{key}' {reason}.", path)


def missing(name: str, path: str, issues: list[Issue]) -> None:
    """A mandatory element (min >= 1) that is absent, counting a primitive's ``_name`` as present."""
    add(issues, "required", f"Required element '{name}' is missing (minimum cardinality 1).", path)


def not_an_object(key: str, value: Any, type_name: str, path: str, issues: list[Issue], in_array: bool = False) -> None:
    """A complex element whose value is not a non-empty JSON object."""
    if value is None:
        _null(key, path, issues)
    elif type(value) is list and not in_array:
        repeated(key, path, issues)
    elif type(value) is dict:
        add(issues, "structure", f"Element '{key}' is an empty object, which FHIR JSON does not allow.", path)
    else:
        add(issues, "structure", f"Element '{key}' must be a JSON object ({type_name}), not {json_type(value)}.", path)


def not_an_array(key: str, value: Any, path: str, issues: list[Issue], aligned_with: str | None = None) -> None:
    """A repeating element (or a repeating primitive's ``_name``) that is not a non-empty array."""
    where = f"{path}.{aligned_with or key}"
    if value is None:
        _null(key, where, issues)
    elif type(value) is list:
        add(issues, "structure", f"Element '{key}' is an empty array, which FHIR JSON does not allow.", where)
    elif aligned_with:
        add(
            issues,
            "structure",
            f"Element '{key}' must be a JSON array aligned with '{aligned_with}', not {json_type(value)}.",
            where,
        )
    else:
        text = f"Element '{key}' must be a JSON array (it can repeat), not {json_type(value)}."
        add(issues, "structure", text, where)


def bad_resource(value: Any, path: str | None, issues: list[Issue]) -> None:
    """Something that should be a resource but is not a non-empty JSON object."""
    where = path or "resourceType"
    if type(value) is dict:
        add(issues, "required", "Required element 'resourceType' is missing.", where)
    else:
        add(issues, "structure", f"A resource must be a JSON object, not {json_type(value)}.", where)


def bad_resource_type(rtype: Any, path: str | None, issues: list[Issue]) -> None:
    """A missing or unknown ``resourceType`` (http://hl7.org/fhir/R4/json.html#resources)."""
    where = f"{path}.resourceType" if path else "resourceType"
    if rtype is None:
        add(issues, "required", "Required element 'resourceType' is missing.", where)
    else:
        shown = f"'{rtype}'" if isinstance(rtype, str) else json_type(rtype)
        add(issues, "invalid", f"Unknown resource type {shown}: not an R4 resource type.", where)


def extension_value(has_value: bool, path: str, issues: list[Issue]) -> None:
    """ext-1: an extension has a value[x] or nested extensions, not both, not neither."""
    which = "has both" if has_value else "has neither"
    add(
        issues,
        "invalid",
        f"An extension must have either a value[x] or nested extensions, but this one {which} (ext-1).",
        path,
    )

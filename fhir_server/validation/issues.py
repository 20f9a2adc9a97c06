"""Collecting validation issues, with a cap so a hostile payload cannot cost unbounded work."""

from __future__ import annotations

from typing import Any

from fhir_server.errors import Issue

MAX_ISSUES = 50

Path = str | tuple
"""Where an element is: a string (``Patient``), or ``(parent, key)`` / ``(parent, key, index)``
built in its place by the walker, so a valid element costs a tuple, not a formatted string."""


def text(path: Path) -> str:
    """``path`` spelled out: ``((("Patient", "name", 0), "given", 1)`` is ``Patient.name[0].given[1]``."""
    parts: list[str] = []
    while type(path) is tuple:
        parts.append(f".{path[1]}[{path[2]}]" if len(path) == 3 else f".{path[1]}")
        path = path[0]
    parts.append(path)
    return "".join(reversed(parts))


class TooManyIssues(Exception):
    """Raised by :func:`add` once :data:`MAX_ISSUES` are collected: the walk stops there."""


def add(issues: list[Issue], code: str, diagnostics: str, path: str) -> None:
    """Record one issue (code from http://hl7.org/fhir/R4/valueset-issue-type.html) at ``path``."""
    issues.append(Issue(code, diagnostics, expression=(path,)))
    if len(issues) >= MAX_ISSUES:
        raise TooManyIssues


def json_type(value: Any) -> str:
    """The JSON type of ``value`` for a diagnostics sentence ("a string", "null", ...)."""
    if value is None:
        return "null"
    if value is True or value is False:
        return "a boolean"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a decimal number"
    if isinstance(value, dict):
        return "a JSON object"
    if isinstance(value, list):
        return "a JSON array"
    return type(value).__name__

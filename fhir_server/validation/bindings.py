"""Required terminology bindings (http://hl7.org/fhir/R4/terminologies.html#required).

A ``code`` bound ``required`` to a value set the package lets us enumerate must be one of its
codes; a ``Coding`` (alone or in a ``CodeableConcept``) is checked only when its ``system`` is one
of the value set's enumerated systems.
"""

from __future__ import annotations


from fhir_server.errors import Issue
from fhir_server.spec.structures import ValueSet
from fhir_server.validation.issues import Path, add, text
from fhir_server.validation.primitives import shown

_LISTED = 12  # list the allowed codes in diagnostics up to this many


def _allowed(codes: tuple[str, ...] | frozenset[str]) -> str:
    ordered = sorted(codes)
    if len(ordered) > _LISTED:
        return ""
    return " (allowed: " + ", ".join(ordered) + ")"


def check_code(code: str, key: str, vs: ValueSet, path: str, issues: list[Issue]) -> None:
    """A valid ``code`` primitive ``key`` bound to ``vs``."""
    if code not in vs.codes:
        add(
            issues,
            "value",
            f"Element '{key}' has code {shown(code)}, which is not in the required value set "
            f"{vs.url}{_allowed(vs.ordered)}.",
            path,
        )


def check_coded(value: dict, key: str, type_name: str, vs: ValueSet, path: Path, issues: list[Issue]) -> None:
    """A structurally checked ``Coding`` / ``CodeableConcept`` ``key`` bound to ``vs`` (at ``path``)."""
    if type_name == "Coding":
        _check_coding(value, key, vs, path, None, issues)
        return
    codings = value.get("coding")
    if type(codings) is list:
        for i, coding in enumerate(codings):
            if type(coding) is dict:
                _check_coding(coding, key, vs, path, i, issues)


def _check_coding(coding: dict, key: str, vs: ValueSet, path: Path, index: int | None, issues: list[Issue]) -> None:
    """One Coding, at ``path`` or (``index`` given) at ``path.coding[index]``."""
    system = coding.get("system")
    if type(system) is not str:
        return
    allowed = vs.systems.get(system)
    if allowed is None:
        return
    code = coding.get("code")
    if type(code) is str and code not in allowed:
        where = text(path) if index is None else f"{text(path)}.coding[{index}]"
        add(
            issues,
            "value",
            f"Element '{key}' has code {shown(code)} from {system}, which is not in the required value set "
            f"{vs.url}{_allowed(allowed)}.",
            f"{where}.code",
        )

"""One exception type that carries an OperationOutcome, and its constructors.

Every failure a client can cause is raised as :class:`FhirError` and rendered once, at the API
boundary, as an OperationOutcome (http://hl7.org/fhir/R4/operationoutcome.html) with the HTTP
status the RESTful API prescribes (http://hl7.org/fhir/R4/http.html).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Issue:
    """One ``OperationOutcome.issue``; ``code`` is from http://hl7.org/fhir/R4/valueset-issue-type.html."""

    code: str
    diagnostics: str
    severity: str = "error"
    expression: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        issue: dict[str, Any] = {"severity": self.severity, "code": self.code, "diagnostics": self.diagnostics}
        if self.expression:
            issue["expression"] = list(self.expression)
        return issue


@dataclass
class FhirError(Exception):
    """A client-visible failure: an HTTP status and the issues of its OperationOutcome."""

    status: int
    issues: list[Issue] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.status}: " + "; ".join(i.diagnostics for i in self.issues)

    def outcome(self) -> dict[str, Any]:
        return operation_outcome(self.issues)


def operation_outcome(issues: list[Issue]) -> dict[str, Any]:
    """An OperationOutcome resource holding ``issues``."""
    return {"resourceType": "OperationOutcome", "issue": [i.to_json() for i in issues]}


def _error(status: int, code: str, diagnostics: str, expression: tuple[str, ...] = ()) -> FhirError:
    return FhirError(status, [Issue(code, diagnostics, expression=expression)])


def bad_request(diagnostics: str, *expression: str, code: str = "invalid") -> FhirError:
    return _error(400, code, diagnostics, expression)


def not_found(diagnostics: str) -> FhirError:
    return _error(404, "not-found", diagnostics)


def gone(diagnostics: str) -> FhirError:
    return _error(410, "deleted", diagnostics)


def method_not_allowed(diagnostics: str) -> FhirError:
    return _error(405, "not-supported", diagnostics)


def not_acceptable(diagnostics: str) -> FhirError:
    return _error(406, "not-supported", diagnostics)


def conflict(diagnostics: str) -> FhirError:
    return _error(409, "conflict", diagnostics)


def precondition_failed(diagnostics: str) -> FhirError:
    return _error(412, "conflict", diagnostics)


def too_large(diagnostics: str) -> FhirError:
    return _error(413, "too-costly", diagnostics)


def unsupported_media_type(diagnostics: str) -> FhirError:
    return _error(415, "not-supported", diagnostics)


def unprocessable(diagnostics: str, *expression: str, code: str = "processing") -> FhirError:
    return _error(422, code, diagnostics, expression)


def invalid_resource(issues: list[Issue]) -> FhirError:
    """A resource that breaks the R4 rules: 400 per http://hl7.org/fhir/R4/http.html#create."""
    return FhirError(400, issues)

"""Reading the server's answer to one posted Bundle (http://hl7.org/fhir/R4/http.html#transaction-response).

A ``transaction-response`` means every entry is in; a ``batch-response`` carries one status per
entry (http://hl7.org/fhir/R4/bundle-definitions.html#Bundle.entry.response.status); an error
status on the whole request carries an OperationOutcome and means nothing was written: such a
request is marked ``retry`` and is not journaled, so the next run posts it again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from fhir_server.loading.bundles import Post

_MAX_REASON = 500


@dataclass(frozen=True)
class Failure:
    """One entry (or whole request, or input line) that did not get in, and why."""

    file: str
    location: str
    status: str
    reason: str

    def to_json(self) -> dict[str, str]:
        return {"file": self.file, "location": self.location, "status": self.status, "reason": self.reason}


@dataclass
class Answer:
    """How one request went: entries in, failures, and whether it must be posted again next run."""

    ok: int
    failures: list[Failure] = field(default_factory=list)
    retry: bool = False


def read_answer(file: str, post: Post, status: int, body: Any) -> Answer:
    """Interpret ``status`` and ``body`` (bytes or dict) of the answer to ``post``."""
    resource = _as_dict(body)
    if status >= 400:
        where = "transaction" if post.atomic else ("batch" if post.size != 1 else post.locations[0])
        return Answer(0, [Failure(file, where, str(status), outcome_text(resource) or f"HTTP {status}")], retry=True)
    if resource.get("resourceType") == "Bundle" and resource.get("type") == "batch-response":
        return _batch_answer(file, post, resource)
    return Answer(post.size)


def _batch_answer(file: str, post: Post, bundle: dict[str, Any]) -> Answer:
    entries = bundle.get("entry") or []
    ok, failures = 0, []
    for index, location in enumerate(post.locations):
        response = (entries[index] if index < len(entries) else {}).get("response") or {}
        status = str(response.get("status") or "")
        if status[:1] in ("2", "3"):
            ok += 1
            continue
        reason = outcome_text(response.get("outcome") or {}) or (f"HTTP {status}" if status else "no response entry")
        failures.append(Failure(file, location, status.split(" ", 1)[0] or "?", reason))
    return Answer(ok, failures)


def outcome_text(outcome: dict[str, Any]) -> str:
    """The diagnostics of an OperationOutcome, with their expressions, on one line."""
    parts = []
    for issue in outcome.get("issue") or ():
        if not isinstance(issue, dict) or issue.get("severity") not in ("error", "fatal", None):
            continue
        text = issue.get("diagnostics") or (issue.get("details") or {}).get("text") or issue.get("code") or ""
        expression = issue.get("expression") or []
        parts.append(f"{text} [{', '.join(expression)}]" if expression else text)
    text = "; ".join(p for p in parts if p)
    return text if len(text) <= _MAX_REASON else text[: _MAX_REASON - 1] + "…"


def _as_dict(body: Any) -> dict[str, Any]:
    if isinstance(body, dict):
        return body
    if isinstance(body, (bytes, bytearray, str)) and body:
        try:
            value = orjson.loads(body)
        except orjson.JSONDecodeError:
            return {}
        return value if isinstance(value, dict) else {}
    return {}

"""The entries of a ``transaction-response`` / ``batch-response`` Bundle.

http://hl7.org/fhir/R4/bundle-definitions.html#Bundle.entry.response: each entry answers the
request entry at the same position with ``status`` (code and phrase, e.g. "201 Created"),
``location``, ``etag``, ``lastModified`` and, for a failure or on ``Prefer: return=OperationOutcome``,
an ``outcome``. The resource (its stored bytes, spliced in) is included unless the client sent
``Prefer: return=minimal`` or ``return=OperationOutcome`` (http://hl7.org/fhir/R4/http.html#ops).
"""

from __future__ import annotations

from email.utils import parsedate_to_datetime
from http import HTTPStatus
from typing import Any

import orjson

from fhir_server import errors
from fhir_server.errors import Issue, operation_outcome
from fhir_server.interactions.bundle_plan import Step
from fhir_server.interactions.messages import FhirResponse
from fhir_server.interactions.plans import Planned
from fhir_server.interactions.rendering import entry_bytes
from fhir_server.interactions.versioning import etag, instant


def status_line(code: int) -> str:
    """``201`` → ``"201 Created"``."""
    try:
        return f"{code} {HTTPStatus(code).phrase}"
    except ValueError:
        return str(code)


def response_entry(step: Step, base_url: str, prefer: str | None) -> bytes:
    """The response entry for one processed request entry."""
    if step.error is not None:
        return failed_entry(step.error)
    if step.answer is not None:
        return read_entry(step, base_url)
    entry = step.entry
    if entry.kind == "delete":
        return delete_entry(step)
    return written_entry(step.planned[0], base_url, prefer)


def failed_entry(error: errors.FhirError) -> bytes:
    return orjson.dumps({"response": {"status": status_line(error.status), "outcome": error.outcome()}})


def written_entry(planned: Planned, base_url: str, prefer: str | None) -> bytes:
    """A create, update or patch, or a conditional create that found its match (200, nothing written)."""
    stored = planned.stored
    response: dict[str, Any] = {
        "status": status_line(planned.status),
        "location": f"{base_url}/{stored.type}/{stored.id}/_history/{stored.vid}",
        "etag": etag(stored.vid),
        "lastModified": instant(stored.ts),
    }
    raw = stored.raw
    if prefer == "minimal":
        raw = None
    elif prefer == "OperationOutcome":
        raw = None
        verb = "created" if planned.status == 201 else "updated" if planned.version is not None else "found"
        response["outcome"] = _information(f"{stored.type}/{stored.id} {verb}, version {stored.vid}")
    return entry_bytes({"fullUrl": f"{base_url}/{stored.type}/{stored.id}"}, raw, {"response": response})


def delete_entry(step: Step) -> bytes:
    """As the same DELETE over HTTP answers: 204 (ETag of the tombstone), or 200 with an outcome when conditional."""
    entry = step.entry
    if entry.resource_id is None:
        count = len(step.planned)
        message = f"Deleted {count} {entry.resource_type} resource(s)" if count else f"No {entry.resource_type} matched; nothing was deleted"
        return orjson.dumps({"response": {"status": status_line(200), "outcome": _information(message)}})
    response: dict[str, Any] = {"status": status_line(204)}
    if step.planned:
        response["etag"] = etag(step.planned[0].stored.vid)
    return orjson.dumps({"response": response})


def read_entry(step: Step, base_url: str) -> bytes:
    """A GET/HEAD, search or operation, from the router's answer."""
    answer: FhirResponse = step.answer  # type: ignore[assignment]
    response: dict[str, Any] = {"status": status_line(answer.status)}
    headers = {k.lower(): v for k, v in answer.headers.items()}
    if "location" in headers:
        response["location"] = headers["location"]
    if "etag" in headers:
        response["etag"] = headers["etag"]
    if "last-modified" in headers:
        response["lastModified"] = instant(parsedate_to_datetime(headers["last-modified"]))
    body = None if step.entry.method == "HEAD" else answer.body
    raw = body if isinstance(body, bytes) or body is None else orjson.dumps(body)
    instance = _instance(step) if raw is not None else None
    if instance:
        return entry_bytes({"fullUrl": f"{base_url}/{instance}"}, raw, {"response": response})
    resource = b'"resource":' + raw + b"," if raw is not None else b""
    return b"{" + resource + b'"response":' + orjson.dumps(response) + b"}"


def _instance(step: Step) -> str | None:
    """``Type/id`` when the entry read one resource (read or vread)."""
    segments = [s for s in step.entry.url.partition("?")[0].split("/") if s]
    if len(segments) in (2, 4) and not segments[1].startswith(("$", "_")) and (len(segments) == 2 or segments[2] == "_history"):
        return f"{segments[0]}/{segments[1]}"
    return None


def _information(diagnostics: str) -> dict[str, Any]:
    return operation_outcome([Issue("informational", diagnostics, severity="information")])

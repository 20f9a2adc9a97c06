"""Turning interaction results into responses: headers, ``Prefer: return``, ``_summary``/``_elements``.

http://hl7.org/fhir/R4/http.html#ops (Prefer), #versioning (ETag), #read (conditional read).
"""

from __future__ import annotations

from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

import orjson

from fhir_server.errors import Issue, operation_outcome
from fhir_server.interactions.messages import FhirRequest, FhirResponse
from fhir_server.interactions.shaping import select_elements, summarize
from fhir_server.interactions.versioning import etag, http_date
from fhir_server.storage.repository import StoredVersion


def version_headers(stored: StoredVersion) -> dict[str, str]:
    return {"ETag": etag(stored.vid), "Last-Modified": http_date(stored.ts)}


def read_response(request: FhirRequest, stored: StoredVersion) -> FhirResponse:
    """200 with the stored bytes, or 304 when If-None-Match / If-Modified-Since say it is unchanged."""
    headers = version_headers(stored)
    if_none_match = request.header("if-none-match")
    if if_none_match and _etag_matches(if_none_match, stored.vid):
        return FhirResponse(304, None, headers)
    if_modified_since = request.header("if-modified-since")
    if if_modified_since and _not_modified_since(if_modified_since, stored.ts):
        return FhirResponse(304, None, headers)
    return FhirResponse(200, shaped(request, stored.raw), headers)


def write_response(request: FhirRequest, base_url: str, stored: StoredVersion, status: int) -> FhirResponse:
    """The answer to a create/update/patch, honouring ``Prefer: return=``."""
    headers = version_headers(stored)
    headers["Location"] = f"{base_url}/{stored.type}/{stored.id}/_history/{stored.vid}"
    prefer = request.prefer("return")
    if prefer == "minimal":
        return FhirResponse(status, None, headers)
    if prefer == "OperationOutcome":
        verb = "created" if status == 201 else "updated" if stored.method in ("PUT", "PATCH") else "found"
        diagnostics = f"{stored.type}/{stored.id} {verb}, version {stored.vid}"
        return FhirResponse(status, operation_outcome([Issue("informational", diagnostics, severity="information")]), headers)
    return FhirResponse(status, stored.raw, headers)


def outcome_response(status: int, diagnostics: str) -> FhirResponse:
    """An informational OperationOutcome (e.g. the answer to a delete)."""
    return FhirResponse(status, operation_outcome([Issue("informational", diagnostics, severity="information")]))


def shaped(request: FhirRequest, raw: bytes | None) -> bytes | dict | None:
    """Apply ``_summary`` and ``_elements`` to one resource (http://hl7.org/fhir/R4/search.html#summary)."""
    summary = request.param("_summary")
    elements = request.param("_elements")
    if raw is None or (summary is None and elements is None):
        return raw
    resource = orjson.loads(raw)
    if summary is not None:
        resource = summarize(resource, summary)
    if elements is not None:
        resource = select_elements(resource, [e.strip() for e in elements.split(",") if e.strip()])
    return resource


def _etag_matches(header: str, vid: int) -> bool:
    wanted = {tag.strip().removeprefix("W/").strip('"') for tag in header.split(",")}
    return "*" in wanted or str(vid) in wanted


def _not_modified_since(header: str, ts: datetime) -> bool:
    try:
        since = parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return False
    if since.tzinfo is None:  # "-0000" in RFC 5322 means UTC with no claim about local time
        since = since.replace(tzinfo=timezone.utc)
    return ts.replace(microsecond=0) <= since

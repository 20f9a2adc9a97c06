"""HTTP adapter: Starlette request → FhirRequest → dispatch → FhirResponse → Starlette response.

This is the one place errors become responses: a FhirError renders as its OperationOutcome with
its status; anything unexpected is logged and answered with a 500 OperationOutcome.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import parse_qsl

import orjson
from starlette.requests import Request
from starlette.responses import Response

from fhir_server import errors
from fhir_server.api import formats
from fhir_server.api.router import dispatch
from fhir_server.context import RequestContext
from fhir_server.interactions.backend import Backend
from fhir_server.interactions.messages import FhirRequest, FhirResponse

log = logging.getLogger("fhir_server")
_FORM = "application/x-www-form-urlencoded"


async def handle(request: Request) -> Response:
    """The endpoint behind every FHIR path."""
    backend: Backend = request.app.state.backend
    pretty = False
    try:
        query = parse_qsl(request.url.query, keep_blank_values=True)
        params = dict(query)
        pretty = params.get("_pretty") == "true"
        formats.check_acceptable(params.get("_format"), request.headers.get("accept"))
        fhir_request = await _to_fhir_request(request, backend, query)
        if request.method == "HEAD":  # a GET whose body is dropped (RFC 9110 §9.3.2)
            fhir_request.method = "GET"
        ctx = RequestContext(base_url=backend.settings.base_url)
        answer = await dispatch(backend, ctx, fhir_request)
    except errors.FhirError as error:
        answer = FhirResponse(error.status, error.outcome(), dict(error.headers))
    except Exception:  # noqa: BLE001 - the one boundary that turns surprises into an OperationOutcome
        log.exception("unexpected failure on %s %s", request.method, request.url.path)
        failure = errors.FhirError(500, [errors.Issue("exception", "Internal server error")])
        answer = FhirResponse(500, failure.outcome())
    if request.method == "HEAD":
        return Response(status_code=answer.status, headers=answer.headers)
    return to_http(answer, pretty)


async def _to_fhir_request(request: Request, backend: Backend, query: list[tuple[str, str]]) -> FhirRequest:
    headers = {k.lower(): v for k, v in request.headers.items()}
    body = await _read_body(request, backend.settings.max_body_bytes)
    fhir_request = FhirRequest(request.method, request.path_params.get("path", "").strip("/"), query, headers, None, body)
    content_type = fhir_request.content_type
    if body and content_type == _FORM:
        fhir_request.query = query + parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
    elif body and content_type not in formats.PATCH_TYPES and request.method in ("POST", "PUT", "PATCH"):
        formats.check_body_type(content_type, patch=request.method == "PATCH")
        fhir_request.resource = formats.parse_json(body, backend.settings.max_json_depth)
    return fhir_request


async def _read_body(request: Request, limit: int) -> bytes:
    """The body, refusing (413) anything larger than ``limit`` bytes without reading it all."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise errors.too_large(f"The body is larger than the limit of {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise errors.too_large(f"The body is larger than the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def to_http(answer: FhirResponse, pretty: bool = False) -> Response:
    body: Any = answer.body
    if body is None:
        return Response(status_code=answer.status, headers=answer.headers)
    content = body if isinstance(body, bytes) else orjson.dumps(body)
    if pretty and "Content-Type" not in answer.headers:
        content = formats.pretty(content)
    return Response(content, status_code=answer.status, headers=answer.headers, media_type=formats.FHIR_JSON)

"""Transport-neutral dispatch: a FhirRequest in, a FhirResponse out (http://hl7.org/fhir/R4/http.html).

The HTTP layer and the batch/transaction processor both call :func:`dispatch`, so a Bundle entry
is answered exactly as the same request over HTTP would be.
"""

from __future__ import annotations

from typing import Any

from fhir_server import errors
from fhir_server.api import formats
from fhir_server.api.capabilities import capability_statement
from fhir_server.api.responses import outcome_response, read_response, write_response
from fhir_server.context import RequestContext
from fhir_server.interactions import history, read, search, search_parameter_sync, write
from fhir_server.interactions.backend import Backend
from fhir_server.interactions.bundle import process_bundle
from fhir_server.interactions.messages import FhirRequest, FhirResponse
from fhir_server.operations import catalog  # noqa: F401 - registers every $operation
from fhir_server.operations.registry import OperationCall, lookup
from fhir_server.spec.resource_types import is_resource_type

_RESULT_PARAMS = {"_format", "_pretty", "_summary", "_elements"}


async def dispatch(backend: Backend, ctx: RequestContext, request: FhirRequest) -> FhirResponse:
    """Route ``request`` by its path segments and method to the interaction that answers it."""
    await search_parameter_sync.refresh(backend)
    segments = [s for s in request.path.split("/") if s] if request.path else []
    method = request.method
    if not segments:
        return await _system(backend, ctx, request, method)
    head = segments[0]
    if head.startswith("$"):
        return await _operation(backend, ctx, request, head[1:], None, None)
    if len(segments) == 1 and head in ("metadata", "_history", "_search"):
        return await _system_named(backend, ctx, request, head, method)
    if not is_resource_type(head):
        raise errors.not_found(f"Unknown resource type {head!r}")
    if len(segments) == 1:
        return await _type_level(backend, ctx, request, head, method)
    second = segments[1]
    if len(segments) == 2 and second == "_search" and method == "POST":
        return await _search(backend, ctx, request, head)
    if len(segments) == 2 and second == "_history" and method == "GET":
        return _bundle(await history.history(backend, ctx, request.query, head))
    if second.startswith("$"):
        if len(segments) != 2:
            raise errors.not_found(f"Unknown path {request.path!r}")
        return await _operation(backend, ctx, request, second[1:], head, None)
    return await _instance_level(backend, ctx, request, head, second, segments[2:], method)


async def _system(backend: Backend, ctx: RequestContext, request: FhirRequest, method: str) -> FhirResponse:
    if method == "GET":
        return _bundle(await search.search(backend, ctx, None, request.query, lenient=_lenient(request)))
    if method == "POST":
        return await process_bundle(backend, ctx, request, dispatch)
    raise errors.method_not_allowed(f"{method} is not supported on the service base")


async def _system_named(backend: Backend, ctx: RequestContext, request: FhirRequest, name: str, method: str) -> FhirResponse:
    if name == "metadata" and method == "GET":
        return FhirResponse(200, capability_statement(backend.settings, request.param("mode")))
    if name == "_history" and method == "GET":
        return _bundle(await history.history(backend, ctx, request.query))
    if name == "_search" and method == "POST":
        return _bundle(await search.search(backend, ctx, None, request.query, lenient=_lenient(request)))
    raise errors.method_not_allowed(f"{method} /{name} is not supported")


async def _type_level(backend: Backend, ctx: RequestContext, request: FhirRequest, resource_type: str, method: str) -> FhirResponse:
    criteria = _criteria(request)
    base = backend.settings.base_url
    if method == "GET":
        return await _search(backend, ctx, request, resource_type)
    if method == "POST":
        if_none_exist = request.header("if-none-exist")
        conditions = FhirRequest.from_url("GET", "?" + if_none_exist).query if if_none_exist else criteria
        written = await write.create(backend, ctx, resource_type, _resource(request), conditions or None)
        return write_response(request, base, written.stored, written.status)
    if method == "PUT":
        written = await write.conditional_update(
            backend, ctx, resource_type, _required_criteria(criteria, "PUT"), _resource(request), _if_match(request)
        )
        return write_response(request, base, written.stored, written.status)
    if method == "PATCH":
        formats.check_body_type(request.content_type, patch=True)
        written = await write.conditional_patch(
            backend, ctx, resource_type, _required_criteria(criteria, "PATCH"), request.content_type,
            request.body or b"", _if_match(request),
        )
        return write_response(request, base, written.stored, written.status)
    if method == "DELETE":
        deleted = await write.conditional_delete(backend, ctx, resource_type, _required_criteria(criteria, "DELETE"))
        if not deleted:
            return outcome_response(200, f"No {resource_type} matched; nothing was deleted")
        return outcome_response(200, f"Deleted {len(deleted)} {resource_type} resource(s)")
    raise errors.method_not_allowed(f"{method} is not supported on /{resource_type}")


async def _instance_level(
    backend: Backend, ctx: RequestContext, request: FhirRequest, resource_type: str, resource_id: str,
    rest: list[str], method: str,
) -> FhirResponse:
    base = backend.settings.base_url
    if not rest:
        if method == "GET":
            return read_response(request, await read.read(backend, ctx, resource_type, resource_id))
        if method == "PUT":
            written = await write.update(backend, ctx, resource_type, resource_id, _resource(request), _if_match(request))
            return write_response(request, base, written.stored, written.status)
        if method == "PATCH":
            formats.check_body_type(request.content_type, patch=True)
            written = await write.patch(
                backend, ctx, resource_type, resource_id, request.content_type, request.body or b"", _if_match(request)
            )
            return write_response(request, base, written.stored, written.status)
        if method == "DELETE":
            deleted = await write.delete(backend, ctx, resource_type, resource_id)
            headers = {"ETag": f'W/"{deleted.vid}"'} if deleted else {}
            return FhirResponse(204, None, headers)
        raise errors.method_not_allowed(f"{method} is not supported on /{resource_type}/{resource_id}")
    if rest[0].startswith("$") and len(rest) == 1:
        return await _operation(backend, ctx, request, rest[0][1:], resource_type, resource_id)
    if rest[0] == "_history" and method == "GET":
        if len(rest) == 1:
            return _bundle(await history.history(backend, ctx, request.query, resource_type, resource_id))
        if len(rest) == 2:
            return read_response(request, await read.vread(backend, ctx, resource_type, resource_id, rest[1]))
    if len(rest) == 1 and is_resource_type(rest[0]) and method == "GET":
        return _bundle(await search.search(
            backend, ctx, rest[0], request.query, compartment=(resource_type, resource_id), lenient=_lenient(request)
        ))
    raise errors.not_found(f"Unknown path {request.path!r} for {method}")


async def _search(backend: Backend, ctx: RequestContext, request: FhirRequest, resource_type: str) -> FhirResponse:
    return _bundle(await search.search(backend, ctx, resource_type, request.query, lenient=_lenient(request)))


async def _operation(
    backend: Backend, ctx: RequestContext, request: FhirRequest, name: str, resource_type: str | None,
    resource_id: str | None,
) -> FhirResponse:
    if request.method not in ("GET", "POST", "DELETE"):
        raise errors.method_not_allowed(f"Operations are invoked with GET or POST, not {request.method}")
    operation = lookup(name, resource_type, resource_id is not None, request.method)
    call = OperationCall(request, resource_type, resource_id, _operation_parameters(request))
    return await operation.handler(backend, ctx, call)


def _operation_parameters(request: FhirRequest) -> dict[str, Any]:
    """The input Parameters: the POST body, or the query string as string parameters."""
    if request.method == "POST" and request.resource is not None:
        body = request.resource
        if body.get("resourceType") == "Parameters":
            return body
        return {"resourceType": "Parameters", "parameter": [{"name": "resource", "resource": body}]}
    params = [{"name": k, "valueString": v} for k, v in request.query if k not in _RESULT_PARAMS]
    return {"resourceType": "Parameters", "parameter": params} if params else {"resourceType": "Parameters"}


def _bundle(body: bytes) -> FhirResponse:
    return FhirResponse(200, body)


def _resource(request: FhirRequest) -> Any:
    formats.check_body_type(request.content_type)
    if request.resource is None:
        raise errors.bad_request("This interaction needs a resource in the body")
    return request.resource


def _criteria(request: FhirRequest) -> list[tuple[str, str]]:
    return [(k, v) for k, v in request.query if k not in _RESULT_PARAMS]


def _required_criteria(criteria: list[tuple[str, str]], method: str) -> list[tuple[str, str]]:
    if not criteria:
        raise errors.method_not_allowed(f"{method} on a resource type needs search criteria (conditional {method})")
    return criteria


def _if_match(request: FhirRequest) -> int | None:
    """The version an ``If-Match: W/"n"`` header names (http://hl7.org/fhir/R4/http.html#concurrency)."""
    header = request.header("if-match")
    if header is None:
        return None
    value = header.strip().removeprefix("W/").strip('"')
    if not value.isdigit():
        raise errors.bad_request(f'If-Match must be a version ETag like W/"3", got {header!r}')
    return int(value)


def _lenient(request: FhirRequest) -> bool:
    return request.prefer("handling") == "lenient"

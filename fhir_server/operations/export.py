"""Bulk Data export (https://hl7.org/fhir/uv/bulkdata/export.html): kick-off, status, files.

* ``[base]/$export``, ``[base]/Patient/$export``, ``[base]/Group/[id]/$export`` (GET or POST with
  Parameters) need ``Prefer: respond-async`` and answer ``202 Accepted`` with
  ``Content-Location: [base]/$export-poll-status?_jobId=<job>``; the job runs in the background
  (:mod:`.export_job`);
* ``GET [base]/$export-poll-status?_jobId=<job>``: ``202`` with ``X-Progress`` while it runs,
  ``200`` with the manifest (``application/json``) when complete, ``500`` with an
  OperationOutcome if it failed; ``DELETE`` on the same URL cancels the job or discards its
  output (``202``), after which the URL answers 404;
* ``GET [base]/$export-file/<job>/<Type>.ndjson`` (``<Type>-2.ndjson``... for further parts): an
  output file, ``application/fhir+ndjson``.
"""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import urlencode

import orjson

from fhir_server import errors
from fhir_server.context import RequestContext
from fhir_server.errors import Issue, operation_outcome
from fhir_server.interactions.backend import Backend
from fhir_server.interactions.messages import FhirRequest, FhirResponse
from fhir_server.interactions.read import read
from fhir_server.interactions.versioning import http_date, instant
from fhir_server.operations import export_job
from fhir_server.operations.export_params import parameter_values, parse_export
from fhir_server.operations.export_scope import group_patients
from fhir_server.operations.registry import Operation, OperationCall, register
from fhir_server.storage.repository import Repository, utc_now

NDJSON = "application/fhir+ndjson"
STATUS = "export-poll-status"
FILES = "export-file"
_BULK = "http://hl7.org/fhir/uv/bulkdata/OperationDefinition"


async def export_system(backend: Backend, ctx: RequestContext, call: OperationCall) -> FhirResponse:
    return await _kick_off(backend, ctx, call, "system")


async def export_patients(backend: Backend, ctx: RequestContext, call: OperationCall) -> FhirResponse:
    return await _kick_off(backend, ctx, call, "patient")


async def export_group(backend: Backend, ctx: RequestContext, call: OperationCall) -> FhirResponse:
    return await _kick_off(backend, ctx, call, "group")


async def _kick_off(backend: Backend, ctx: RequestContext, call: OperationCall, level: str) -> FhirResponse:
    """https://hl7.org/fhir/uv/bulkdata/export.html#bulk-data-kick-off-request"""
    request = call.request
    if request.prefer("respond-async") is None:
        raise errors.bad_request("$export runs asynchronously: send the header Prefer: respond-async")
    lenient = request.prefer("handling") == "lenient"
    export = parse_export(level, parameter_values(call.parameters), lenient=lenient, group_id=call.resource_id)
    patients = None
    if level == "group":
        group = await read(backend, ctx, "Group", call.resource_id or "")
        patients = group_patients(orjson.loads(group.raw or b"{}"))
    repository = backend.repository
    await repository.ensure_export_indexes()  # idempotent; kick-offs are rare
    await _discard_expired(repository)
    job_id = uuid.uuid4().hex
    now = utc_now()
    await repository.export_create({
        "_id": job_id, "status": "in-progress", "level": level, "types": list(export.types), "since": export.since,
        "group": call.resource_id, "request": _request_url(backend.settings.base_url, request),
        "transactionTime": now, "hb": now, "progress": "queued", "tenant": ctx.tenant,
    })
    export_job.start(backend, ctx, job_id, export, now, patients)
    location = f"{backend.settings.base_url}/${STATUS}?_jobId={job_id}"
    return FhirResponse(202, _information(f"Export started: poll {location}"), {"Content-Location": location})


async def poll_status(backend: Backend, ctx: RequestContext, call: OperationCall) -> FhirResponse:
    """https://hl7.org/fhir/uv/bulkdata/export.html#bulk-data-status-request (and the delete request)."""
    repository = backend.repository
    job = await _job(repository, ctx, call.request.param("_jobId"))
    if call.request.method == "DELETE":
        export_job.cancel(job["_id"])
        await repository.export_delete(job["_id"])
        return FhirResponse(202, _information("The export and its files are deleted"))
    now = utc_now()
    if export_job.is_stale(job, now):
        lost = {"status": "failed", "message": "the server stopped while the export ran"}
        await repository.export_update(job["_id"], lost, status="in-progress")
        job = await _job(repository, ctx, job["_id"])
    if job["status"] == "in-progress":
        return FhirResponse(202, None, {"X-Progress": job.get("progress") or "in progress", "Retry-After": "1"})
    if job["status"] == "failed":
        failure = Issue("exception", f"The export failed: {job.get('message', 'unknown error')}")
        return FhirResponse(500, operation_outcome([failure]))
    files = await repository.export_files(job["_id"])
    headers = {"Content-Type": "application/json", "Expires": http_date(job["expires"])}
    return FhirResponse(200, manifest(backend.settings.base_url, job, files), headers)


def manifest(base_url: str, job: dict[str, Any], files: list[dict[str, Any]]) -> dict[str, Any]:
    """The complete-status body (https://hl7.org/fhir/uv/bulkdata/export.html#response---complete-status)."""
    return {
        "transactionTime": instant(job["transactionTime"]),
        "request": job["request"],
        "requiresAccessToken": False,
        "output": [
            {"type": f["type"], "url": f"{base_url}/${FILES}/{job['_id']}/{f['name']}", "count": f["count"]} for f in files
        ],
        "error": [],
    }


async def export_file(backend: Backend, ctx: RequestContext, call: OperationCall) -> FhirResponse:
    """``GET [base]/$export-file/<job>/<name>``: one output file of a completed export."""
    parts = call.request.path.split("/")
    if len(parts) != 3:
        raise errors.not_found(f"Export files are at [base]/${FILES}/<job>/<file>, not {call.request.path!r}")
    job = await _job(backend.repository, ctx, parts[1])
    found = await backend.repository.export_file(job["_id"], parts[2]) if job["status"] == "completed" else None
    if found is None:
        raise errors.not_found(f"Export {job['_id']} has no file {parts[2]!r}")
    return FhirResponse(200, found["data"], {"Content-Type": NDJSON})


async def _job(repository: Repository, ctx: RequestContext, job_id: str | None) -> dict[str, Any]:
    if not job_id:
        raise errors.bad_request(f"${STATUS} needs the _jobId parameter")
    job = await repository.export_job(job_id)
    if job is None or job.get("tenant") != ctx.tenant:
        raise errors.not_found(f"There is no export {job_id!r} (it may have been deleted or expired)")
    return job


async def _discard_expired(repository: Repository) -> None:
    for job_id in await repository.export_expired(utc_now()):
        await repository.export_delete(job_id)


def _information(text: str) -> dict[str, Any]:
    return operation_outcome([Issue("informational", text, severity="information")])


def _request_url(base_url: str, request: FhirRequest) -> str:
    query = f"?{urlencode(request.query)}" if request.query and request.method == "GET" else ""
    return f"{base_url}/{request.path}{query}"


register(Operation(
    "export", export_system, system=True, affects_state=False, definition_url=f"{_BULK}/export",
    documentation="Bulk Data export of the whole system (Prefer: respond-async)",
))
register(Operation(
    "export", export_patients, type_level=True, resource_types=frozenset({"Patient"}), affects_state=False,
    definition_url=f"{_BULK}/patient-export", documentation="Bulk Data export of every Patient compartment",
))
register(Operation(
    "export", export_group, instance=True, resource_types=frozenset({"Group"}), affects_state=False,
    definition_url=f"{_BULK}/group-export", documentation="Bulk Data export of a Group's Patient compartments",
))
register(Operation(  # extra["delete"]: the router lets DELETE through to this operation
    STATUS, poll_status, system=True, affects_state=False, listed=False, extra={"delete": True},
    documentation="Status of a Bulk Data export; DELETE cancels it or discards its files",
))
register(Operation(
    FILES, export_file, system=True, affects_state=False, listed=False, documentation="An output file of a Bulk Data export",
))

"""``$reindex``: re-extract the search index of stored resources with the current parameters.

Custom SearchParameters (and changed expressions) apply to resources written after them; this
operation brings the resources written before up to date. It reads each current version,
extracts its index with the current registry (:func:`fhir_server.search.index.extract_index`)
and, where it differs, rewrites the index fields, guarded by the version it read (a concurrent
write indexes with the same registry, so it wins).

- ``POST [base]/[type]/[id]/$reindex``: synchronous; 200 with Parameters ``processed``/``changed``.
- ``POST [base]/[type]/$reindex`` and ``POST [base]/$reindex`` (optional ``type`` parameters, as
  query or Parameters, restrict the types): a background job in this process, in batches of
  ``BATCH`` resources. Answered with 202 and ``Content-Location`` of its status, following the
  asynchronous request pattern (http://hl7.org/fhir/R4/async.html).
- ``GET [base]/$reindex-status?job=<id>``: 202 with an ``X-Progress`` header while it runs, 200 when
  it has completed or failed; the body is Parameters with ``status``, ``type``, ``total``,
  ``processed``, ``changed``, ``started``, ``finished`` (and ``error``). Progress is stored in the
  ``reindex_jobs`` collection, so any process serving the database can answer the poll.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from datetime import datetime, timezone
from typing import Any

import orjson

from fhir_server import errors
from fhir_server.context import RequestContext
from fhir_server.interactions.backend import Backend
from fhir_server.interactions.messages import FhirResponse
from fhir_server.interactions.versioning import instant
from fhir_server.operations.registry import Operation, OperationCall, register
from fhir_server.search.index import INDEX_FIELDS, extract_index
from fhir_server.search.index_values import local_bases, set_local_bases
from fhir_server.spec.resource_types import RESOURCE_TYPES
from fhir_server.storage import reindex_store
from fhir_server.storage.stored_form import stored_time

log = logging.getLogger(__name__)

BATCH = 500
_FIELDS = {"_id": 1, "vid": 1, "raw": 1, **{name: 1 for name in INDEX_FIELDS}}
_RUNNING: dict[asyncio.Task[None], Any] = {}  # task -> its repository (strong references: the loop keeps only weak ones)


async def reindex(backend: Backend, ctx: RequestContext, call: OperationCall) -> FhirResponse:
    """The ``$reindex`` handler at every level."""
    _prepare(backend)
    if call.resource_id is not None:
        assert call.resource_type is not None
        counts = await _reindex_one(backend, ctx, call.resource_type, call.resource_id)
        return FhirResponse(200, _parameters([("processed", "valueInteger", 1), ("changed", "valueInteger", counts)]))
    types = [call.resource_type] if call.resource_type else await _requested_types(backend, call)
    job = await start(backend, ctx, types)
    url = f"{backend.settings.base_url}/$reindex-status?job={job['_id']}"
    started = errors.Issue("informational", f"Reindex job {job['_id']} started", severity="information")
    outcome = errors.operation_outcome([started])
    return FhirResponse(202, outcome, {"Content-Location": url})


async def status(backend: Backend, ctx: RequestContext, call: OperationCall) -> FhirResponse:
    """The ``$reindex-status`` handler: where a job is."""
    key = _param(call.parameters, "job")
    if not key:
        raise errors.bad_request("$reindex-status needs the job parameter")
    job = await reindex_store.load_job(backend.repository, key)
    if job is None:
        raise errors.not_found(f"No reindex job {key!r}")
    body = _job_parameters(job)
    if job["status"] == "in-progress":
        return FhirResponse(202, body, {"X-Progress": f"{job['processed']} of {job['total']} resources"})
    return FhirResponse(200, body)


# --- the work ----------------------------------------------------------------------------------------
async def start(backend: Backend, ctx: RequestContext, types: list[str]) -> dict[str, Any]:
    """Record a job for ``types`` and run it in the background; returns its first progress document."""
    total = 0
    for resource_type in types:
        total += await backend.repository.count(ctx, resource_type, {})
    job: dict[str, Any] = {
        "_id": secrets.token_urlsafe(12), "status": "in-progress", "types": types, "total": total,
        "processed": 0, "changed": 0, "started": reindex_store.now(),
    }
    await reindex_store.save_job(backend.repository, job)
    task = asyncio.get_running_loop().create_task(_run(backend, ctx, dict(job)))
    _RUNNING[task] = backend.repository
    task.add_done_callback(lambda done: _RUNNING.pop(done, None))
    return job


async def stop_all(repository: Any = None) -> None:
    """Cancel the jobs running in this process (those of ``repository``, or all) and wait until they
    have recorded that they stopped: before the database client closes or the database is dropped."""
    tasks = [task for task, owner in list(_RUNNING.items()) if repository is None or owner is repository]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def _run(backend: Backend, ctx: RequestContext, job: dict[str, Any]) -> None:
    try:
        for resource_type in job["types"]:
            await reindex_type(backend, ctx, resource_type, job)
        job["status"] = "completed"
    except asyncio.CancelledError:  # the server stops: the job must not stay in-progress for ever
        job.update(status="failed", error="the server stopped while the job ran", finished=reindex_store.now())
        await asyncio.shield(reindex_store.save_job(backend.repository, job))
        raise
    except Exception as exc:  # noqa: BLE001 - a failed job reports why instead of vanishing
        log.exception("reindex job %s failed", job["_id"])
        job.update(status="failed", error=str(exc) or type(exc).__name__)
    job["finished"] = reindex_store.now()
    await reindex_store.save_job(backend.repository, job)


async def reindex_type(backend: Backend, ctx: RequestContext, resource_type: str, job: dict[str, Any]) -> None:
    """Reindex every current resource of ``resource_type`` in id order, BATCH at a time,
    recording progress in ``job`` after each batch."""
    last: str | None = None
    while True:
        flt = {"_id": {"$gt": last}} if last is not None else {}
        docs = await backend.repository.find(ctx, resource_type, flt, sort=[("_id", 1)], limit=BATCH, fields=_FIELDS)
        if not docs:
            return
        for doc in docs:
            job["changed"] += await _reindex_doc(backend, resource_type, doc)
        job["processed"] += len(docs)
        last = docs[-1]["_id"]
        await reindex_store.save_job(backend.repository, job)
        await asyncio.sleep(0)  # let requests through between batches


async def _reindex_one(backend: Backend, ctx: RequestContext, resource_type: str, resource_id: str) -> int:
    docs = await backend.repository.find(ctx, resource_type, {"_id": resource_id}, fields=_FIELDS)
    if not docs:
        raise errors.not_found(f"{resource_type}/{resource_id} is not known")
    return await _reindex_doc(backend, resource_type, docs[0])


async def _reindex_doc(backend: Backend, resource_type: str, doc: dict[str, Any]) -> int:
    """1 when the stored index changed, else 0."""
    if doc.get("raw") is None:
        return 0
    index = extract_index(orjson.loads(doc["raw"]))
    stored = {name: doc[name] for name in INDEX_FIELDS if name in doc}
    if as_stored(stored) == as_stored(index):
        return 0
    written = await reindex_store.replace_index(backend.repository, resource_type, doc["_id"], doc["vid"], index, INDEX_FIELDS)
    return 1 if written else 0


def as_stored(value: Any) -> Any:
    """Index values as a read gives them back, whichever engine and whether just extracted or read:
    datetimes naive UTC (MongoDB with ``tz_aware=True`` returns aware ones, the embedded engine
    naive ones) at the millisecond precision BSON stores, tuples as lists."""
    if isinstance(value, datetime):
        return stored_time(value)
    if isinstance(value, dict):
        return {k: as_stored(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [as_stored(v) for v in value]
    return value


def _prepare(backend: Backend) -> None:
    if not local_bases():
        set_local_bases((backend.settings.base_url,))


async def _requested_types(backend: Backend, call: OperationCall) -> list[str]:
    wanted = [t.strip() for v in _params(call.parameters, "type") for t in v.split(",") if t.strip()]
    unknown = [t for t in wanted if t not in RESOURCE_TYPES]
    if unknown:
        raise errors.bad_request(f"Unknown resource type(s) for $reindex: {', '.join(unknown)}")
    return wanted or await reindex_store.stored_types(backend.repository, RESOURCE_TYPES)


# --- Parameters ------------------------------------------------------------------------------------------
def _params(parameters: dict[str, Any], name: str) -> list[str]:
    out = []
    for p in parameters.get("parameter") or ():
        if isinstance(p, dict) and p.get("name") == name:
            value = next((v for k, v in p.items() if k.startswith("value") and isinstance(v, str)), None)
            if value:
                out.append(value)
    return out


def _param(parameters: dict[str, Any], name: str) -> str | None:
    found = _params(parameters, name)
    return found[-1] if found else None


def _parameters(items: list[tuple[str, str, Any]]) -> dict[str, Any]:
    return {"resourceType": "Parameters", "parameter": [{"name": n, kind: v} for n, kind, v in items]}


def _job_parameters(job: dict[str, Any]) -> dict[str, Any]:
    items: list[tuple[str, str, Any]] = [("job", "valueString", job["_id"]), ("status", "valueCode", job["status"])]
    items += [("type", "valueCode", t) for t in job["types"]]
    items += [("total", "valueInteger", job["total"]), ("processed", "valueInteger", job["processed"]),
              ("changed", "valueInteger", job["changed"]), ("started", "valueInstant", _instant(job["started"]))]
    if job.get("finished"):
        items.append(("finished", "valueInstant", _instant(job["finished"])))
    if job.get("error"):
        items.append(("error", "valueString", job["error"]))
    return _parameters(items)


def _instant(value: datetime) -> str:
    return instant(value.astimezone(timezone.utc) if value.tzinfo else value)


register(Operation(
    "reindex", reindex, system=True, type_level=True, instance=True, affects_state=True,
    documentation="Re-extract the search index of stored resources with the current search parameters",
))
register(Operation(
    "reindex-status", status, system=True, affects_state=False, listed=False,
    documentation="Progress of a $reindex job (job parameter)",
))

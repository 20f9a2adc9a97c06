"""Running one export job: an asyncio task in the server process that writes ndjson files.

https://hl7.org/fhir/uv/bulkdata/export.html#response---complete-status: each output file holds
resources of one type, one per line, as stored (``StoredVersion.raw``: the bytes the server
serves). Types are read in ``_id`` order in batches (keyset paging, so memory stays flat and the
job heartbeat ``hb`` is refreshed after each batch); a file is cut before it would pass
:data:`MAX_FILE_BYTES`. Every write to the job is guarded by ``status: in-progress``: if the job
was deleted (cancelled, maybe by another server process), the task stops and removes its files.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from typing import Any

import orjson

from fhir_server.context import RequestContext
from fhir_server.interactions.backend import Backend
from fhir_server.operations.export_params import ExportRequest
from fhir_server.operations.export_scope import Scope, export_types, scope_for
from fhir_server.storage.repository import Repository, as_utc, utc_now

log = logging.getLogger("fhir_server.export")

MAX_FILE_BYTES = 8 * 1024 * 1024
BATCH = 1000
RETENTION = timedelta(hours=24)  # completed output is kept this long (or until a DELETE)
STALE = timedelta(minutes=5)  # an in-progress job whose heartbeat is older has lost its task

_TASKS: dict[str, asyncio.Task[None]] = {}
_REPOSITORIES: dict[str, Repository] = {}  # the repository each running job writes to


class JobGone(Exception):
    """The job was deleted while it ran."""


def start(backend: Backend, ctx: RequestContext, job_id: str, request: ExportRequest, transaction_time: datetime,
          patients: list[str] | None) -> None:
    """Run the job in the background of this server process."""
    task = asyncio.create_task(_run(backend.repository, ctx, job_id, request, transaction_time, patients))
    _TASKS[job_id] = task
    _REPOSITORIES[job_id] = backend.repository
    task.add_done_callback(lambda _: (_TASKS.pop(job_id, None), _REPOSITORIES.pop(job_id, None)))


async def stop_all(repository: Repository | None = None) -> None:
    """Cancel the jobs running in this process (those writing to ``repository``, or all) and wait
    until they have stopped: before the database client closes or the database is dropped, where
    a job still writing would fail on the closed client or create the dropped database again. A
    stopped job stays ``in-progress`` until its heartbeat is stale (:func:`is_stale`)."""
    tasks = [task for job_id, task in list(_TASKS.items()) if repository is None or _REPOSITORIES.get(job_id) is repository]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def cancel(job_id: str) -> None:
    """Cancel the job's task if it runs in this process (else its next heartbeat notices the deletion)."""
    task = _TASKS.pop(job_id, None)
    if task is not None:
        task.cancel()


def runs_here(job_id: str) -> bool:
    return job_id in _TASKS


def is_stale(job: dict[str, Any], now: datetime) -> bool:
    heartbeat = job.get("hb")
    return job.get("status") == "in-progress" and not runs_here(job["_id"]) and (heartbeat is None or as_utc(heartbeat) < now - STALE)


async def _run(repository: Repository, ctx: RequestContext, job_id: str, request: ExportRequest,
               transaction_time: datetime, patients: list[str] | None) -> None:
    try:
        count = await _export(repository, ctx, job_id, request, transaction_time, patients)
    except (JobGone, asyncio.CancelledError):
        await asyncio.shield(repository.export_delete_files(job_id))
        return
    except Exception as error:  # noqa: BLE001 - reported through the status endpoint
        log.exception("export %s failed", job_id)
        now = utc_now()
        await repository.export_update(
            job_id, {"status": "failed", "message": f"{type(error).__name__}: {error}", "expires": now + RETENTION},
            status="in-progress",
        )
        return
    now = utc_now()
    done = {"status": "completed", "finished": now, "expires": now + RETENTION, "progress": f"{count} resources"}
    if not await repository.export_update(job_id, done, status="in-progress"):
        await repository.export_delete_files(job_id)


async def _export(repository: Repository, ctx: RequestContext, job_id: str, request: ExportRequest,
                  transaction_time: datetime, patients: list[str] | None) -> int:
    types = export_types(request, await repository.stored_types())
    writer = _Writer(repository, job_id)
    for number, resource_type in enumerate(types, start=1):
        scope = scope_for(resource_type, request.level, patients, request.since, transaction_time)
        await _export_type(repository, ctx, scope, writer)
        await writer.finish_type()
        await _heartbeat(repository, job_id, f"{number} of {len(types)} types done, {writer.total} resources")
    return writer.total


async def _export_type(repository: Repository, ctx: RequestContext, scope: Scope, writer: "_Writer") -> None:
    seen: set[str] | None = set() if len(scope.filters) > 1 else None  # a resource may match two chunks
    for filter in scope.filters:
        last: str | None = None
        while True:
            query = filter if last is None else {"$and": [filter, {"_id": {"$gt": last}}]}
            docs = await repository.find(ctx, scope.resource_type, query, sort=[("_id", 1)], limit=BATCH, fields={"_id": 1, "raw": 1})
            for doc in docs:
                if seen is not None:
                    if doc["_id"] in seen:
                        continue
                    seen.add(doc["_id"])
                await writer.add(scope.resource_type, doc["raw"])
            await _heartbeat(repository, writer.job_id, f"exporting {scope.resource_type}, {writer.total} resources")
            if len(docs) < BATCH:
                break
            last = docs[-1]["_id"]


async def _heartbeat(repository: Repository, job_id: str, progress: str) -> None:
    if not await repository.export_update(job_id, {"hb": utc_now(), "progress": progress}, status="in-progress"):
        raise JobGone(job_id)
    await asyncio.sleep(0)  # let the server answer requests between batches


class _Writer:
    """Buffers one type's lines and stores them as files of at most MAX_FILE_BYTES."""

    def __init__(self, repository: Repository, job_id: str) -> None:
        self.repository = repository
        self.job_id = job_id
        self.total = 0
        self._seq = 0
        self._type = ""
        self._part = 0
        self._lines: list[bytes] = []
        self._size = 0

    async def add(self, resource_type: str, raw: bytes) -> None:
        if b"\n" in raw:  # ndjson needs one line per resource
            raw = orjson.dumps(orjson.loads(raw))
        if self._lines and self._size + len(raw) + 1 > MAX_FILE_BYTES:
            await self._flush()
        self._type = resource_type
        self._lines.append(raw)
        self._size += len(raw) + 1
        self.total += 1

    async def finish_type(self) -> None:
        await self._flush()
        self._part = 0

    async def _flush(self) -> None:
        if not self._lines:
            return
        self._part += 1
        self._seq += 1
        name = f"{self._type}.ndjson" if self._part == 1 else f"{self._type}-{self._part}.ndjson"
        await self.repository.export_add_file({
            "_id": f"{self.job_id}/{name}", "job": self.job_id, "seq": self._seq, "type": self._type,
            "name": name, "count": len(self._lines), "data": b"\n".join(self._lines) + b"\n",
        })
        self._lines, self._size = [], 0

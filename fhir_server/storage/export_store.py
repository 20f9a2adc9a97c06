"""Storage of Bulk Data export jobs and their output files (mixed into the Repository).

https://hl7.org/fhir/uv/bulkdata/export.html: a kick-off creates a job; the job writes its ndjson
output in parts; the status endpoint reads the job; a DELETE removes the job and its files.

* ``export_jobs``: ``{_id: job id, status, hb (heartbeat), ...}``, one document per job;
* ``export_files``: ``{_id: "<job>/<name>", job, seq, type, name, count, data: bytes}``, one
  document per output file (each under MongoDB's 16 MB document limit: the writer splits).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import ASCENDING

EXPORT_JOBS = "export_jobs"
EXPORT_FILES = "export_files"
_FILE_META = {"data": 0}


class ExportStore:
    """Export jobs and files; expects ``self.db`` (a MongoDB-shaped database) from the Repository."""

    db: Any

    async def ensure_export_indexes(self) -> None:
        await self.db[EXPORT_FILES].create_index([("job", ASCENDING), ("seq", ASCENDING)])
        await self.db[EXPORT_JOBS].create_index([("expires", ASCENDING)])

    async def export_create(self, job: dict[str, Any]) -> None:
        await self.db[EXPORT_JOBS].insert_one(job)

    async def export_job(self, job_id: str) -> dict[str, Any] | None:
        return await self.db[EXPORT_JOBS].find_one({"_id": job_id})

    async def export_update(self, job_id: str, changes: dict[str, Any], *, status: str | None = None) -> bool:
        """Set ``changes`` on the job if it exists (and is in ``status``); False when it is gone or moved on."""
        filter: dict[str, Any] = {"_id": job_id}
        if status is not None:
            filter["status"] = status
        result = await self.db[EXPORT_JOBS].update_one(filter, {"$set": changes})
        return result.matched_count == 1

    async def export_add_file(self, document: dict[str, Any]) -> None:
        await self.db[EXPORT_FILES].insert_one(document)

    async def export_file(self, job_id: str, name: str) -> dict[str, Any] | None:
        """One output file with its bytes (``data``)."""
        return await self.db[EXPORT_FILES].find_one({"_id": f"{job_id}/{name}"})

    async def export_files(self, job_id: str) -> list[dict[str, Any]]:
        """The job's output files in the order written, without their bytes."""
        return await self.db[EXPORT_FILES].find({"job": job_id}, _FILE_META).sort([("seq", ASCENDING)]).to_list(None)

    async def export_delete(self, job_id: str) -> bool:
        """Remove the job and its files; False if there was no such job."""
        await self.db[EXPORT_FILES].delete_many({"job": job_id})
        result = await self.db[EXPORT_JOBS].delete_one({"_id": job_id})
        return result.deleted_count == 1

    async def export_delete_files(self, job_id: str) -> None:
        await self.db[EXPORT_FILES].delete_many({"job": job_id})

    async def export_expired(self, now: datetime) -> list[str]:
        """Ids of the jobs whose output may be discarded (``expires`` before ``now``)."""
        docs = await self.db[EXPORT_JOBS].find({"expires": {"$lt": now}}, {"_id": 1}).to_list(None)
        return [doc["_id"] for doc in docs]

    async def stored_types(self) -> set[str]:
        """Names of the collections that exist (resource types among them have been written)."""
        return set(await self.db.list_collection_names())

"""Storage helpers for the search index's upkeep: which collections hold resources, rewriting the
stored index fields of a current document, and the progress documents of ``$reindex`` jobs.

The search index is embedded in each current document (see ``fhir_server.search.index``);
``$reindex`` re-extracts it with the current parameter registry and stores it here, guarded by the
version it was computed from so a concurrent write (which indexes with the same registry) wins.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from fhir_server.storage.repository import HISTORY, LOCKS, Repository, utc_now

JOBS = "reindex_jobs"
_NOT_RESOURCES = frozenset({HISTORY, LOCKS, JOBS, "searches"})


async def stored_types(repository: Repository, known: Iterable[str]) -> list[str]:
    """The resource types (among ``known``) that have a collection, sorted."""
    names = set(await repository.db.list_collection_names())
    return sorted((names - _NOT_RESOURCES) & set(known))


async def replace_index(
    repository: Repository, resource_type: str, resource_id: str, vid: int, index: dict[str, Any], fields: Iterable[str],
) -> bool:
    """Store ``index`` as the index fields of version ``vid`` of a current document, removing the
    ``fields`` it no longer has. False when the document is no longer at ``vid`` (nothing written)."""
    update: dict[str, Any] = {}
    if index:
        update["$set"] = index
    gone = {name: "" for name in fields if name not in index}
    if gone:
        update["$unset"] = gone
    if not update:
        return True
    result = await repository.db[resource_type].update_one({"_id": resource_id, "vid": vid, "del": False}, update)
    return result.matched_count == 1


# --- $reindex jobs ------------------------------------------------------------------------------------
async def save_job(repository: Repository, job: dict[str, Any]) -> None:
    """Create or replace the progress document of a job (``job["_id"]`` is its key)."""
    await repository.db[JOBS].replace_one({"_id": job["_id"]}, {**job, "updated": utc_now()}, upsert=True)


async def load_job(repository: Repository, key: str) -> dict[str, Any] | None:
    return await repository.db[JOBS].find_one({"_id": key})


def now() -> datetime:
    return utc_now()

"""Search result snapshots: the ordered ids of a search, so its pages stay stable while data changes.

http://hl7.org/fhir/R4/http.html#paging: "the server SHOULD ensure that the paging links remain
stable". The first page stores the ordered matching ids under a random key (expiring by TTL);
``next``/``previous`` links name that key and an offset, and later pages read ids from it.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

from pymongo import ASCENDING

from fhir_server.storage.repository import Repository, as_utc, utc_now

SEARCHES = "searches"


async def ensure_snapshot_indexes(repository: Repository) -> None:
    await repository.db[SEARCHES].create_index([("exp", ASCENDING)], expireAfterSeconds=0)


async def save_snapshot(
    repository: Repository, refs: list[tuple[str, str]], query: str, keep_seconds: int, total: int | None = None,
) -> str:
    """Store the ordered (type, id) results of ``query`` (and their ``total``, when more matched than
    ``refs`` holds); returns the snapshot key."""
    key = secrets.token_urlsafe(16)
    document: dict[str, Any] = {
        "_id": key, "q": query, "refs": [f"{t}/{i}" for t, i in refs],
        "exp": utc_now() + timedelta(seconds=keep_seconds),
    }
    if total is not None and total != len(refs):
        document["n"] = total
    await repository.db[SEARCHES].insert_one(document)
    return key


async def load_snapshot(repository: Repository, key: str) -> tuple[str, list[tuple[str, str]], int] | None:
    """The query, ordered (type, id) results and total stored under ``key``, or None once expired."""
    document = await repository.db[SEARCHES].find_one({"_id": key})
    if document is None or as_utc(document["exp"]) <= utc_now():  # the TTL monitor deletes it only later
        return None
    refs = [tuple(ref.split("/", 1)) for ref in document["refs"]]
    return document["q"], refs, document.get("n", len(refs))  # type: ignore[return-value]

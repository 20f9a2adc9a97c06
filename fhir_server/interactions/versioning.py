"""Server-assigned resource metadata: ids, ``meta.versionId`` and ``meta.lastUpdated``.

http://hl7.org/fhir/R4/resource.html#Meta: the server sets versionId (an integer sequence here)
and lastUpdated on every write; the stored bytes are the client's JSON with that meta.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import orjson

from fhir_server.search.index import extract_index
from fhir_server.storage.repository import NewVersion, StoredVersion, utc_now


def new_id() -> str:
    """A server-assigned logical id (http://hl7.org/fhir/R4/resource.html#id)."""
    return str(uuid.uuid4())


def instant(ts: datetime) -> str:
    """``ts`` as a FHIR instant with millisecond precision, in UTC."""
    return ts.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}+00:00"


def http_date(ts: datetime) -> str:
    """``ts`` as an HTTP-date for Last-Modified (RFC 9110 §5.6.7)."""
    return ts.strftime("%a, %d %b %Y %H:%M:%S GMT")


def etag(vid: int) -> str:
    """The weak ETag of a version (http://hl7.org/fhir/R4/http.html#versioning)."""
    return f'W/"{vid}"'


def next_version(
    resource_type: str, resource_id: str, resource: dict[str, Any] | None, previous: StoredVersion | None, method: str,
) -> tuple[NewVersion, dict[str, Any] | None]:
    """The version that follows ``previous``; ``resource`` None makes a delete tombstone.

    Returns the NewVersion to store and the resource as it will be served (with id and meta).
    """
    ts = utc_now()
    vid = previous.vid + 1 if previous else 1
    if resource is None:
        return NewVersion(resource_type, resource_id, vid, ts, None, {}, method, previous.vid if previous else 0), None
    stamped = stamp(resource, resource_id, vid, ts)
    version = NewVersion(
        resource_type, resource_id, vid, ts, orjson.dumps(stamped), extract_index(stamped), method,
        previous.vid if previous else 0,
    )
    return version, stamped


def stamp(resource: dict[str, Any], resource_id: str, vid: int, ts: datetime) -> dict[str, Any]:
    """A copy of ``resource`` carrying ``id`` and the server's meta, with ``id`` and ``meta`` first."""
    meta = dict(resource.get("meta") or {})
    meta["versionId"] = str(vid)
    meta["lastUpdated"] = instant(ts)
    stamped = {"resourceType": resource["resourceType"], "id": resource_id, "meta": meta}
    for key, value in resource.items():
        if key not in stamped:
            stamped[key] = value
    return stamped

"""Server-assigned resource metadata: ids, ``meta.versionId`` and ``meta.lastUpdated``.

http://hl7.org/fhir/R4/resource.html#Meta: the server sets versionId (an integer sequence here)
and lastUpdated on every write; the stored bytes are the client's JSON with that meta.
"""

from __future__ import annotations

import os
from datetime import datetime, timezone
from typing import Any

import orjson

from fhir_server.search.index import extract_index
from fhir_server.storage.repository import NewVersion, StoredVersion, utc_now


def new_id() -> str:
    """A server-assigned logical id (http://hl7.org/fhir/R4/resource.html#id): a random UUID.

    The same as ``str(uuid.uuid4())`` (RFC 9562 version 4: 122 random bits from ``os.urandom``,
    version and variant bits set, lower-case), without the ``uuid.UUID`` object around it.
    """
    b = bytearray(os.urandom(16))
    b[6] = (b[6] & 0x0F) | 0x40  # version 4
    b[8] = (b[8] & 0x3F) | 0x80  # variant RFC 4122
    h = b.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def instant(ts: datetime) -> str:
    """``ts`` as a FHIR instant with millisecond precision, in UTC (the last one is remembered:
    the versions written in one millisecond share their ``ts``)."""
    global _last_instant
    if _last_instant[0] is ts:
        return _last_instant[1]
    if ts.tzinfo is timezone.utc and type(ts) is datetime and ts.year >= 1000:  # the usual case, in C
        text = ts.isoformat(timespec="milliseconds")
    else:
        text = ts.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}+00:00"
    _last_instant = (ts, text)
    return text


_last_instant: tuple[datetime | None, str] = (None, "")


_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def http_date(ts: datetime) -> str:
    """``ts`` as an HTTP-date for Last-Modified (RFC 9110 §5.6.7)."""
    if type(ts) is datetime and ts.year >= 1000:  # what strftime gives in the C locale, without it
        return (f"{_DAYS[ts.weekday()]}, {ts.day:02d} {_MONTHS[ts.month - 1]} {ts.year} "
                f"{ts.hour:02d}:{ts.minute:02d}:{ts.second:02d} GMT")
    return ts.strftime("%a, %d %b %Y %H:%M:%S GMT")


def etag(vid: int) -> str:
    """The weak ETag of a version (http://hl7.org/fhir/R4/http.html#versioning)."""
    return f'W/"{vid}"'


def next_version(
    resource_type: str, resource_id: str, resource: dict[str, Any] | None, previous: StoredVersion | None, method: str,
) -> NewVersion:
    """The version that follows ``previous``: ``resource`` stamped with id and meta, serialised
    and indexed; ``resource`` None makes a delete tombstone."""
    ts = utc_now()
    vid = previous.vid + 1 if previous else 1
    expected = previous.vid if previous else 0
    if resource is None:
        return NewVersion(resource_type, resource_id, vid, ts, None, {}, method, expected)
    stamped = stamp(resource, resource_id, vid, ts)
    return NewVersion(resource_type, resource_id, vid, ts, orjson.dumps(stamped), extract_index(stamped), method, expected)


def stamp(resource: dict[str, Any], resource_id: str, vid: int, ts: datetime) -> dict[str, Any]:
    """A copy of ``resource`` carrying ``id`` and the server's meta, with ``id`` and ``meta`` first."""
    meta = dict(resource.get("meta") or {})
    meta["versionId"] = str(vid)
    meta["lastUpdated"] = instant(ts)
    stamped = {"resourceType": resource["resourceType"], "id": resource_id, "meta": meta}
    stamped.update(resource)  # the other keys in the resource's order (in C); the first three keep their place ...
    stamped["id"] = resource_id  # ... and get their values back
    stamped["meta"] = meta
    return stamped

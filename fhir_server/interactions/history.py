"""history at instance, type and system level (http://hl7.org/fhir/R4/http.html#history).

Newest first, paged with ``_count``; ``_since`` and ``_at`` filter by time. Paging links carry
the time of the first page (``_before``) so later pages stay stable while new versions arrive.
"""

from __future__ import annotations

from datetime import datetime, timezone
from urllib.parse import urlencode

from dateutil import parser as date_parser

from fhir_server import errors
from fhir_server.context import RequestContext
from fhir_server.interactions.backend import Backend
from fhir_server.interactions.rendering import bundle_bytes, entry_bytes
from fhir_server.interactions.versioning import etag, instant
from fhir_server.search.normalize import date_range
from fhir_server.storage.repository import StoredVersion, utc_now

AT_SCAN_LIMIT = 10_000


def _instant_param(name: str, value: str) -> datetime:
    try:
        parsed = date_parser.isoparse(value)
    except ValueError:
        raise errors.bad_request(f"{name} must be a FHIR instant, got {value!r}", name) from None
    return parsed.astimezone(timezone.utc) if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def _count(value: str | None, default: int, maximum: int) -> int:
    if value is None:
        return default
    if not value.isdigit():
        raise errors.bad_request(f"_count must be a non-negative integer, got {value!r}", "_count")
    return min(int(value), maximum)


async def history(
    backend: Backend, ctx: RequestContext, query: list[tuple[str, str]],
    resource_type: str | None = None, resource_id: str | None = None,
) -> bytes:
    """A ``history`` Bundle for the given level; ``query`` holds _count, _since, _at, paging state."""
    params = dict(query)
    settings = backend.settings
    count = _count(params.get("_count"), settings.history_page_size, settings.max_page_size)
    offset = int(params["_offset"]) if params.get("_offset", "").isdigit() else 0
    before = _instant_param("_before", params["_before"]) if "_before" in params else utc_now()
    since = _instant_param("_since", params["_since"]) if "_since" in params else None
    if resource_type and resource_id and not await backend.repository.current(ctx, resource_type, resource_id):
        raise errors.not_found(f"{resource_type}/{resource_id} is not known")
    if "_at" in params:
        versions, total = await _current_at(backend, ctx, params["_at"], resource_type, resource_id, since, before, offset, count)
    else:
        versions, total = await backend.repository.history(
            ctx, resource_type=resource_type, resource_id=resource_id, since=since, before=before, skip=offset, limit=count
        )
    base = settings.base_url
    path = "/".join(p for p in (resource_type, resource_id, "_history") if p)
    kept = [(k, v) for k, v in query if k in ("_count", "_since", "_at")]

    def page(at_offset: int) -> str:
        state = [("_before", instant(before)), ("_offset", str(at_offset))]
        return f"{base}/{path}?{urlencode(kept + state)}"

    links = [("self", page(offset))]
    if offset + count < total:
        links.append(("next", page(offset + count)))
    if offset > 0:
        links.append(("previous", page(max(0, offset - count))))
    entries = [_history_entry(base, v) for v in versions]
    return bundle_bytes("history", entries, total=total, links=links)


async def _current_at(
    backend: Backend, ctx: RequestContext, at: str, resource_type: str | None, resource_id: str | None,
    since: datetime | None, before: datetime, offset: int, count: int,
) -> tuple[list[StoredVersion], int]:
    """``_at``: the versions that were current at some point during the period ``at`` denotes."""
    period = date_range(at)
    if period is None:
        raise errors.bad_request(f"_at must be a FHIR date or dateTime, got {at!r}", "_at")
    low, high = (moment.replace(tzinfo=timezone.utc) for moment in period)
    versions, total = await backend.repository.history(
        ctx, resource_type=resource_type, resource_id=resource_id, since=None, before=None, skip=0, limit=AT_SCAN_LIMIT
    )
    if total > AT_SCAN_LIMIT:
        raise errors.bad_request(f"_at scans at most {AT_SCAN_LIMIT} versions; narrow it to a type or an instance", "_at")
    newer: dict[tuple[str, str], datetime] = {}
    kept = []
    for version in versions:  # newest first, so each version's successor has been seen already
        key = (version.type, version.id)
        successor = newer.get(key)
        newer[key] = version.ts
        if version.ts <= min(high, before) and (successor is None or successor > low) and (since is None or version.ts >= since):
            kept.append(version)
    return kept[offset:offset + count], len(kept)


def _history_entry(base: str, version: StoredVersion) -> bytes:
    url = f"{version.type}/{version.id}"
    head = {"fullUrl": f"{base}/{url}"}
    if version.deleted:
        request = {"method": "DELETE", "url": url}
        response = {"status": "204", "etag": etag(version.vid), "lastModified": instant(version.ts)}
    else:
        method = version.method or "PUT"
        request = {"method": method, "url": url if method != "POST" else version.type}
        response = {"status": "201" if version.vid == 1 else "200", "etag": etag(version.vid),
                    "lastModified": instant(version.ts)}
    return entry_bytes(head, version.raw, {"request": request, "response": response})

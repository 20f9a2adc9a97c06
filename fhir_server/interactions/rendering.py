"""Bundles assembled from stored JSON bytes, without re-serialising the resources inside.

http://hl7.org/fhir/R4/bundle.html: each entry's ``resource`` is spliced in as the stored bytes,
so a page of results costs one small ``orjson.dumps`` per entry envelope plus concatenation.
"""

from __future__ import annotations

from typing import Any

import orjson

from fhir_server.storage.repository import StoredVersion


def entry_bytes(head: dict[str, Any], raw: bytes | None, tail: dict[str, Any] | None = None) -> bytes:
    """One ``Bundle.entry``: the ``head`` fields, then ``resource`` (if any), then the ``tail`` fields."""
    members = [orjson.dumps(head)[1:-1]] if head else []
    if raw is not None:
        members.append(b'"resource":' + raw)
    if tail:
        members.append(orjson.dumps(tail)[1:-1])
    return b"{" + b",".join(members) + b"}"


def bundle_bytes(bundle_type: str, entries: list[bytes], *, total: int | None = None,
                 links: list[tuple[str, str]] | None = None, extra: dict[str, Any] | None = None) -> bytes:
    """A Bundle of ``bundle_type`` around already-serialised ``entries``."""
    head: dict[str, Any] = {"resourceType": "Bundle", "type": bundle_type}
    if extra:
        head.update(extra)
    if total is not None:
        head["total"] = total
    if links:
        head["link"] = [{"relation": relation, "url": url} for relation, url in links]
    return orjson.dumps(head)[:-1] + b',"entry":[' + b",".join(entries) + b"]}" if entries else orjson.dumps(head)


def resource_url(base_url: str, version: StoredVersion) -> str:
    return f"{base_url}/{version.type}/{version.id}"

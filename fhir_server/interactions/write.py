"""create, update, patch and delete, plain and conditional (http://hl7.org/fhir/R4/http.html).

Every write is validated as R4 before anything is stored, is guarded by the version it replaces
(no lost updates: the loser of a race gets 409, or 412 when it sent If-Match), and conditional
writes hold a lock on their criteria so concurrent identical requests cannot create duplicates.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import orjson

from fhir_server import errors
from fhir_server.context import RequestContext
from fhir_server.interactions.backend import Backend
from fhir_server.interactions.patch import apply_patch
from fhir_server.interactions.read import read
from fhir_server.interactions.search import find_matches
from fhir_server.interactions.versioning import new_id, next_version
from fhir_server.storage.repository import LockBusy, StoredVersion, VersionConflict
from fhir_server.validation import validate_resource

Criteria = list[tuple[str, str]]


@dataclass(frozen=True)
class Written:
    """The outcome of a write: the version now current, and the HTTP status it earns."""

    stored: StoredVersion
    status: int


def check_body(resource_type: str, resource: Any, resource_id: str | None = None) -> dict[str, Any]:
    """The body must be a resource of the URL's type and, on update, carry the URL's id."""
    if not isinstance(resource, dict) or "resourceType" not in resource:
        raise errors.bad_request("The body must be a FHIR resource: a JSON object with a resourceType")
    if resource["resourceType"] != resource_type:
        raise errors.bad_request(
            f"The body is a {resource['resourceType']!s}, but the URL is for {resource_type}", f"{resource_type}"
        )
    if resource_id is not None and resource.get("id") != resource_id:
        raise errors.bad_request(
            f"The body's id ({resource.get('id')!r}) must equal the id in the URL ({resource_id!r})", f"{resource_type}.id"
        )
    return resource


async def create(
    backend: Backend, ctx: RequestContext, resource_type: str, resource: Any, if_none_exist: Criteria | None = None,
) -> Written:
    """create (http://hl7.org/fhir/R4/http.html#create); conditional with ``If-None-Exist``."""
    check_body(resource_type, resource)
    validate_resource(resource)
    if not if_none_exist:
        return await _store_new(backend, resource_type, new_id(), resource)
    async with _criteria_lock(backend, resource_type, if_none_exist):
        found = await _single_match(backend, ctx, resource_type, if_none_exist, "If-None-Exist")
        if found is not None:
            return Written(found, 200)
        return await _store_new(backend, resource_type, new_id(), resource)


async def update(
    backend: Backend, ctx: RequestContext, resource_type: str, resource_id: str, resource: Any, if_match: int | None = None,
) -> Written:
    """update, and update-as-create with a client id (http://hl7.org/fhir/R4/http.html#update)."""
    check_body(resource_type, resource, resource_id)
    validate_resource(resource)
    previous = await backend.repository.current(ctx, resource_type, resource_id)
    _check_if_match(previous, if_match)
    return await _store(backend, resource_type, resource_id, resource, previous, "PUT", if_match)


async def conditional_update(
    backend: Backend, ctx: RequestContext, resource_type: str, criteria: Criteria, resource: Any, if_match: int | None = None,
) -> Written:
    """``PUT [type]?criteria`` (http://hl7.org/fhir/R4/http.html#cond-update)."""
    check_body(resource_type, resource)
    validate_resource(resource)
    async with _criteria_lock(backend, resource_type, criteria):
        found = await _single_match(backend, ctx, resource_type, criteria, "conditional update")
        if found is None:
            if if_match is not None:
                raise errors.precondition_failed("If-Match was given but no resource matches the criteria")
            if "id" in resource:
                previous = await backend.repository.current(ctx, resource_type, resource["id"])
                return await _store(backend, resource_type, resource["id"], resource, previous, "PUT", None)
            return await _store_new(backend, resource_type, new_id(), resource)
        if resource.get("id", found.id) != found.id:
            raise errors.bad_request(
                f"The body's id {resource['id']!r} differs from the matching resource {found.id!r}", f"{resource_type}.id"
            )
        _check_if_match(found, if_match)
        return await _store(backend, resource_type, found.id, resource, found, "PUT", if_match)


async def patch(
    backend: Backend, ctx: RequestContext, resource_type: str, resource_id: str, content_type: str, body: bytes,
    if_match: int | None = None,
) -> Written:
    """patch (http://hl7.org/fhir/R4/http.html#patch): JSON Patch, merge patch or FHIRPath Patch."""
    previous = await read(backend, ctx, resource_type, resource_id)
    _check_if_match(previous, if_match)
    return await _patch_version(backend, previous, content_type, body, if_match)


async def conditional_patch(
    backend: Backend, ctx: RequestContext, resource_type: str, criteria: Criteria, content_type: str, body: bytes,
    if_match: int | None = None,
) -> Written:
    """``PATCH [type]?criteria``: exactly one match is patched; none is 404, several 412."""
    found = await _single_match(backend, ctx, resource_type, criteria, "conditional patch")
    if found is None:
        raise errors.not_found(f"No {resource_type} matches the patch criteria")
    _check_if_match(found, if_match)
    return await _patch_version(backend, found, content_type, body, if_match)


async def _patch_version(backend: Backend, previous: StoredVersion, content_type: str, body: bytes, if_match: int | None) -> Written:
    current = orjson.loads(previous.raw)
    patched = apply_patch(current, content_type, body)
    if patched.get("resourceType") != previous.type or patched.get("id") != previous.id:
        raise errors.unprocessable("A patch must not change resourceType or id", f"{previous.type}.id")
    validate_resource(patched)
    return await _store(backend, previous.type, previous.id, patched, previous, "PATCH", if_match)


async def delete(backend: Backend, ctx: RequestContext, resource_type: str, resource_id: str) -> StoredVersion | None:
    """delete (http://hl7.org/fhir/R4/http.html#delete): writes a tombstone version; idempotent."""
    previous = await backend.repository.current(ctx, resource_type, resource_id)
    if previous is None or previous.deleted:
        return None
    return await _tombstone(backend, previous)


async def conditional_delete(
    backend: Backend, ctx: RequestContext, resource_type: str, criteria: Criteria, limit: int = 1000,
) -> list[StoredVersion]:
    """``DELETE [type]?criteria``: deletes every match (conditionalDelete = multiple), up to ``limit``."""
    matches = await find_matches(backend, ctx, resource_type, criteria, limit + 1)
    if len(matches) > limit:
        raise errors.precondition_failed(f"More than {limit} {resource_type} resources match; narrow the criteria")
    return [await _tombstone(backend, found) for found in matches]


async def _tombstone(backend: Backend, previous: StoredVersion) -> StoredVersion:
    version, _ = next_version(previous.type, previous.id, None, previous, "DELETE")
    await _save(backend, version, None)
    return StoredVersion(version.type, version.id, version.vid, version.ts, True, None, "DELETE")


async def _store_new(backend: Backend, resource_type: str, resource_id: str, resource: dict[str, Any]) -> Written:
    return await _store(backend, resource_type, resource_id, resource, None, "POST", None)


async def _store(
    backend: Backend, resource_type: str, resource_id: str, resource: dict[str, Any], previous: StoredVersion | None,
    method: str, if_match: int | None,
) -> Written:
    version, _ = next_version(resource_type, resource_id, resource, previous, method)
    await _save(backend, version, if_match)
    created = previous is None or previous.deleted
    stored = StoredVersion(resource_type, resource_id, version.vid, version.ts, False, version.raw, method)
    return Written(stored, 201 if created else 200)


async def _save(backend: Backend, version: Any, if_match: int | None) -> None:
    try:
        await backend.repository.save(version)
    except VersionConflict as conflict:
        if if_match is not None:
            raise errors.precondition_failed(f"{conflict}; re-read and retry") from None
        raise errors.conflict(f"{conflict}: another request changed it concurrently; re-read and retry") from None


def _check_if_match(previous: StoredVersion | None, if_match: int | None) -> None:
    """If-Match must name the current version (http://hl7.org/fhir/R4/http.html#concurrency)."""
    if if_match is None:
        return
    if previous is None or previous.deleted or previous.vid != if_match:
        current = "none" if previous is None or previous.deleted else str(previous.vid)
        raise errors.precondition_failed(f"If-Match expects version {if_match}, but the current version is {current}")


async def _single_match(
    backend: Backend, ctx: RequestContext, resource_type: str, criteria: Criteria, what: str,
) -> StoredVersion | None:
    if not criteria:
        raise errors.bad_request(f"A {what} needs search criteria")
    matches = await find_matches(backend, ctx, resource_type, criteria, 2)
    if len(matches) > 1:
        raise errors.precondition_failed(f"The {what} criteria match more than one {resource_type}")
    return matches[0] if matches else None


@contextlib.asynccontextmanager
async def _criteria_lock(backend: Backend, resource_type: str, criteria: Criteria) -> AsyncIterator[None]:
    """Serialise writes that share the same conditional criteria (race-free conditional create)."""
    canonical = f"{resource_type}?{urlencode(sorted(criteria))}"
    key = "cond:" + hashlib.sha256(canonical.encode()).hexdigest()
    try:
        async with backend.repository.lock(key, hold_seconds=backend.settings.conditional_lock_seconds):
            yield
    except LockBusy:
        raise errors.conflict("Another request with the same conditions is still in progress; retry") from None

"""create, update, patch and delete, plain and conditional (http://hl7.org/fhir/R4/http.html).

Every write is planned (:mod:`fhir_server.interactions.plans`: validated as R4 and its next
version worked out) and then committed, guarded by the version it replaces (no lost updates: the
loser of a race gets 409, or 412 when it sent If-Match). Conditional writes hold a lock on their
criteria so concurrent identical requests cannot create duplicates.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterable

from fhir_server import errors
from fhir_server.context import RequestContext
from fhir_server.interactions.backend import Backend
from fhir_server.interactions.plans import (
    Criteria, Planned, Written, check_body, check_if_match, commit, criteria_key, patched, plan_checked, plan_delete,
    plan_version, plan_write,
)
from fhir_server.interactions.read import read
from fhir_server.interactions.search import find_matches
from fhir_server.interactions.versioning import new_id
from fhir_server.storage.repository import LockBusy, StoredVersion
from fhir_server.validation import validate_resource

__all__ = [
    "Criteria", "Written", "check_body", "conditional_delete", "conditional_patch", "conditional_update", "create",
    "criteria_lock", "delete", "patch", "single_match", "update",
]


async def create(
    backend: Backend, ctx: RequestContext, resource_type: str, resource: object, if_none_exist: Criteria | None = None,
) -> Written:
    """create (http://hl7.org/fhir/R4/http.html#create); conditional with ``If-None-Exist``."""
    body = check_body(resource_type, resource)
    validate_resource(body)
    if not if_none_exist:
        return await commit(backend, plan_version(resource_type, new_id(), body, None, "POST"))
    async with criteria_lock(backend, [(resource_type, if_none_exist)]):
        found = await single_match(backend, ctx, resource_type, if_none_exist, "If-None-Exist")
        if found is not None:
            return Written(found, 200)
        return await commit(backend, plan_version(resource_type, new_id(), body, None, "POST"))


async def update(
    backend: Backend, ctx: RequestContext, resource_type: str, resource_id: str, resource: object, if_match: int | None = None,
) -> Written:
    """update, and update-as-create with a client id (http://hl7.org/fhir/R4/http.html#update)."""
    body = check_body(resource_type, resource, resource_id)
    previous = await backend.repository.current(ctx, resource_type, resource_id)
    return await commit(backend, plan_write(resource_type, resource_id, body, previous, "PUT", if_match))


async def conditional_update(
    backend: Backend, ctx: RequestContext, resource_type: str, criteria: Criteria, resource: object, if_match: int | None = None,
) -> Written:
    """``PUT [type]?criteria`` (http://hl7.org/fhir/R4/http.html#cond-update)."""
    body = check_body(resource_type, resource)
    validate_resource(body)
    async with criteria_lock(backend, [(resource_type, criteria)]):
        found = await single_match(backend, ctx, resource_type, criteria, "conditional update")
        return await commit(backend, await plan_conditional_update(backend, ctx, resource_type, body, found, if_match))


async def plan_conditional_update(
    backend: Backend, ctx: RequestContext, resource_type: str, body: dict, found: StoredVersion | None,
    if_match: int | None, new_resource_id: str | None = None,
) -> Planned:
    """The plan of a conditional update (``body`` validated) once its criteria found ``found`` or nothing."""
    if found is None:
        if if_match is not None:
            raise errors.precondition_failed("If-Match was given but no resource matches the criteria")
        if "id" in body:
            previous = await backend.repository.current(ctx, resource_type, body["id"])
            return plan_checked(resource_type, body["id"], body, previous, "PUT")
        return plan_checked(resource_type, new_resource_id or new_id(), body, None, "PUT")
    check_conditional_id(resource_type, body, found)
    return plan_checked(resource_type, found.id, body, found, "PUT", if_match)


def check_conditional_id(resource_type: str, body: dict, found: StoredVersion) -> None:
    """A conditional update's body may omit the id, but must not name another resource."""
    if body.get("id", found.id) != found.id:
        raise errors.bad_request(
            f"The body's id {body['id']!r} differs from the matching resource {found.id!r}", f"{resource_type}.id"
        )


async def patch(
    backend: Backend, ctx: RequestContext, resource_type: str, resource_id: str, content_type: str, body: bytes,
    if_match: int | None = None,
) -> Written:
    """patch (http://hl7.org/fhir/R4/http.html#patch): JSON Patch, merge patch or FHIRPath Patch."""
    previous = await read(backend, ctx, resource_type, resource_id)
    return await commit(backend, plan_patch(previous, content_type, body, if_match))


async def conditional_patch(
    backend: Backend, ctx: RequestContext, resource_type: str, criteria: Criteria, content_type: str, body: bytes,
    if_match: int | None = None,
) -> Written:
    """``PATCH [type]?criteria``: exactly one match is patched; none is 404, several 412."""
    found = await single_match(backend, ctx, resource_type, criteria, "conditional patch")
    if found is None:
        raise errors.not_found(f"No {resource_type} matches the patch criteria")
    return await commit(backend, plan_patch(found, content_type, body, if_match))


def plan_patch(previous: StoredVersion, content_type: str, body: bytes, if_match: int | None) -> Planned:
    check_if_match(previous, if_match)
    return plan_write(previous.type, previous.id, patched(previous, content_type, body), previous, "PATCH", if_match)


async def delete(backend: Backend, ctx: RequestContext, resource_type: str, resource_id: str) -> StoredVersion | None:
    """delete (http://hl7.org/fhir/R4/http.html#delete): writes a tombstone version; idempotent."""
    planned = plan_delete(await backend.repository.current(ctx, resource_type, resource_id))
    return None if planned is None else (await commit(backend, planned)).stored


async def conditional_delete(
    backend: Backend, ctx: RequestContext, resource_type: str, criteria: Criteria, limit: int = 1000,
) -> list[StoredVersion]:
    """``DELETE [type]?criteria``: deletes every match (conditionalDelete = multiple), up to ``limit``."""
    matches = await delete_matches(backend, ctx, resource_type, criteria, limit)
    deleted = []
    for found in matches:
        planned = plan_delete(found)
        if planned is not None:
            deleted.append((await commit(backend, planned)).stored)
    return deleted


async def delete_matches(
    backend: Backend, ctx: RequestContext, resource_type: str, criteria: Criteria, limit: int = 1000,
) -> list[StoredVersion]:
    """The resources a conditional delete removes; more than ``limit`` is 412."""
    matches = await find_matches(backend, ctx, resource_type, criteria, limit + 1)
    if len(matches) > limit:
        raise errors.precondition_failed(f"More than {limit} {resource_type} resources match; narrow the criteria")
    return matches


async def single_match(
    backend: Backend, ctx: RequestContext, resource_type: str, criteria: Criteria, what: str,
    ignore: Iterable[tuple[str, str]] = (),
) -> StoredVersion | None:
    """The one resource ``criteria`` match (None if none); several are 412. ``ignore``: (type, id) to skip."""
    if not criteria:
        raise errors.bad_request(f"A {what} needs search criteria")
    skipped = {i for t, i in ignore if t == resource_type}
    matches = [m for m in await find_matches(backend, ctx, resource_type, criteria, 2 + len(skipped)) if m.id not in skipped]
    if len(matches) > 1:
        raise errors.precondition_failed(f"The {what} criteria match more than one {resource_type}")
    return matches[0] if matches else None


@contextlib.asynccontextmanager
async def criteria_lock(backend: Backend, conditions: list[tuple[str, Criteria]]) -> AsyncIterator[None]:
    """Serialise writes that share conditional criteria (race-free conditional create and update)."""
    keys = [criteria_key(resource_type, criteria) for resource_type, criteria in conditions]
    try:
        async with backend.repository.lock_many(keys, hold_seconds=backend.settings.conditional_lock_seconds):
            yield
    except LockBusy:
        raise errors.conflict("Another request with the same conditions is still in progress; retry") from None

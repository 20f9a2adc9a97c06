"""The plan step of every write: check, validate and work out the next version without storing it.

http://hl7.org/fhir/R4/http.html: a write is planned (body checks, R4 validation, ``If-Match``,
the new version with its stamped JSON and search index) and then committed. A single interaction
commits its one plan (:func:`commit`); a transaction plans every entry first and commits all of
them in one unit of work (``Repository.apply``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import orjson

from fhir_server import errors
from fhir_server.interactions.backend import Backend
from fhir_server.interactions import search_parameter_sync
from fhir_server.interactions.patch import apply_patch
from fhir_server.interactions.versioning import next_version
from fhir_server.storage.repository import Applied, NewVersion, StoredVersion, VersionConflict
from fhir_server.validation import validate_resource

Criteria = list[tuple[str, str]]


@dataclass(slots=True)
class Written:
    """The outcome of a write: the version now current, and the HTTP status it earns."""

    stored: StoredVersion
    status: int


@dataclass(slots=True)
class Planned:
    """A write worked out but not stored: ``version`` None means there is nothing to store.
    Values, like ``StoredVersion`` (and not frozen for the same reason)."""

    stored: StoredVersion
    status: int
    version: NewVersion | None = None
    if_match: int | None = None

    @property
    def written(self) -> Written:
        return Written(self.stored, self.status)


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


def check_if_match(previous: StoredVersion | None, if_match: int | None) -> None:
    """If-Match must name the current version (http://hl7.org/fhir/R4/http.html#concurrency)."""
    if if_match is None:
        return
    if previous is None or previous.deleted or previous.vid != if_match:
        current = "none" if previous is None or previous.deleted else str(previous.vid)
        raise errors.precondition_failed(f"If-Match expects version {if_match}, but the current version is {current}")


def plan_version(
    resource_type: str, resource_id: str, resource: dict[str, Any], previous: StoredVersion | None, method: str,
    if_match: int | None = None,
) -> Planned:
    """The version of a validated ``resource`` that follows ``previous`` (201 if it creates, else 200)."""
    if resource_type == search_parameter_sync.TYPE:
        search_parameter_sync.check(resource)
    version = next_version(resource_type, resource_id, resource, previous, method)
    stored = StoredVersion(resource_type, resource_id, version.vid, version.ts, False, version.raw, method)
    created = previous is None or previous.deleted
    return Planned(stored, 201 if created else 200, version, if_match)


def plan_write(
    resource_type: str, resource_id: str, resource: dict[str, Any], previous: StoredVersion | None, method: str,
    if_match: int | None = None,
) -> Planned:
    """Validate ``resource`` as R4, check ``If-Match`` against ``previous``, and plan its next version."""
    validate_resource(resource)
    return plan_checked(resource_type, resource_id, resource, previous, method, if_match)


def plan_checked(
    resource_type: str, resource_id: str, resource: dict[str, Any], previous: StoredVersion | None, method: str,
    if_match: int | None = None,
) -> Planned:
    """:func:`plan_write` for a ``resource`` already validated."""
    check_if_match(previous, if_match)
    return plan_version(resource_type, resource_id, resource, previous, method, if_match)


def plan_delete(previous: StoredVersion | None) -> Planned | None:
    """The tombstone that deletes ``previous``; None when there is nothing to delete (idempotent)."""
    if previous is None or previous.deleted:
        return None
    version = next_version(previous.type, previous.id, None, previous, "DELETE")
    stored = StoredVersion(version.type, version.id, version.vid, version.ts, True, None, "DELETE")
    return Planned(stored, 204, version)


def patched(previous: StoredVersion, content_type: str, body: bytes) -> dict[str, Any]:
    """``previous`` with the patch applied (http://hl7.org/fhir/R4/http.html#patch); type and id kept."""
    result = apply_patch(orjson.loads(previous.raw or b"{}"), content_type, body)
    if result.get("resourceType") != previous.type or result.get("id") != previous.id:
        raise errors.unprocessable("A patch must not change resourceType or id", f"{previous.type}.id")
    return result


async def commit(backend: Backend, planned: Planned) -> Written:
    """Store one planned version (guarded by the version it replaces)."""
    if planned.version is not None:
        try:
            await backend.repository.save(planned.version)
        except VersionConflict as conflict:
            raise conflict_error(conflict, planned.if_match is not None) from None
        search_parameter_sync.on_versions([planned.version])
    return planned.written


async def store_all(backend: Backend, versions: list[NewVersion], record: dict[str, Any] | None = None) -> Applied:
    """Store ``versions`` in one all-or-nothing unit of work (``Repository.apply``), with ``record``
    (an identified transaction's, :mod:`~fhir_server.interactions.replay`) when given."""
    applied = await backend.repository.apply(versions, record)
    search_parameter_sync.on_versions(versions)
    return applied


def conflict_error(conflict: VersionConflict, had_if_match: bool) -> errors.FhirError:
    """A lost race: 412 when the client sent If-Match, else 409 (http://hl7.org/fhir/R4/http.html#concurrency)."""
    if had_if_match:
        return errors.precondition_failed(f"{conflict}; re-read and retry")
    return errors.conflict(f"{conflict}: another request changed it concurrently; re-read and retry")


def criteria_key(resource_type: str, criteria: Criteria) -> str:
    """The lock key of a conditional write's criteria (same criteria, same key, in any order)."""
    canonical = f"{resource_type}?{urlencode(sorted(criteria))}"
    return "cond:" + hashlib.sha256(canonical.encode()).hexdigest()

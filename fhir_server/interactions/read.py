"""read and vread (http://hl7.org/fhir/R4/http.html#read, #vread)."""

from __future__ import annotations

from fhir_server import errors
from fhir_server.context import RequestContext
from fhir_server.interactions.backend import Backend
from fhir_server.storage.repository import StoredVersion


async def read(backend: Backend, ctx: RequestContext, resource_type: str, resource_id: str) -> StoredVersion:
    """The current version; 404 if it never existed (or is not visible), 410 if deleted."""
    found = await backend.repository.current(ctx, resource_type, resource_id)
    if found is None:
        raise errors.not_found(f"{resource_type}/{resource_id} is not known")
    if found.deleted:
        raise _gone(found)
    return found


async def vread(backend: Backend, ctx: RequestContext, resource_type: str, resource_id: str, vid: str) -> StoredVersion:
    """One version by its versionId; a deleted version answers 410."""
    if not vid.isdigit():
        raise errors.not_found(f"{resource_type}/{resource_id} has no version {vid!r}")
    found = await backend.repository.version(ctx, resource_type, resource_id, int(vid))
    if found is None:
        raise errors.not_found(f"{resource_type}/{resource_id} has no version {vid}")
    if found.deleted:
        raise _gone(found)
    return found


def _gone(version: StoredVersion) -> errors.FhirError:
    error = errors.gone(f"{version.type}/{version.id} was deleted (version {version.vid})")
    error.headers["ETag"] = f'W/"{version.vid}"'
    return error

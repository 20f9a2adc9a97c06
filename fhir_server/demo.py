"""Loading the demo data (``seed_data/``) through the server's own write path."""

from __future__ import annotations

import datetime
import logging

from fhir_server.api.router import dispatch
from fhir_server.config import Settings
from fhir_server.context import RequestContext
from fhir_server.interactions.backend import Backend
from fhir_server.interactions.messages import FhirRequest
from fhir_server.seed import seed_bundles
from fhir_server.storage.repository import Repository

log = logging.getLogger("fhir_server.demo")


async def seed_store(repository: Repository, settings: Settings) -> int:
    """Post every seed transaction Bundle to the server; returns the number of resources written."""
    await repository.ensure_indexes()
    backend = Backend(repository, settings)
    ctx = RequestContext(base_url=settings.base_url)
    written = 0
    for bundle in seed_bundles(datetime.date.today()):
        response = await dispatch(backend, ctx, FhirRequest("POST", "", resource=bundle))
        if response.status != 200:
            raise RuntimeError(f"seeding failed with {response.status}: {response.body!r}")
        written += len(bundle.get("entry", []))
    log.info("seeded %d resources", written)
    return written

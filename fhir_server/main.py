"""The application factory: the lifespan opens the store and creates indexes; one route serves FHIR."""

from __future__ import annotations

import contextlib
import gc
import os
from collections.abc import AsyncIterator
from urllib.parse import urlparse

from fastapi import FastAPI

from fhir_server.api.http import handle
from fhir_server.config import Settings
from fhir_server.interactions.backend import Backend
from fhir_server.operations import export_job, reindex
from fhir_server.interactions.search_parameter_sync import load_custom
from fhir_server.search.index_keys import INDEX_KEYS
from fhir_server.storage.embedded import open_embedded
from fhir_server.storage.repository import Repository
from fhir_server.storage.snapshots import ensure_snapshot_indexes
from fhir_server.validation import load as load_validation_tables

METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]


async def open_repository(settings: Settings) -> tuple[Repository, object | None]:
    """The repository on the configured store: real MongoDB with a URI, else the embedded engine."""
    if settings.embedded:
        return Repository(open_embedded(settings.database), INDEX_KEYS), None
    from fhir_server.storage.mongo import open_mongo

    client, database, transactions = await open_mongo(settings.mongodb_uri or "", settings.database)
    return Repository(database, INDEX_KEYS, supports_transactions=transactions, client=client), client


async def stop_background_jobs(repository: Repository) -> None:
    """Cancel and await this process's ``$export`` and ``$reindex`` tasks (before the store closes)."""
    await export_job.stop_all(repository)
    await reindex.stop_all(repository)


class FreezeSurvivors:
    """GC callback: after each full collection, move its survivors out of the collector's way.

    CPython's full collection re-examines every container object of the heap; with the embedded
    store (every document kept as Python dicts and lists) that heap only grows, so each full
    collection costs more than the last while finding almost nothing. The survivors of a full
    collection are, by definition, the live heap at that moment: freezing them
    (``gc.freeze()``, from this ``gc.callbacks`` hook, when the collection has finished) makes
    the next full collection examine only what has survived since. Frozen objects are still
    freed by reference counting; what freezing can keep alive is a reference *cycle* that was
    reachable when frozen and became garbage later. So when the frozen heap has grown ``growth``
    times since the last complete look, it is unfrozen, and the next full collection examines
    (and reclaims) everything once before freezing the survivors again. Work of full
    collections: about ``growth / (growth - 1)`` examinations per long-lived object instead of one
    per full collection; cyclic garbage kept: at most what grew in between.
    """

    def __init__(self, growth: float = 2.0) -> None:
        self.growth = growth
        self.baseline = max(gc.get_freeze_count(), 1)

    def __call__(self, phase: str, info: dict) -> None:
        if phase != "stop" or info.get("generation") != 2:
            return
        frozen = gc.get_freeze_count()
        if frozen > self.growth * self.baseline:
            gc.unfreeze()  # the next full collection looks at the whole heap once more
            return
        gc.freeze()
        if frozen == 0:  # this collection looked at the whole heap: measure growth from here
            self.baseline = max(gc.get_freeze_count(), 1)


def settle_heap() -> None:
    """Load the R4 registries now and set the served process's garbage-collection policy.

    The registries are large, long-lived dict graphs: collected once and frozen, the collector
    never re-scans them. A first-generation threshold of 100,000 (CPython's default is 700) and
    20/20 for the older generations collect less often while a request's working set (a parsed
    Bundle, its resources and index entries: hundreds of thousands of containers, all alive until
    the response) is being built, so it is not examined again and again while it cannot be
    garbage (ingesting 40 Synthea Bundles in-process: 12-22 µs of collections per resource at
    this threshold, 28-37 µs at 20,000). Full collections freeze their survivors
    (:class:`FreezeSurvivors`), so the stored documents of the embedded engine are examined about
    twice in all rather than at every full collection. Only for a served process, which lives
    long: tests, which create many apps in one process, keep CPython's defaults (nothing here runs
    unless ``tune_gc``).
    """
    load_validation_tables()
    gc.collect()
    gc.freeze()
    gc.set_threshold(100_000, 20, 20)
    if not any(isinstance(callback, FreezeSurvivors) for callback in gc.callbacks):
        gc.callbacks.append(FreezeSurvivors())


def create_app(
    settings: Settings | None = None, repository: Repository | None = None, seed: bool = False, tune_gc: bool = False,
) -> FastAPI:
    """A FastAPI app serving FHIR under the path of ``settings.base_url``.

    ``seed`` loads the demo data at start-up; ``tune_gc`` settles the heap (see :func:`settle_heap`).
    """
    settings = settings or Settings.from_env()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        client = None
        repo = repository
        if repo is None:
            repo, client = await open_repository(settings)
        await repo.ensure_indexes()
        await ensure_snapshot_indexes(repo)
        app.state.backend = Backend(repo, settings)
        await load_custom(app.state.backend)
        if seed:
            from fhir_server.demo import seed_store

            await seed_store(repo, settings)
        if tune_gc:
            settle_heap()
        try:
            yield
        finally:
            await stop_background_jobs(repo)
            if client is not None:
                await client.close()

    app = FastAPI(title="FHIR R4 server", lifespan=lifespan, openapi_url=None, docs_url=None, redoc_url=None)
    prefix = urlparse(settings.base_url).path.rstrip("/")
    app.add_route(prefix + "/{path:path}", handle, methods=METHODS)
    if prefix:
        app.add_route(prefix, handle, methods=METHODS)
    return app


def app_from_env() -> FastAPI:
    """The app as ``fhir-server serve`` runs it (uvicorn factory): settings from the environment."""
    return create_app(Settings.from_env(), seed=os.environ.get("FHIR_SEED_ON_START") == "1", tune_gc=True)

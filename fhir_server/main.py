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


def settle_heap() -> None:
    """Load the R4 registries now and move everything start-up built out of the cyclic GC's way.

    The registries are large, long-lived dict graphs; frozen, the collector stops re-scanning them
    on every full collection, and a higher first-generation threshold collects less often while
    requests allocate many short-lived dicts. Only for a served process, which lives long.
    """
    load_validation_tables()
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 20, 20)


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

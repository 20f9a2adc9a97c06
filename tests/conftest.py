"""Shared fixtures: the ASGI app on a fresh store, an HTTP client, the official R4 examples.

Every test runs against the embedded engine, or against the real MongoDB named by
``FHIR_TEST_MONGODB_URI`` (each test then gets its own database, dropped afterwards). On the
embedded engine every document handed over in stored form is checked to be in that form.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import bson
import httpx
import orjson
import pytest

from fhir_server.config import Settings
from fhir_server.interactions import search_parameter_sync
from fhir_server.main import create_app, stop_background_jobs
from fhir_server.spec.official_package import package_dir
from fhir_server.storage import embedded

BASE = "http://test/fhir"
embedded.CHECK_STORED_FORM = True
MONGODB_URI = os.environ.get("FHIR_TEST_MONGODB_URI")


def test_settings(**overrides: Any) -> Settings:
    settings = Settings(base_url=BASE)
    if MONGODB_URI:
        settings = replace(settings, mongodb_uri=MONGODB_URI, database=f"fhir_test_{uuid.uuid4().hex[:12]}")
    return replace(settings, **overrides)


@pytest.fixture
def settings() -> Settings:
    return test_settings()


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[Any]:
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application
        if MONGODB_URI:
            repository = application.state.backend.repository
            await stop_background_jobs(repository)
            await repository.client.drop_database(settings.database)


@pytest.fixture
async def client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as http:
        yield http


@pytest.fixture
def sync():
    """Forget the custom SearchParameters a test registered (the registry is process-wide)."""
    yield
    search_parameter_sync.reset()


@pytest.fixture(scope="session")
def r4_package() -> Path:
    found = package_dir()
    if found is None:
        pytest.skip("the official R4 package hl7.fhir.r4.examples@4.0.1 cannot be fetched (no npm or no registry)")
    return found


@pytest.fixture(scope="session")
def example(r4_package: Path):
    """Load an official example by file stem, e.g. ``example("Patient-example")``."""

    def load(stem: str) -> dict[str, Any]:
        return orjson.loads((r4_package / f"{stem}.json").read_bytes())

    return load


def without_meta(resource: dict[str, Any]) -> dict[str, Any]:
    """``resource`` without the server-managed ``meta.versionId``/``lastUpdated`` (and an emptied meta)."""
    copy = dict(resource)
    meta = {k: v for k, v in (copy.get("meta") or {}).items() if k not in ("versionId", "lastUpdated")}
    if meta:
        copy["meta"] = meta
    else:
        copy.pop("meta", None)
    return copy


async def snapshot(db: Any) -> dict[str, list[bytes]]:
    """Every document of every collection of ``db``, as BSON, in ``_id`` order: equal snapshots
    mean a byte-for-byte unchanged database."""
    found = {}
    for name in sorted(await db.list_collection_names()):
        documents = await db[name].find({}).sort("_id", 1).to_list(None)
        if documents:
            found[name] = [bson.encode(doc) for doc in documents]
    return found

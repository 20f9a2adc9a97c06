"""Helpers for the search tests that go through the ASGI app (tests/api/test_search_*.py).

``serving(resources)`` runs one app on a fresh store loaded with ``resources`` (PUT with their
ids) for a whole test module; ``matches``/``shape`` reduce a searchset Bundle to what the tests
compare: the ids in order with their search modes, the total and the links.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx

from fhir_server.main import create_app, stop_background_jobs
from tests.conftest import BASE, MONGODB_URI, test_settings

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"


@contextlib.asynccontextmanager
async def serving(resources: list[dict[str, Any]], **settings: Any) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client on an app whose store holds ``resources``."""
    config = test_settings(**settings)
    application = create_app(config)
    async with application.router.lifespan_context(application):
        try:
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=application), base_url=BASE) as http:
                await put_all(http, resources)
                yield http
        finally:
            if MONGODB_URI:
                repository = application.state.backend.repository
                await stop_background_jobs(repository)
                await repository.client.drop_database(config.database)


async def put_all(client: httpx.AsyncClient, resources: list[dict[str, Any]]) -> None:
    for resource in resources:
        response = await client.put(f"/{resource['resourceType']}/{resource['id']}", json=resource)
        assert response.status_code in (200, 201), response.text


async def get_bundle(client: httpx.AsyncClient, url: str, **kwargs: Any) -> dict[str, Any]:
    response = await client.get(url, **kwargs)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["resourceType"] == "Bundle" and body["type"] == "searchset", body
    return body


def matches(bundle: dict[str, Any]) -> list[str]:
    """``Type/id`` of the ``match`` entries, in order."""
    return [_ref(e) for e in bundle.get("entry", []) if e["search"]["mode"] == "match"]


def shape(bundle: dict[str, Any]) -> dict[str, Any]:
    """The Bundle without the resources: total, links, and (mode, Type/id) per entry in order."""
    out: dict[str, Any] = {"total": bundle.get("total")}
    out["link"] = [(link["relation"], link["url"]) for link in bundle.get("link", [])]
    out["entry"] = [(e["search"]["mode"], _ref(e)) for e in bundle.get("entry", [])]
    return out


def _ref(entry: dict[str, Any]) -> str:
    if "resource" not in entry or "fullUrl" not in entry:
        return entry["resource"]["resourceType"]
    assert entry["fullUrl"] == f"{BASE}/{entry['resource']['resourceType']}/{entry['resource']['id']}"
    return f"{entry['resource']['resourceType']}/{entry['resource']['id']}"


async def read_all(client: httpx.AsyncClient, refs: list[str]) -> dict[str, dict[str, Any]]:
    """The current resources named by ``refs`` (``Type/id``), read through the API."""
    out = {}
    for ref in refs:
        response = await client.get(f"/{ref}")
        assert response.status_code == 200, response.text
        out[ref] = response.json()
    return out


async def expected_bundle(
    client: httpx.AsyncClient, entries: list[tuple[str, str]], *, total: int | None, links: list[tuple[str, str]],
) -> dict[str, Any]:
    """The whole searchset Bundle expected for ``entries`` ((mode, Type/id) in order), reading
    each resource through the API."""
    resources = await read_all(client, [ref for _, ref in entries])
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset"}
    if total is not None:
        bundle["total"] = total
    bundle["link"] = [{"relation": rel, "url": url} for rel, url in links]
    if entries:
        bundle["entry"] = [
            {"fullUrl": f"{BASE}/{ref}", "resource": resources[ref], "search": {"mode": mode}} for mode, ref in entries
        ]
    return bundle


def outcome(code: str, diagnostics: str, severity: str = "error") -> dict[str, Any]:
    return {"resourceType": "OperationOutcome", "issue": [{"severity": severity, "code": code, "diagnostics": diagnostics}]}


def coding(system: str, code: str, display: str | None = None) -> dict[str, Any]:
    c = {"system": system, "code": code}
    if display:
        c["display"] = display
    return c


def concept(system: str, code: str, display: str | None = None) -> dict[str, Any]:
    return {"coding": [coding(system, code, display)]}


def quantity(value: float, code: str, unit: str | None = None) -> dict[str, Any]:
    return {"value": value, "unit": unit or code, "system": UCUM, "code": code}



"""Where Bundles go: in-process through the router, or over HTTP to a running server.

Both answer ``(status, body)`` for ``POST [base]`` with a Bundle (http://hl7.org/fhir/R4/http.html#transaction).
``name`` identifies the destination in the journal, so a file loaded into one server is not
skipped when loading into another.
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

import orjson

from fhir_server.api.router import dispatch
from fhir_server.context import RequestContext
from fhir_server.errors import FhirError
from fhir_server.interactions.backend import Backend
from fhir_server.interactions.messages import FhirRequest

_HEADERS = {"content-type": "application/fhir+json", "accept": "application/fhir+json", "prefer": "return=minimal"}


class TargetUnavailable(Exception):
    """The destination cannot be reached at all: the run stops (nothing was sent)."""


class TargetError(Exception):
    """A request whose outcome is unknown (connection lost, timeout): it is posted again next run."""


class Target(Protocol):
    name: str

    async def post(self, bundle: dict[str, Any]) -> tuple[int, Any]: ...

    async def close(self) -> None: ...


class InProcessTarget:
    """Posts through :func:`~fhir_server.api.router.dispatch`, exactly as the HTTP layer would."""

    def __init__(self, backend: Backend, name: str) -> None:
        self.backend = backend
        self.name = name
        self.ctx = RequestContext(base_url=backend.settings.base_url)

    async def post(self, bundle: dict[str, Any]) -> tuple[int, Any]:
        request = FhirRequest("POST", "", headers=dict(_HEADERS), resource=bundle)
        try:
            response = await dispatch(self.backend, self.ctx, request)
        except FhirError as error:
            return error.status, error.outcome()
        return response.status, response.body

    async def close(self) -> None:
        return None


class HttpTarget:
    """Posts to ``url`` (the server's base) with httpx; retries only what surely was not processed."""

    def __init__(self, url: str, *, transport: Any = None, retries: int = 3, timeout: float = 600.0) -> None:
        import httpx

        self.url = url.rstrip("/")
        self.name = public_url(self.url)
        self.retries = retries
        self._httpx = httpx
        self.client = httpx.AsyncClient(transport=transport, timeout=httpx.Timeout(timeout, connect=10.0), headers=_HEADERS)

    async def post(self, bundle: dict[str, Any]) -> tuple[int, Any]:
        body = orjson.dumps(bundle)
        httpx = self._httpx
        for attempt in range(self.retries + 1):
            try:
                response = await self.client.post(self.url, content=body)
            except (httpx.ConnectError, httpx.ConnectTimeout) as error:  # nothing was sent: safe to retry
                if attempt == self.retries:
                    raise TargetUnavailable(f"cannot connect to {self.name}: {error}") from error
                await asyncio.sleep(2**attempt)
                continue
            except httpx.HTTPError as error:  # sent, outcome unknown
                raise TargetError(f"{type(error).__name__}: {error}") from error
            if response.status_code in (429, 503) and attempt < self.retries:  # refused before processing
                await asyncio.sleep(_retry_after(response.headers.get("retry-after"), 2**attempt))
                continue
            return response.status_code, response.content
        raise AssertionError("unreachable")

    async def close(self) -> None:
        await self.client.aclose()


def public_url(url: str) -> str:
    """``url`` without user and password (it is printed and written to the journal)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def _retry_after(header: str | None, default: float) -> float:
    return float(header) if header and header.isdigit() else default

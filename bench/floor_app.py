"""The HTTP floor: a bare FastAPI app answering ``GET /fhir/Patient/{id}`` with pre-serialised bytes.

Run by ``bench_http.py`` under the same uvicorn settings as the FHIR server (1 worker, no access
log). ``BENCH_FLOOR_BODY`` names a file holding the bytes to serve (a Patient as the FHIR server
serves it); without it a small built-in Patient is served.
"""

from __future__ import annotations

import os
from pathlib import Path

from fastapi import FastAPI
from starlette.responses import Response

_path = os.environ.get("BENCH_FLOOR_BODY")
BODY = Path(_path).read_bytes() if _path else b'{"resourceType":"Patient","id":"floor","gender":"unknown"}'
MEDIA_TYPE = "application/fhir+json; charset=utf-8"

app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)


@app.get("/fhir/Patient/{resource_id}")
async def read_patient(resource_id: str) -> Response:
    return Response(BODY, media_type=MEDIA_TYPE)


@app.get("/fhir/metadata")
async def metadata() -> Response:
    return Response(b'{"resourceType":"CapabilityStatement"}', media_type=MEDIA_TYPE)

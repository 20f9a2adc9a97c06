"""``POST [base]`` with a batch or transaction Bundle (http://hl7.org/fhir/R4/http.html#transaction).

Checks the Bundle (type, size: more than ``Settings.max_bundle_entries`` entries is 413, unique
``fullUrl``s per bdl-7), reads its entries (:mod:`~fhir_server.interactions.bundle_entries`), runs
them as a transaction (:mod:`~fhir_server.interactions.transaction`, all or nothing; one with a
``Bundle.identifier`` once, :mod:`~fhir_server.interactions.replay`) or a batch
(:mod:`~fhir_server.interactions.batch`, each on its own), and answers with a
``transaction-response`` / ``batch-response`` Bundle whose entries answer the request entries in
order (:mod:`~fhir_server.interactions.bundle_response`). Body size is limited by the HTTP layer.
"""

from __future__ import annotations

from typing import Any

from fhir_server import errors
from fhir_server.context import RequestContext
from fhir_server.interactions import replay
from fhir_server.interactions.backend import Backend
from fhir_server.interactions.batch import run_batch
from fhir_server.interactions.bundle_entries import Entry, parse_entry
from fhir_server.interactions.bundle_plan import Dispatch, Step, at_entry
from fhir_server.interactions.bundle_response import response_entry
from fhir_server.interactions.messages import FhirRequest, FhirResponse
from fhir_server.interactions.rendering import bundle_bytes
from fhir_server.interactions.transaction import run_transaction

KINDS = ("transaction", "batch")


async def process_bundle(backend: Backend, ctx: RequestContext, request: FhirRequest, dispatch: Dispatch) -> FhirResponse:
    """Process a batch or transaction; ``dispatch`` (the router) answers its read entries."""
    bundle = request.resource
    kind = _check_bundle(bundle, backend.settings.max_bundle_entries)
    raw_entries: list[Any] = bundle.get("entry") or []  # type: ignore[union-attr]
    base_url = backend.settings.base_url
    prefer = request.header("prefer")
    if kind == "transaction":
        entries = [parse_entry(i, raw, base_url) for i, raw in enumerate(raw_entries)]
        _check_full_urls(entries)
        steps = await _transaction(backend, ctx, request, entries, prefer, dispatch)
    else:
        steps, entries = _parse_batch(raw_entries, base_url)
        _check_full_urls(entries)
        steps += await run_batch(backend, ctx, entries, prefer, dispatch)
    by_index = {step.entry.index: step for step in steps}
    answer = request.prefer("return")
    body = bundle_bytes(f"{kind}-response", [response_entry(by_index[i], base_url, answer) for i in range(len(raw_entries))])
    return FhirResponse(200, body)


async def _transaction(
    backend: Backend, ctx: RequestContext, request: FhirRequest, entries: list[Entry], prefer: str | None, dispatch: Dispatch,
) -> list[Step]:
    """Run a transaction; one with ``Bundle.identifier`` is applied once (:mod:`.replay`)."""
    bundle: dict[str, Any] = request.resource  # type: ignore[assignment]
    key = replay.bundle_key(bundle, ctx)
    if key is None:
        return await run_transaction(backend, ctx, entries, prefer, dispatch)
    sha = replay.fingerprint(request.body, bundle)
    record = await backend.repository.recorded_transaction(key)
    if record is not None:
        replay.check_same(record, sha, key)
        return await replay.replay(backend, ctx, record, entries, prefer, dispatch)
    recording = replay.Recording(key, sha, backend.settings.transaction_replay_seconds)
    return await run_transaction(backend, ctx, entries, prefer, dispatch, recording)


def _check_bundle(bundle: Any, max_entries: int) -> str:
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise errors.bad_request("POST to the service base takes a Bundle of type batch or transaction")
    kind = bundle.get("type")
    if kind not in KINDS:
        raise errors.bad_request(f"Bundle.type must be batch or transaction to be processed, not {kind!r}", "Bundle.type")
    entries = bundle.get("entry", [])
    if not isinstance(entries, list):
        raise errors.bad_request("Bundle.entry must be an array", "Bundle.entry")
    if len(entries) > max_entries:
        raise errors.too_large(f"The Bundle has {len(entries)} entries; this server takes at most {max_entries}")
    return kind


def _parse_batch(raw_entries: list[Any], base_url: str) -> tuple[list[Step], list[Entry]]:
    """A batch entry that cannot be read fails alone: its step carries the error."""
    failed: list[Step] = []
    entries: list[Entry] = []
    for index, raw in enumerate(raw_entries):
        try:
            entries.append(parse_entry(index, raw, base_url))
        except errors.FhirError as error:
            failed.append(Step(Entry(index, "", "", "read"), error=error))
    return failed, entries


def _check_full_urls(entries: list[Entry]) -> None:
    """bdl-7: fullUrl must be unique in a Bundle (http://hl7.org/fhir/R4/bundle.html#invs)."""
    seen: dict[str, Entry] = {}
    for entry in entries:
        if entry.full_url is None:
            continue
        if entry.full_url in seen:
            raise at_entry(errors.bad_request(
                f"fullUrl {entry.full_url!r} is also the fullUrl of {seen[entry.full_url].where}; it must be unique"
            ), entry)
        seen[entry.full_url] = entry

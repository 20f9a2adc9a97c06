"""Identified transactions are applied once: a resend gets the first answer back.

A connector that lost the response to a transaction cannot know whether it was applied. Entries
made idempotent (conditional creates and updates, ``PUT`` with ids; see
:mod:`~fhir_server.interactions.transaction`) make any Bundle safe to resend; a Bundle of plain
``POST`` entries (a Synthea patient file) is safe when it carries ``Bundle.identifier``
(http://hl7.org/fhir/R4/bundle-definitions.html#Bundle.identifier: "persistent identifier for
the bundle"), whatever its entries:

* the first time, the outcome of every write entry (the version it wrote or found, its status)
  and the ids given to the ``fullUrl``\\ s are recorded in the ``transactions`` collection in the
  same unit of work as the writes (``Repository.apply(versions, record)``): stored exactly when
  the writes are;
* a resend with the same identifier and the same bytes writes nothing: its write entries are
  answered from the record (the versions it names, read back from history), its read entries
  are run again;
* the same identifier with other bytes is a 409: an identifier names one Bundle (a resend must
  be the same bytes, not the same JSON written again in another form: comparing bytes costs a
  hash of the body, a canonical form would cost a second serialisation of the whole Bundle);
* two copies sent at once: one is applied, the other gets a 409 (sending it again returns the
  first one's answer).

A transaction that writes nothing (all its conditional creates found their match) is not
recorded; a resend finds the same matches. Records expire after
``Settings.transaction_replay_seconds`` (by TTL on ``exp``).
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import timedelta
from typing import Any

import orjson

from fhir_server import errors
from fhir_server.context import RequestContext
from fhir_server.interactions.backend import Backend
from fhir_server.interactions.bundle_entries import Entry
from fhir_server.interactions.bundle_plan import Dispatch, Step, answer_read
from fhir_server.interactions.plans import Planned
from fhir_server.storage.repository import NewVersion, utc_now
from fhir_server.storage.stored_form import StoredForm, stored_time


def bundle_key(bundle: dict[str, Any], ctx: RequestContext) -> str | None:
    """The record key of a Bundle with ``identifier.value`` (``system|value``, per tenant); else None."""
    identifier = bundle.get("identifier")
    if not isinstance(identifier, dict) or not isinstance(identifier.get("value"), str) or not identifier["value"]:
        return None
    system = identifier.get("system") if isinstance(identifier.get("system"), str) else ""
    key = f"{system}|{identifier['value']}"
    return f"{ctx.tenant}:{key}" if ctx.tenant else key


def fingerprint(body: bytes | None, bundle: dict[str, Any]) -> str:
    """What makes a resend the same Bundle: SHA-256 of the request body as sent (a resend after a
    lost response sends the same bytes; ``fhir-server load`` does), or of the Bundle as orjson
    writes it when there are no bytes (a request made in-process)."""
    return hashlib.sha256(body if body is not None else orjson.dumps(bundle)).hexdigest()


class Recording:
    """The record to write with an identified transaction's versions."""

    def __init__(self, key: str, sha: str, keep_seconds: int) -> None:
        self.key = key
        self.sha = sha
        self.keep_seconds = keep_seconds

    def document(self, steps: list[Step], targets: dict[str, str]) -> dict[str, Any]:
        """``entries``: per write entry its index and ``[type, id, vid, status, written]`` per version
        it answers with; ``targets``: the ``[fullUrl, Type/id]`` pairs (field names may not hold
        dots, so pairs, not a mapping); ``run``: this attempt's token (an undo removes only its own
        record, never that of a copy sent at the same time)."""
        entries = []
        for step in steps:
            outcomes = [[p.stored.type, p.stored.id, p.stored.vid, p.status, p.version is not None] for p in step.planned]
            entries.append([step.entry.index, outcomes])
        now = utc_now()
        return StoredForm({  # built as MongoDB stores it: the embedded engine keeps it without a copy
            "_id": self.key, "sha": self.sha, "run": uuid.uuid4().hex, "ts": stored_time(now),
            "exp": stored_time(now + timedelta(seconds=self.keep_seconds)),
            "entries": entries, "targets": [[url, target] for url, target in targets.items()],
        })


def check_same(record: dict[str, Any], sha: str, key: str) -> None:
    """409 unless the resend carries the bytes the identifier was first used for."""
    if record.get("sha") != sha:
        raise errors.conflict(
            f"Bundle.identifier {key!r} was already used for a transaction with other content; "
            "a resend must be the same bytes, a different Bundle needs a different identifier"
        )


async def replay(
    backend: Backend, ctx: RequestContext, record: dict[str, Any], entries: list[Entry], prefer: str | None, dispatch: Dispatch,
) -> list[Step]:
    """The steps of a resent identified transaction, answered from its record: nothing is written."""
    recorded = {index: outcomes for index, outcomes in record["entries"]}
    targets = {url: target for url, target in record["targets"]}
    steps = []
    for entry in entries:
        step = Step(entry)
        if entry.kind == "read":
            entry.query = [(k, targets.get(v, v)) for k, v in entry.query]
            step.answer = await answer_read(dispatch, backend, ctx, entry, prefer)
        else:
            step.planned = [await _planned(backend, ctx, *outcome) for outcome in recorded.get(entry.index, [])]
        steps.append(step)
    return steps


async def _planned(backend: Backend, ctx: RequestContext, resource_type: str, resource_id: str, vid: int, status: int, written: bool) -> Planned:
    """What a recorded outcome answered with: the version, read back from history."""
    stored = await backend.repository.version(ctx, resource_type, resource_id, vid)
    if stored is None:  # history is immutable: only a version outside this caller's access is missing
        raise errors.not_found(f"{resource_type}/{resource_id} version {vid}, answered by this transaction, is not found")
    written_version = NewVersion(stored.type, stored.id, stored.vid, stored.ts, stored.raw, {}, stored.method, stored.vid - 1)
    return Planned(stored, status, written_version if written else None)

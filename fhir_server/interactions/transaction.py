"""Transactions: every entry succeeds or none does (http://hl7.org/fhir/R4/http.html#transaction).

Processing (http://hl7.org/fhir/R4/http.html#trules): the write entries are planned in the order
DELETE, POST, PUT/PATCH (each phase of :mod:`~fhir_server.interactions.bundle_plan` over all of
them), two entries acting on one resource are a 400, and then every planned version is committed
in one unit of work (``Repository.apply``: bulk writes inside a MongoDB session transaction where
the deployment has them, elsewhere bulk writes undone exactly on any failure). GET/HEAD entries,
searches and ``$operations`` run last, through the router, and see the transaction's writes; if
one of them fails the committed writes are reverted (``Repository.revert``; until then other
requests may see them, and the revert, guarded by version, never undoes a later writer's version).
A failure anywhere answers with the failing entry's status and an OperationOutcome naming it, and
leaves the database as it was. ``$operations`` that change state are not part of the unit of work.

Resending safely. A client that lost the response to a transaction cannot know whether it was
applied; the connector makes the Bundle safe to send again by making every entry idempotent:

* creates as conditional creates: ``request.ifNoneExist`` on a business identifier
  (``identifier=system|value``), so a resend finds the resource instead of duplicating it;
* updates as conditional updates on an identifier (``PUT Patient?identifier=system|value``) or as
  ``PUT [type]/[id]`` with ids the client assigns (stable, e.g. a UUID derived from its own key);
  a resend makes one more version of the same resource, never a new resource;
* deletes as they are (deleting what is already deleted succeeds);
* references between entries by ``fullUrl``: they resolve to the same resources on the resend.

Or, whatever its entries, by giving the Bundle an ``identifier``: the server applies an
identified transaction once and answers a resend from its record
(:mod:`~fhir_server.interactions.replay`).

Conditional entries hold a lock on their criteria from planning to commit, so concurrent resends
of the same Bundle do not race each other into duplicates either.
"""

from __future__ import annotations

from typing import Any

from fhir_server import errors
from fhir_server.context import RequestContext
from fhir_server.interactions.backend import Backend
from fhir_server.interactions.bundle_entries import Entry
from fhir_server.interactions.bundle_plan import Dispatch, Planner, Step, answer_read, at_entry, check_overlaps
from fhir_server.interactions.plans import conflict_error, store_all
from fhir_server.interactions.replay import Recording
from fhir_server.interactions.write import criteria_lock
from fhir_server.storage.repository import AlreadyRecorded, Applied, VersionConflict


async def run_transaction(
    backend: Backend, ctx: RequestContext, entries: list[Entry], prefer: str | None, dispatch: Dispatch,
    recording: Recording | None = None,
) -> list[Step]:
    """Process ``entries`` as one transaction; raises a FhirError (nothing changed) if any fails.
    ``recording``: the transaction is identified, its outcome is recorded with its writes."""
    steps = [Step(entry) for entry in sorted(entries, key=lambda e: e.order)]
    writes = [s for s in steps if s.entry.kind != "read"]
    planner = Planner(backend, ctx, atomic=True)
    async with criteria_lock(backend, conditions(writes)):
        await planner.find_targets(writes)
        check_overlaps(writes)
        await planner.load_previous(writes)
        await planner.rewrite(writes)
        await planner.plan(writes)
        record = recording.document(writes, planner.targets) if recording else None
        applied = await commit_all(backend, writes, record)
    try:
        for step in steps:
            if step.entry.kind == "read":
                step.entry.query = [(k, planner.targets.get(v, v)) for k, v in step.entry.query]
                step.answer = await answer_read(dispatch, backend, ctx, step.entry, prefer)
    except BaseException:
        await backend.repository.revert(applied)
        raise
    return steps


def conditions(steps: list[Step]) -> list[tuple[str, list[tuple[str, str]]]]:
    """The criteria to lock: conditional creates and updates (as the single interactions lock them)."""
    return [
        (s.entry.resource_type or "", s.entry.conditions)
        for s in steps
        if s.entry.conditional and s.entry.kind in ("create", "update")
    ]


async def commit_all(backend: Backend, steps: list[Step], record: dict[str, Any] | None = None) -> Applied:
    """Store every planned version in one unit of work; a lost race fails the transaction (409/412)."""
    try:
        return await store_all(backend, [v for step in steps for v in step.versions], record)
    except AlreadyRecorded:
        raise errors.conflict(
            "A transaction with the same Bundle.identifier was applied meanwhile; send it again to get its answer"
        ) from None
    except VersionConflict as conflict:
        step = next((s for s in steps if conflict.resource in s.writes), None)
        error = conflict_error(conflict, step is not None and step.entry.if_match is not None)
        raise (at_entry(error, step.entry) if step else error) from None

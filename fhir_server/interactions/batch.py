"""Batches: every entry on its own (http://hl7.org/fhir/R4/http.html#transaction).

"For a batch, each entry is treated as if it were an individual interaction": a failure is
reported in that entry's response and the others stand. Writes are still planned and committed
in bulk: the entries are split into runs of independent writes (a run ends where an entry acts on
a resource already in it, or where a conditional entry searches a type the run writes), each run
is planned phase by phase and committed in one ``Repository.apply``; if that fails, its entries
are committed one by one so the failure lands on the entry that caused it. Entries of a batch may
not refer to each other ("non-conformant", a batch has no interdependencies): an entry with a
``urn:uuid:``/``urn:oid:`` reference fails with 400 rather than store a dangling link; conditional
references are resolved.
"""

from __future__ import annotations

import logging

from fhir_server import errors
from fhir_server.context import RequestContext
from fhir_server.interactions.backend import Backend
from fhir_server.interactions.bundle_entries import Entry
from fhir_server.interactions.bundle_plan import Dispatch, Key, Planner, Step, answer_read, internal_error
from fhir_server.interactions.plans import conflict_error, store_all
from fhir_server.interactions.transaction import conditions
from fhir_server.interactions.write import criteria_lock
from fhir_server.storage.repository import VersionConflict

log = logging.getLogger("fhir_server.bundle")


async def run_batch(
    backend: Backend, ctx: RequestContext, entries: list[Entry], prefer: str | None, dispatch: Dispatch,
) -> list[Step]:
    """Process ``entries`` independently; each step ends with its planned writes or its error."""
    steps = [Step(entry) for entry in sorted(entries, key=lambda e: e.order)]
    writes = [s for s in steps if s.entry.kind != "read"]
    planner = Planner(backend, ctx, atomic=False)
    async with criteria_lock(backend, conditions(writes)):
        run: list[Step] = []
        for step in writes:
            if step.entry.conditional and any(s.entry.resource_type == step.entry.resource_type for s in run):
                run = await _flush(planner, run)
            await planner.each([step], planner.find_target)
            if step.error is None and _overlaps(step, run):
                run = await _flush(planner, run)
            if step.error is None:
                run.append(step)
        await _flush(planner, run)
    for step in steps:
        if step.entry.kind == "read":
            await planner.each([step], lambda s: _answer(s, dispatch, backend, ctx, prefer))
    return steps


async def _answer(step: Step, dispatch: Dispatch, backend: Backend, ctx: RequestContext, prefer: str | None) -> None:
    step.answer = await answer_read(dispatch, backend, ctx, step.entry, prefer, locate=False)


def _overlaps(step: Step, run: list[Step]) -> bool:
    claimed: set[Key] = {key for s in run for key in s.writes}
    return any(key in claimed for key in step.writes)


async def _flush(planner: Planner, run: list[Step]) -> list[Step]:
    """Plan and commit one run of independent writes; returns a new, empty run."""
    if run:
        await planner.load_previous(run)
        await planner.rewrite(run)
        await planner.plan(run)
        await _commit(planner.backend, [s for s in run if s.error is None and s.versions])
    return []


async def _commit(backend: Backend, steps: list[Step]) -> None:
    """Commit ``steps`` in one bulk unit of work; if that fails, one by one, each failure on its entry."""
    try:
        await store_all(backend, [v for s in steps for v in s.versions])
        return
    except Exception:  # noqa: BLE001 - retried entry by entry below, where each failure is reported
        log.debug("bulk commit of %d batch entries failed; committing them one by one", len(steps))
    for step in steps:
        try:
            await store_all(backend, step.versions)
        except VersionConflict as conflict:
            step.error = conflict_error(conflict, step.entry.if_match is not None)
        except errors.FhirError as error:
            step.error = error
        except Exception:  # noqa: BLE001 - one entry's storage failure must not sink the batch
            log.exception("storing %s failed", step.entry.where)
            step.error = internal_error()

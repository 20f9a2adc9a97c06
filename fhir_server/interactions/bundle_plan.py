"""Planning the writes of a batch or transaction, in phases over all its write entries at once.

http://hl7.org/fhir/R4/http.html#trules. Each phase runs over every write entry before the next
starts, so the database is asked once per phase and type, not once per entry:

1. :meth:`Planner.find_targets`: the resource each entry writes: its URL id, a new id for a create,
   or the match of its conditions (``ifNoneExist``, conditional update/patch/delete); and the map
   from each entry's ``fullUrl`` to the ``Type/id`` it gets;
2. :meth:`Planner.load_previous`: the current versions of those targets (one query per type);
3. :meth:`Planner.rewrite`: links between entries and conditional references, in one walk;
4. :meth:`Planner.plan`: body checks, R4 validation, ``ifMatch``, the new version (stamped JSON and
   search index, computed once);
5. the caller commits every planned version in one unit of work (``Repository.apply``).

A transaction's planner is ``atomic``: the first failure raises, naming its entry. A batch's
planner records the failure on the entry and carries on with the others.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field, replace

from fhir_server import errors
from fhir_server.context import RequestContext
from fhir_server.interactions.backend import Backend
from fhir_server.interactions.bundle_entries import Entry, patch_document
from fhir_server.interactions.messages import FhirRequest, FhirResponse
from fhir_server.interactions.plans import (
    Planned, check_body, check_if_match, plan_checked, plan_delete, plan_version,
)
from fhir_server.interactions.references import ReferenceRewriter
from fhir_server.interactions.versioning import new_id
from fhir_server.interactions.write import check_conditional_id, delete_matches, plan_patch, single_match
from fhir_server.storage.repository import NewVersion, StoredVersion
from fhir_server.validation import Links, validate_resource

log = logging.getLogger("fhir_server.bundle")
Key = tuple[str, str]
Dispatch = Callable[[Backend, RequestContext, FhirRequest], Awaitable[FhirResponse]]


@dataclass
class Step:
    """One entry on its way through the phases, and what became of it."""

    entry: Entry
    target: Key | None = None
    previous: StoredVersion | None = None
    loaded: bool = False
    found: StoredVersion | None = None
    matches: list[StoredVersion] = field(default_factory=list)
    planned: list[Planned] = field(default_factory=list)
    error: errors.FhirError | None = None
    answer: FhirResponse | None = None

    @property
    def writes(self) -> list[Key]:
        """The resources this entry changes (http://hl7.org/fhir/R4/http.html#trules: they may not overlap)."""
        keys = [(m.type, m.id) for m in self.matches]
        return keys + [self.target] if self.target else keys

    @property
    def versions(self) -> list[NewVersion]:
        return [p.version for p in self.planned if p.version is not None]


def at_entry(error: errors.FhirError, entry: Entry) -> errors.FhirError:
    """``error`` as the failure of a whole transaction: its issues name the entry that caused it."""
    resource_type = entry.resource.get("resourceType") if entry.kind in ("create", "update") and isinstance(entry.resource, dict) else None
    issues = [
        replace(issue, diagnostics=f"{entry.where} ({entry.method} {entry.url}): {issue.diagnostics}",
                expression=_locate(issue.expression, entry, resource_type))
        for issue in error.issues
    ]
    return errors.FhirError(error.status, issues, dict(error.headers))


def _locate(expressions: tuple[str, ...], entry: Entry, resource_type: str | None) -> tuple[str, ...]:
    located = []
    for expression in expressions:
        if resource_type and (expression == resource_type or expression.startswith((resource_type + ".", resource_type + "["))):
            located.append(f"{entry.where}.resource{expression[len(resource_type):]}")
        else:
            located.append(expression)
    return tuple(located) or (entry.where,)


def internal_error() -> errors.FhirError:
    return errors.FhirError(500, [errors.Issue("exception", "Internal server error")])


class Planner:
    """Runs the phases over a list of steps, for one transaction or one batch."""

    def __init__(self, backend: Backend, ctx: RequestContext, *, atomic: bool) -> None:
        self.backend = backend
        self.ctx = ctx
        self.atomic = atomic
        self.targets: dict[str, str] = {}
        self.deleted: set[Key] = set()
        hint = "" if atomic else "; the entries of a batch may not refer to each other: send a transaction"
        self.rewriter = ReferenceRewriter(self.targets, backend.settings.base_url, hint=hint)

    async def each(self, steps: Iterable[Step], action: Callable[[Step], Awaitable[None] | None]) -> None:
        """Run ``action`` on every step still alive; a failure raises (atomic) or is recorded.

        ``action`` may return an awaitable (an ``async def``) or None when it had nothing to wait
        for: a phase that rarely waits then costs no coroutine per entry."""
        for step in steps:
            if step.error is not None:
                continue
            try:
                waiting = action(step)
                if waiting is not None:
                    await waiting
            except errors.FhirError as error:
                self.fail(step, error)
            except Exception:
                if self.atomic:
                    raise
                log.exception("unexpected failure in %s", step.entry.where)
                step.error = internal_error()

    def fail(self, step: Step, error: errors.FhirError) -> None:
        if self.atomic:
            raise at_entry(error, step.entry)
        step.error = error

    # -- 1. targets ----------------------------------------------------------------------------
    async def find_targets(self, steps: Iterable[Step]) -> None:
        await self.each(steps, self.find_target)

    def find_target(self, step: Step) -> Awaitable[None] | None:
        """The entry's target; an awaitable when it must be searched for (conditions, ``ifNoneExist``)."""
        entry = step.entry
        if entry.resource_id is None and (entry.kind != "create" or entry.if_none_exist):
            return self._search_target(step)
        resource_type = entry.resource_type or ""
        if entry.resource_id is not None:
            step.target = (resource_type, entry.resource_id)
        else:  # a plain create
            step.found = None
            step.target, step.loaded = (resource_type, new_id()), True
        self._targeted(step)
        return None

    async def _search_target(self, step: Step) -> None:
        entry = step.entry
        resource_type = entry.resource_type or ""
        if entry.kind == "delete":
            step.matches = await delete_matches(self.backend, self.ctx, resource_type, entry.criteria)
        elif entry.kind == "create":
            step.found = await self._match(entry, entry.if_none_exist or [], "ifNoneExist")
            if step.found is None:
                step.target, step.loaded = (resource_type, new_id()), True
        else:
            await self._find_conditional_target(step, resource_type)
        self._targeted(step)

    def _targeted(self, step: Step) -> None:
        """Record what the entry acts on: deletes for later matches, its fullUrl for references."""
        entry = step.entry
        if entry.kind == "delete":
            self.deleted.update(step.writes)
        identity = step.target or (step.found and (step.found.type, step.found.id))
        if self.atomic and entry.full_url and identity:  # a batch's entries do not refer to each other
            self.targets[entry.full_url] = f"{identity[0]}/{identity[1]}"

    async def _find_conditional_target(self, step: Step, resource_type: str) -> None:
        entry = step.entry
        step.found = await self._match(entry, entry.criteria, f"conditional {entry.kind}")
        if step.found is not None:
            step.target, step.previous, step.loaded = (resource_type, step.found.id), step.found, True
        elif entry.kind == "patch":
            raise errors.not_found(f"No {resource_type} matches the patch criteria")
        elif isinstance(entry.resource.get("id"), str):
            step.target = (resource_type, entry.resource["id"])
        else:
            step.target, step.loaded = (resource_type, new_id()), True

    async def _match(self, entry: Entry, criteria: list[tuple[str, str]], what: str) -> StoredVersion | None:
        """The single match of ``criteria``, as if this bundle's deletes had already run."""
        return await single_match(self.backend, self.ctx, entry.resource_type or "", criteria, what, ignore=self.deleted)

    # -- 2. current versions -------------------------------------------------------------------
    async def load_previous(self, steps: list[Step]) -> None:
        """The current version of every target not yet known: one query per resource type."""
        wanted: dict[str, list[Step]] = {}
        for step in steps:
            if step.error is None and step.target and not step.loaded:
                wanted.setdefault(step.target[0], []).append(step)
        for resource_type, group in wanted.items():
            current = await self.backend.repository.current_many(self.ctx, resource_type, [s.target[1] for s in group if s.target])
            for step in group:
                step.previous, step.loaded = current.get(step.target[1] if step.target else ""), True

    # -- 3. references -------------------------------------------------------------------------
    async def rewrite(self, steps: Iterable[Step]) -> None:
        await self.each(steps, self._rewrite)

    def _rewrite(self, step: Step) -> Awaitable[None] | None:
        """Rewrite the entry's links in place; its conditional references, if any, are resolved
        (searched) before the next entry is rewritten: the returned awaitable.

        A resource to create or update is validated here: the walk that validates it also finds
        the elements that may hold links (``Reference.reference``, uri, url, canonical, oid,
        uuid, the narrative), and those are rewritten. A patch document is walked whole."""
        entry = step.entry
        if entry.kind in ("delete", "read") or (entry.kind == "create" and step.found is not None):
            return None
        if entry.kind == "patch":
            self.rewriter.rewrite(entry.resource, entry.full_url)
        else:
            links: Links = []
            resource_id = entry.resource_id if entry.kind == "update" else None
            validate_resource(check_body(entry.resource_type or "", entry.resource, resource_id), links)
            self.rewriter.rewrite_links(links, entry.full_url)
        if self.rewriter.pending:
            return self.rewriter.resolve(self.backend, self.ctx)
        return None

    # -- 4. versions ---------------------------------------------------------------------------
    async def plan(self, steps: Iterable[Step]) -> None:
        """The versions to write; a resource to create or update was checked and validated by
        :meth:`rewrite`, which every caller runs first."""
        await self.each(steps, self._plan)

    def _plan(self, step: Step) -> None:
        entry = step.entry
        resource_type = entry.resource_type or ""
        if entry.kind == "delete":
            if entry.resource_id is not None:
                check_if_match(step.previous, entry.if_match)
            planned = [plan_delete(found) for found in ([step.previous] if entry.resource_id else step.matches)]
            step.planned = [p for p in planned if p is not None]
        elif entry.kind == "create":
            step.planned = [self._plan_create(step, resource_type)]
        elif entry.kind == "update":
            step.planned = [self._plan_update(step, resource_type)]
        else:
            step.planned = [plan_patch(_existing(step), *patch_document(entry.resource, entry.where), entry.if_match)]

    @staticmethod
    def _plan_create(step: Step, resource_type: str) -> Planned:
        if step.found is not None:
            return Planned(step.found, 200)
        return plan_version(resource_type, step.target[1] if step.target else new_id(), step.entry.resource, None, "POST")

    @staticmethod
    def _plan_update(step: Step, resource_type: str) -> Planned:
        entry = step.entry
        target_id = step.target[1] if step.target else ""
        if entry.resource_id is None:
            if step.found is not None:
                check_conditional_id(resource_type, entry.resource, step.found)
            elif entry.if_match is not None:
                raise errors.precondition_failed("ifMatch was given but no resource matches the criteria")
        return plan_checked(resource_type, target_id, entry.resource, step.previous, "PUT", entry.if_match)


def _existing(step: Step) -> StoredVersion:
    """The version a PATCH applies to: 404 if it never existed, 410 if deleted (as a read would)."""
    previous = step.previous
    resource_type, resource_id = step.target or ("", "")
    if previous is None:
        raise errors.not_found(f"{resource_type}/{resource_id} is not known")
    if previous.deleted:
        raise errors.gone(f"{resource_type}/{resource_id} was deleted (version {previous.vid})")
    check_if_match(previous, step.entry.if_match)
    return previous


def check_overlaps(steps: Iterable[Step]) -> None:
    """Two entries acting on the same resource fail the transaction with 400 (http://hl7.org/fhir/R4/http.html#trules)."""
    claimed: dict[Key, Entry] = {}
    for step in steps:
        for key in step.writes:
            if key in claimed:
                first = claimed[key]
                raise at_entry(errors.bad_request(
                    f"{first.where} and {step.entry.where} both act on {key[0]}/{key[1]}; "
                    "a transaction may change each resource only once"
                ), step.entry)
            claimed[key] = step.entry


async def answer_read(
    dispatch: Dispatch, backend: Backend, ctx: RequestContext, entry: Entry, prefer: str | None, *, locate: bool = True,
) -> FhirResponse:
    """A GET/HEAD, search or ``$operation`` entry answered by the router, as over HTTP; failures raise."""
    try:
        answer = await dispatch(backend, ctx, entry.request(prefer))
    except errors.FhirError as error:
        raise at_entry(error, entry) if locate else error from None
    if answer.status >= 400:
        error = errors.FhirError(answer.status, [errors.Issue("processing", f"{entry.method} {entry.url} answered {answer.status}")])
        raise at_entry(error, entry) if locate else error
    return answer

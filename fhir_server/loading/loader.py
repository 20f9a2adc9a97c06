"""The load loop: N files in flight, a progress bar of resources, the journal, the summary.

A producer walks the inputs (in a thread: reading files and streaming archives is blocking I/O)
into a bounded queue; ``concurrency`` workers each take one file at a time, post its requests in
order and journal each answered request. A file Synthea marks as shared (``hospitalInformation``,
``practitionerInformation``) is loaded alone, after the files before it and before those after.
Setting ``stop`` ends the run gracefully: no new file or request starts, the ones in flight finish.
"""

from __future__ import annotations

import asyncio
import time
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from tqdm import tqdm

from fhir_server.loading.bundles import Plan, merge_spans, plan_file
from fhir_server.loading.journal import Journal
from fhir_server.loading.outcomes import Answer, Failure, read_answer
from fhir_server.loading.sources import Unit, expand, iter_units
from fhir_server.loading.summary import Summary
from fhir_server.loading.targets import Target, TargetError, TargetUnavailable

async def load(
    paths: Sequence[str | Path], target: Target, *, journal: Journal | None = None, concurrency: int = 4,
    batch_size: int = 500, progress: bool = True, stop: asyncio.Event | None = None,
) -> Summary:
    """Load every file under ``paths`` into ``target``; returns the run's :class:`Summary`.

    Raises FileNotFoundError for a missing path (before loading anything), and re-raises an
    unexpected failure of the target after the files in flight have finished.
    """
    files = expand(paths)
    run = _Run(target, journal, batch_size, stop or asyncio.Event(), progress)
    return await run.execute(files, max(concurrency, 1))


class _Run:
    def __init__(self, target: Target, journal: Journal | None, batch_size: int, stop: asyncio.Event, progress: bool) -> None:
        self.target = target
        self.journal = journal
        self.batch_size = batch_size
        self.stop = stop
        self.summary = Summary()
        self.fatal: BaseException | None = None
        self.bar = tqdm(total=0, unit="res", desc="loading", disable=not progress, dynamic_ncols=True, leave=True)

    async def execute(self, files: list[Path], concurrency: int) -> Summary:
        started = time.monotonic()
        queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=concurrency)
        workers = [asyncio.create_task(self._worker(queue)) for _ in range(concurrency)]
        try:
            await self._produce(files, queue)
            await queue.join()
        finally:
            for worker in workers:
                worker.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
            self.bar.close()
            self.summary.seconds = time.monotonic() - started
            self.summary.interrupted = self.summary.interrupted or self.stop.is_set()
        if self.fatal is not None:
            raise self.fatal
        return self.summary

    # -- producing ------------------------------------------------------------------------------
    async def _produce(self, files: list[Path], queue: asyncio.Queue[Any]) -> None:
        for path in files:
            units = iter_units([path], self._wanted)
            while not self.stop.is_set():
                try:
                    unit = await asyncio.to_thread(_next, units)
                except Exception as error:  # noqa: BLE001 - a corrupt archive must not end the run
                    self._unreadable(str(path), error)
                    break
                if unit is None:
                    break
                if unit.first:  # shared data: alone, after everything before it
                    await queue.join()
                    await queue.put(unit)
                    await queue.join()
                else:
                    await queue.put(unit)
            if self.stop.is_set():
                return

    def _wanted(self, unit: Unit) -> bool:
        return not (self.journal and self.journal.is_done(unit))

    def _unreadable(self, label: str, error: BaseException) -> None:
        self.summary.files += 1
        self.summary.incomplete += 1
        self.summary.failures.append(Failure(label, "file", "unreadable", f"{type(error).__name__}: {error}"))

    # -- consuming ------------------------------------------------------------------------------
    async def _worker(self, queue: asyncio.Queue[Any]) -> None:
        while True:
            unit = await queue.get()
            try:
                if not self.stop.is_set():
                    await self._load_unit(unit)
            except TargetUnavailable as error:
                self.summary.stop_reason = str(error)
                self.stop.set()
            except Exception as error:  # noqa: BLE001 - stop the run, re-raised by execute()
                self.fatal = error
                self.stop.set()
            finally:
                queue.task_done()

    async def _load_unit(self, unit: Unit) -> None:
        summary = self.summary
        if unit.kind == "ignored":
            summary.ignored += 1
            return
        summary.files += 1
        if self.journal and self.journal.is_done(unit):
            summary.skipped += 1
            return
        done = merge_spans(self.journal.spans(unit)) if self.journal else []
        try:
            plan = await asyncio.to_thread(_plan, unit, self.batch_size, done)
        except (OSError, EOFError, ValueError, zlib.error) as error:  # unreadable or corrupt gzip
            self._unreadable(unit.label, error)
            return
        summary.resumed += sum(end - start for start, end in done)
        self.bar.total += plan.resources
        self.bar.refresh()
        failures = [Failure(unit.label, r.location, "invalid", r.reason) for r in plan.rejected]
        ok, complete = 0, True
        for post in plan.posts:
            if self.stop.is_set():
                complete = False
                break
            answer = await self._post(unit, post)
            self.bar.update(post.size)
            ok += answer.ok
            failures.extend(answer.failures)
            if answer.retry:
                complete = False
            elif self.journal and len(plan.posts) > 1:
                self.journal.record_span(unit, post.span, answer.ok, answer.failures)
        summary.resources += ok
        summary.failures.extend(failures)
        self.bar.set_postfix_str(f"{summary.loaded + summary.incomplete + 1} files", refresh=False)
        if not complete:
            summary.incomplete += 1
            return
        summary.loaded += 1
        if self.journal:
            self.journal.record_done(unit, ok, failures)

    async def _post(self, unit: Unit, post: Any) -> Answer:
        try:
            status, body = await self.target.post(post.bundle)
        except TargetError as error:
            where = "transaction" if post.atomic else "batch"
            return Answer(0, [Failure(unit.label, where, "error", str(error))], retry=True)
        return read_answer(unit.label, post, status, body)


def _next(units: Iterator[Unit]) -> Unit | None:
    return next(units, None)


def _plan(unit: Unit, batch_size: int, done: list[tuple[int, int]]) -> Plan:
    data = unit.read()
    unit.data = None  # let the archive member's bytes go as soon as they are parsed
    return plan_file(data, unit.kind, batch_size, done)

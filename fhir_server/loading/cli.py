"""``fhir-server load PATH... [--url URL] [--concurrency N] [--journal FILE | --no-journal] [--batch-size N]``.

Without ``--url`` the files are written in-process into the configured store (MongoDB through
``FHIR_MONGODB_URI``); with it they are posted to a running server. The first Ctrl-C lets the
requests in flight finish and be journaled; a second one aborts at once.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import re
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

from fhir_server.config import Settings
from fhir_server.loading.journal import Journal
from fhir_server.loading.loader import load
from fhir_server.loading.sources import default_journal
from fhir_server.loading.targets import HttpTarget, InProcessTarget, Target

EMBEDDED_WARNING = (
    "note: no --url and no FHIR_MONGODB_URI: loading into the embedded in-memory store, whose data "
    "vanishes when this command exits (a dry run that checks the files). Set FHIR_MONGODB_URI to load "
    "into MongoDB, or pass --url to post to a running server."
)


def run_load(settings: Settings, args: argparse.Namespace) -> int:
    """Run the load; exit status 0 when everything got in, 1 with failures, 2 for bad paths, 130 interrupted."""
    logging.getLogger("httpx").setLevel(logging.WARNING)  # not one log line per request
    missing = [p for p in args.paths if not Path(p).exists()]
    if missing:
        print(f"no such file or directory: {', '.join(missing)}", file=sys.stderr)
        return 2
    try:
        return asyncio.run(_run(settings, args))
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("aborted; run the same command again to resume", file=sys.stderr)
        return 130


async def _run(settings: Settings, args: argparse.Namespace) -> int:
    stop = asyncio.Event()
    _on_interrupt(stop)
    async with open_target(settings, args.url) as target:
        journal = _journal(settings, args, target)
        try:
            summary = await load(
                args.paths, target, journal=journal, concurrency=args.concurrency,
                batch_size=getattr(args, "batch_size", None) or 500, progress=sys.stderr.isatty(), stop=stop,
            )
        finally:
            if journal:
                journal.close()
    print(summary.text())
    if summary.interrupted:
        return 130
    return 0 if summary.ok else 1


@contextlib.asynccontextmanager
async def open_target(settings: Settings, url: str | None) -> AsyncIterator[Target]:
    """The HTTP target for ``url``, else the configured store in-process."""
    if url:
        target: Target = HttpTarget(url)
        try:
            yield target
        finally:
            await target.close()
        return
    from fhir_server.interactions.backend import Backend
    from fhir_server.main import open_repository

    if settings.embedded:
        print(EMBEDDED_WARNING, file=sys.stderr)
    repository, client = await open_repository(settings)
    try:
        await repository.ensure_indexes()
        yield InProcessTarget(Backend(repository, settings), store_name(settings))
    finally:
        if client is not None:
            await client.close()


def store_name(settings: Settings) -> str:
    """The configured store as the journal names it: the MongoDB URI without credentials or options."""
    if settings.embedded:
        return "embedded"
    uri = re.sub(r"//[^@/]*@", "//", settings.mongodb_uri or "").split("?", 1)[0].rstrip("/")
    return f"{uri}#{settings.database}"


def _journal(settings: Settings, args: argparse.Namespace, target: Target) -> Journal | None:
    if getattr(args, "no_journal", False):
        return None
    if target.name == "embedded":  # the store starts empty each run: nothing to resume
        return None
    path = Path(getattr(args, "journal", None) or default_journal(args.paths))
    print(f"journal: {path}", file=sys.stderr)
    return Journal(path, target.name)


def _on_interrupt(stop: asyncio.Event) -> None:
    """First SIGINT: finish what is in flight (``stop``); second: cancel the run."""
    loop = asyncio.get_running_loop()
    main = asyncio.current_task()

    def interrupted() -> None:
        if stop.is_set():
            if main is not None:
                main.cancel()
            return
        print("\nstopping: finishing the requests in flight (Ctrl-C again to abort)", file=sys.stderr)
        stop.set()

    with contextlib.suppress(NotImplementedError, RuntimeError):  # not on Windows / not the main thread
        loop.add_signal_handler(signal.SIGINT, interrupted)

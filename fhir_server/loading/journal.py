"""The load journal: one JSON line per request the server answered, so a rerun resumes.

Records (``.fhir-load-journal.jsonl``, append-only, flushed and synced after each line)::

    {"target": T, "key": K, "fp": F, "span": [0, 500], "ok": 500, "failed": 0}      one request
    {"target": T, "key": K, "fp": F, "done": true, "ok": 1200, "failed": 2, ...}     the whole file

``target`` is the server URL or database, ``key`` the file (path or ``archive!member``) and
``fp`` the hash of its path, size and modification time: a changed file is loaded again. A
torn last line (the process killed while writing it) is ignored.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any

import orjson

from fhir_server.loading.outcomes import Failure
from fhir_server.loading.sources import Unit

_KEEP_FAILURES = 50


class Journal:
    """What is already loaded into ``target``, read from ``path`` and appended to as the load goes."""

    def __init__(self, path: Path, target: str) -> None:
        self.path = path
        self.target = target
        self._done: dict[tuple[str, str], dict[str, Any]] = {}
        self._spans: dict[tuple[str, str], list[tuple[int, int]]] = {}
        self._file: IO[bytes] | None = None
        if path.exists():
            self._read(path.read_bytes().splitlines())

    def _read(self, lines: Iterable[bytes]) -> None:
        for line in lines:
            try:
                record = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue  # a torn line from an interrupted write
            if not isinstance(record, dict) or record.get("target") != self.target:
                continue
            unit = (record.get("key"), record.get("fp"))
            if record.get("done"):
                self._done[unit] = record
            elif isinstance(record.get("span"), list) and len(record["span"]) == 2:
                self._spans.setdefault(unit, []).append((int(record["span"][0]), int(record["span"][1])))

    def is_done(self, unit: Unit) -> bool:
        return (unit.key, unit.fingerprint) in self._done

    def done_record(self, unit: Unit) -> dict[str, Any] | None:
        return self._done.get((unit.key, unit.fingerprint))

    def spans(self, unit: Unit) -> list[tuple[int, int]]:
        """The item spans of ``unit`` answered in earlier runs (the file not yet complete)."""
        return list(self._spans.get((unit.key, unit.fingerprint), ()))

    def record_span(self, unit: Unit, span: tuple[int, int], ok: int, failures: list[Failure]) -> None:
        self._write({"key": unit.key, "fp": unit.fingerprint, "span": list(span), "ok": ok, "failed": len(failures)})

    def record_done(self, unit: Unit, ok: int, failures: list[Failure]) -> None:
        record = {
            "key": unit.key, "fp": unit.fingerprint, "done": True, "ok": ok, "failed": len(failures),
            "failures": [f.to_json() for f in failures[:_KEEP_FAILURES]],
        }
        self._done[(unit.key, unit.fingerprint)] = record
        self._write(record)

    def _write(self, record: dict[str, Any]) -> None:
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(self.path, "ab")  # noqa: SIM115 - kept open for the whole load
            if self._file.tell() and not _ends_with_newline(self.path):
                self._file.write(b"\n")  # end a torn line so the next record stands on its own
        record = {"target": self.target, **record, "at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        self._file.write(orjson.dumps(record) + b"\n")
        self._file.flush()
        os.fsync(self._file.fileno())

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def _ends_with_newline(path: Path) -> bool:
    with open(path, "rb") as handle:
        handle.seek(-1, os.SEEK_END)
        return handle.read(1) == b"\n"

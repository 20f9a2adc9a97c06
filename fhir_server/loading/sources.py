"""Finding the input files: paths, directories (recursively) and tar archives, member by member.

Each input file becomes one :class:`Unit`, identified for the journal by a ``key`` (its absolute
path, or ``archive!member``) and a ``fingerprint`` (a hash of key, size and modification time), so
an edited or replaced file is loaded again while an unchanged one is recognised as done.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import tarfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

JOURNAL_NAME = ".fhir-load-journal.jsonl"
_ARCHIVE_SUFFIXES = (".tgz", ".tar.gz", ".tar", ".tar.bz2", ".tar.xz")
_KINDS = {".json": "json", ".ndjson": "ndjson", ".json.gz": "json", ".ndjson.gz": "ndjson"}
# Synthea writes the Organizations and Practitioners its patient files point at (by conditional
# reference) into these files: they must be in before any patient file is posted.
_FIRST_PREFIXES = ("hospitalInformation", "practitionerInformation")


@dataclass
class Unit:
    """One input file: a plain file read on demand, or an archive member read while streaming."""

    key: str
    label: str
    fingerprint: str
    size: int
    kind: str  # "json", "ndjson" or "ignored"
    first: bool = False  # must be loaded before the files that follow it
    path: Path | None = None
    data: bytes | None = None

    @property
    def gzipped(self) -> bool:
        return self.key.endswith(".gz")

    def read(self) -> bytes:
        raw = self.data if self.data is not None else (self.path.read_bytes() if self.path else b"")
        return gzip.decompress(raw) if self.gzipped else raw


def kind_of(name: str) -> str:
    """``json``, ``ndjson`` or ``ignored`` by file name (hidden files, like the journal, are ignored)."""
    base = os.path.basename(name)
    if base.startswith("."):
        return "ignored"
    lower = base.lower()
    for suffix in sorted(_KINDS, key=len, reverse=True):
        if lower.endswith(suffix):
            return _KINDS[suffix]
    return "ignored"


def is_archive(name: str) -> bool:
    return name.lower().endswith(_ARCHIVE_SUFFIXES)


def loads_first(name: str) -> bool:
    return os.path.basename(name).startswith(_FIRST_PREFIXES)


def fingerprint(*parts: object) -> str:
    return hashlib.sha256("\0".join(map(str, parts)).encode()).hexdigest()[:32]


def expand(paths: Iterable[str | Path]) -> list[Path]:
    """Files and archives under ``paths`` (directories recursively, sorted); Synthea's shared files first.

    Raises FileNotFoundError for a path that does not exist.
    """
    found: list[Path] = []
    for given in paths:
        path = Path(given)
        if path.is_dir():
            found.extend(sorted(p for p in path.rglob("*") if p.is_file() and not _hidden(p, path)))
        elif path.exists():
            found.append(path)
        else:
            raise FileNotFoundError(f"no such file or directory: {given}")
    first_places: dict[Path, Path] = {}
    for path in found:  # a file named twice is loaded once, in its first place
        first_places.setdefault(path.resolve(), path)
    unique = list(first_places.values())
    return sorted(unique, key=lambda p: not loads_first(p.name))  # stable: keeps the order otherwise


def _hidden(path: Path, root: Path) -> bool:
    return any(part.startswith(".") for part in path.relative_to(root).parts)


def file_unit(path: Path) -> Unit:
    stat = path.stat()
    key = str(path.resolve())
    return Unit(key, _label(path), fingerprint(key, stat.st_size, stat.st_mtime_ns), stat.st_size,
                kind_of(path.name), loads_first(path.name), path=path)


def iter_units(paths: Iterable[Path], wanted: Callable[[Unit], bool]) -> Iterator[Unit]:
    """Every input file as a Unit; archive members are read only when ``wanted(unit)`` is true."""
    for path in paths:
        if is_archive(path.name):
            yield from _archive_units(path, wanted)
        else:
            yield file_unit(path)


def _archive_units(path: Path, wanted: Callable[[Unit], bool]) -> Iterator[Unit]:
    stat = path.stat()
    key = str(path.resolve())
    archive_fp = fingerprint(key, stat.st_size, stat.st_mtime_ns)
    with tarfile.open(path, "r|*") as archive:  # streaming: members in order, each read once
        for member in archive:
            if not member.isfile():
                continue
            unit = Unit(
                f"{key}!{member.name}", f"{_label(path)}!{member.name}",
                fingerprint(archive_fp, member.name, member.size, member.mtime), member.size,
                kind_of(member.name), loads_first(member.name),
            )
            if unit.kind != "ignored" and wanted(unit):
                handle = archive.extractfile(member)
                unit.data = handle.read() if handle else b""
            yield unit


def _label(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def default_journal(paths: Iterable[str | Path]) -> Path:
    """``.fhir-load-journal.jsonl`` next to the inputs (in the directory given, or beside the files);
    in the working directory when that place is not writable."""
    dirs = [str(Path(p).resolve() if Path(p).is_dir() else Path(p).resolve().parent) for p in paths]
    place = Path(os.path.commonpath(dirs)) if dirs else Path.cwd()
    if not os.access(place, os.W_OK):
        place = Path.cwd()
    return place / JOURNAL_NAME

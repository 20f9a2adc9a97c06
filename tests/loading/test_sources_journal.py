"""Finding input files (directories, archives) and the resume journal."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import orjson
import pytest

from fhir_server.loading.journal import Journal
from fhir_server.loading.outcomes import Failure
from fhir_server.loading.sources import default_journal, expand, iter_units, kind_of


def write(path: Path, data: bytes = b"{}") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def make_tgz(path: Path, members: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 1_700_000_000
            archive.addfile(info, io.BytesIO(data))
    return path


def test_kinds_by_name():
    assert [kind_of(n) for n in ("a.json", "b.NDJSON", "c.ndjson.gz", "d.json.gz", "e.txt", ".hidden.json")] == [
        "json", "ndjson", "ndjson", "json", "ignored", "ignored",
    ]


def test_directories_are_walked_recursively_in_order_with_synthea_shared_files_first(tmp_path):
    for name in ("b/z.json", "a.ndjson", "b/hospitalInformation1.json", ".git/x.json", "b/practitionerInformation1.json"):
        write(tmp_path / name)
    assert [p.relative_to(tmp_path).as_posix() for p in expand([tmp_path])] == [
        "b/hospitalInformation1.json", "b/practitionerInformation1.json", "a.ndjson", "b/z.json",
    ]
    with pytest.raises(FileNotFoundError):
        expand([tmp_path / "missing"])


def test_archive_members_are_units_read_only_when_wanted(tmp_path):
    archive = make_tgz(tmp_path / "data.tgz", {"x/one.json": b"{1}", "two.ndjson": b"{2}", "readme.md": b"hi"})
    units = list(iter_units([archive], lambda unit: unit.key.endswith("two.ndjson")))
    assert [(u.key.split("!")[1], u.kind, u.data) for u in units] == [
        ("x/one.json", "json", None), ("two.ndjson", "ndjson", b"{2}"), ("readme.md", "ignored", None),
    ]
    assert units[0].key == f"{archive.resolve()}!x/one.json"
    again = list(iter_units([archive], lambda unit: True))
    assert [u.fingerprint for u in again] == [u.fingerprint for u in units]


def test_a_changed_file_gets_a_new_fingerprint(tmp_path):
    path = write(tmp_path / "a.json", b"{}")
    before = next(iter_units([path], lambda u: True)).fingerprint
    write(path, b"{ }")
    os.utime(path, ns=(1, 1))
    assert next(iter_units([path], lambda u: True)).fingerprint != before


def test_the_journal_remembers_done_files_and_spans_per_target(tmp_path):
    unit = next(iter_units([write(tmp_path / "a.ndjson")], lambda u: True))
    journal = Journal(tmp_path / "j.jsonl", "http://one/fhir")
    journal.record_span(unit, (0, 500), 500, [])
    journal.record_span(unit, (500, 1000), 499, [Failure("a.ndjson", "line 7", "400", "bad")])
    journal.close()

    resumed = Journal(tmp_path / "j.jsonl", "http://one/fhir")
    assert (resumed.is_done(unit), resumed.spans(unit)) == (False, [(0, 500), (500, 1000)])
    resumed.record_done(unit, 999, [Failure("a.ndjson", "line 7", "400", "bad")])
    resumed.close()

    assert Journal(tmp_path / "j.jsonl", "http://one/fhir").is_done(unit)
    assert not Journal(tmp_path / "j.jsonl", "http://two/fhir").is_done(unit)
    record = Journal(tmp_path / "j.jsonl", "http://one/fhir").done_record(unit)
    assert {k: v for k, v in record.items() if k != "at"} == {
        "target": "http://one/fhir", "key": unit.key, "fp": unit.fingerprint, "done": True, "ok": 999, "failed": 1,
        "failures": [{"file": "a.ndjson", "location": "line 7", "status": "400", "reason": "bad"}],
    }


def test_a_torn_last_line_is_ignored_and_ended_before_the_next_record(tmp_path):
    unit = next(iter_units([write(tmp_path / "a.json")], lambda u: True))
    path = tmp_path / "j.jsonl"
    path.write_bytes(orjson.dumps({"target": "t", "key": unit.key, "fp": unit.fingerprint, "span": [0, 1]}) + b"\n{\"target\": \"t\", \"ke")
    journal = Journal(path, "t")
    assert journal.spans(unit) == [(0, 1)]
    journal.record_done(unit, 1, [])
    journal.close()
    assert Journal(path, "t").is_done(unit)


def test_the_default_journal_sits_next_to_the_inputs(tmp_path):
    write(tmp_path / "in" / "a.json")
    assert default_journal([tmp_path / "in"]) == (tmp_path / "in" / ".fhir-load-journal.jsonl").resolve()
    assert default_journal([tmp_path / "in" / "a.json"]) == (tmp_path / "in" / ".fhir-load-journal.jsonl").resolve()

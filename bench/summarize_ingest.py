"""Median and range of the ingest benchmark over several runs (``bench/results/ingest-*.json``).

One run of ``bench_ingest.py`` says little on a host whose speed drifts by ±25 % within a minute;
this reads every result file written since ``--since`` (a ``YYYYMMDD-HHMMSS`` stamp, as in the
file names) and prints, per measure, the median, the range and the number of runs. Runs with
``--pin-cpu``, and runs on another CPython build (``bench/README.md``: the interpreter), count as
their own measures.

Usage: ``.venv/bin/python bench/summarize_ingest.py [--since 20261122-045254]``
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import RESULTS  # noqa: E402


def measures(run: dict) -> dict[str, float]:
    """The figures of one run worth comparing across runs."""
    out = {"in-process, whole Bundles (resources/s)": run["whole"]["resources_per_s"],
           "in-process, 100-entry transaction p50 (ms)": run["chunked"]["p50_ms"]}
    pinned = run.get("meta", {}).get("http_pinned_to_cpu")
    http = "HTTP" if pinned is None else f"HTTP with server and client on CPU {pinned}"
    for result in run.get("http") or []:
        concurrency = result["concurrency"]
        out[f"{http}, whole Bundles, {concurrency} in flight (resources/s)"] = result["resources_per_s"]
        out[f"{http}, whole Bundles, {concurrency} in flight (server CPU µs/resource)"] = result["server_cpu_us_per_resource"]
    if run.get("http_chunked"):
        out[f"{http}, 100-entry transaction p50, back to back (ms)"] = run["http_chunked"]["p50_ms"]
    if run.get("http_paced"):
        out[f"{http}, 100-entry transaction p50, one every {run['http_paced']['every_ms']:g} ms (ms)"] = run["http_paced"]["p50_ms"]
    return out


def _interpreter(meta: dict) -> str:
    """The CPython of a run, as the summary groups runs (runs from before this was recorded: ``?``)."""
    if "python_build" not in meta:
        return f"CPython {meta.get('python', '?')}"
    return f"CPython {meta['python']} ({meta['python_executable']}; {meta['python_build']})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--since", default="", help="only runs at or after this YYYYMMDD-HHMMSS stamp")
    args = parser.parse_args()
    files = sorted(p for p in RESULTS.glob("ingest-2*.json") if p.stem.removeprefix("ingest-") >= args.since)
    values: dict[str, list[float]] = {}
    for path in files:
        run = orjson.loads(path.read_bytes())
        python = _interpreter(run.get("meta", {}))
        for name, value in measures(run).items():
            values.setdefault(f"{python}: {name}", []).append(value)
    if not values:
        print(f"no ingest results in {RESULTS} since {args.since or 'the beginning'}")
        return
    print(f"{len(files)} runs: {files[0].stem} ... {files[-1].stem}\n")
    print("| measure | median | range | runs |\n|---|---:|---:|---:|")
    for name, found in values.items():
        print(f"| {name} | {statistics.median(found):,.1f} | {min(found):,.1f}–{max(found):,.1f} | {len(found)} |")


if __name__ == "__main__":
    main()

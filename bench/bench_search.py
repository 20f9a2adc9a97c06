"""Search latency and server CPU per phase, on the embedded store with Synthea data.

Loads ``--patients`` Synthea patients (transaction Bundles from ../shared/data/synthea-r4-100.tgz)
through the app in-process, then runs typical searches ``--n`` times each, calling the search
interaction directly (no HTTP client in the measured path) and splitting the server CPU time
(``time.process_time_ns``) of each request into exclusive phases:

- parse      query string -> ParsedSearch (``_parse``)
- query      translate + join resolution (``_plans``, minus the store calls it makes)
- store      ``Repository.find``/``count`` and snapshot writes (mongomock scans: not the target)
- include    ``_include``/``_revinclude`` (minus store)
- serialise  page entries and Bundle bytes (minus store and include)
- other      the executor's glue (everything else inside ``search``)

Target: <= 2 ms server CPU per page of 20, excluding the store.

Run: ``.venv/bin/python bench/bench_search.py [--patients 20] [--n 50]``
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tarfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from fhir_server.config import Settings  # noqa: E402
from fhir_server.context import RequestContext  # noqa: E402
from fhir_server.interactions import search as executor  # noqa: E402
from fhir_server.main import create_app  # noqa: E402

SYNTHEA = ROOT.parent / "shared" / "data" / "synthea-r4-100.tgz"
BASE = "http://bench/fhir"
PHASES = ("parse", "query", "store", "include", "serialise", "other")


class Phases:
    """Exclusive CPU time per phase: time inside a nested phase is not counted in its parent."""

    def __init__(self) -> None:
        self.totals: dict[str, int] = defaultdict(int)
        self.stack: list[list[Any]] = []  # [phase, started_ns]

    def enter(self, phase: str) -> None:
        now = time.process_time_ns()
        if self.stack:
            top = self.stack[-1]
            self.totals[top[0]] += now - top[1]
        self.stack.append([phase, now])

    def leave(self) -> None:
        now = time.process_time_ns()
        phase, started = self.stack.pop()
        self.totals[phase] += now - started
        if self.stack:
            self.stack[-1][1] = now

    def wrap(self, phase: str, fn: Callable) -> Callable:
        if asyncio.iscoroutinefunction(fn):
            async def awrapped(*args: Any, **kwargs: Any) -> Any:
                self.enter(phase)
                try:
                    return await fn(*args, **kwargs)
                finally:
                    self.leave()
            return awrapped

        def wrapped(*args: Any, **kwargs: Any) -> Any:
            self.enter(phase)
            try:
                return fn(*args, **kwargs)
            finally:
                self.leave()
        return wrapped


def instrument(phases: Phases, backend: Any) -> None:
    executor._parse = phases.wrap("parse", executor._parse)
    executor._plans = phases.wrap("query", executor._plans)
    executor.included = phases.wrap("include", executor.included)
    executor._page_entries = phases.wrap("serialise", executor._page_entries)
    executor.bundle_bytes = phases.wrap("serialise", executor.bundle_bytes)
    executor.save_snapshot = phases.wrap("store", executor.save_snapshot)
    repository = backend.repository
    repository.find = phases.wrap("store", repository.find)
    repository.count = phases.wrap("store", repository.count)


def bundles(limit: int):
    with tarfile.open(SYNTHEA) as tar:
        count = 0
        for member in tar:
            if member.isfile() and member.name.endswith(".json"):
                yield orjson.loads(tar.extractfile(member).read())  # type: ignore[union-attr]
                count += 1
                if count >= limit:
                    return


async def load(client: httpx.AsyncClient, patients: int) -> tuple[int, float] | str:
    started = time.perf_counter()
    resources = 0
    for bundle in bundles(patients):
        response = await client.post("/", content=orjson.dumps(bundle), headers={"content-type": "application/fhir+json"})
        if response.status_code in (404, 405, 501):
            return f"the transaction endpoint is not available ({response.status_code}): {response.text[:200]}"
        if response.status_code != 200:
            return f"a Synthea transaction failed ({response.status_code}): {response.text[:300]}"
        resources += len(bundle.get("entry", []))
    return resources, time.perf_counter() - started


async def pick_values(client: httpx.AsyncClient) -> dict[str, str]:
    """Search values taken from the loaded data, so every query finds something."""
    patients = (await client.get("/Patient", params={"_count": "5", "_sort": "_id"})).json()["entry"]
    patient = patients[0]["resource"]
    observations = (await client.get("/Observation", params={"patient": patient["id"], "_count": "1"})).json()
    code = observations["entry"][0]["resource"]["code"]["coding"][0]
    encounters = (await client.get("/Encounter", params={"_sort": "date", "_count": "1"})).json()
    start = encounters["entry"][0]["resource"]["period"]["start"][:10]
    return {"family": patient["name"][0]["family"][:4], "patient": patient["id"], "code": f"{code['system']}|{code['code']}",
            "date": start}  # fmt: skip


def queries(v: dict[str, str]) -> list[tuple[str, str, list[tuple[str, str]]]]:
    return [
        ("Patient?name=", "Patient", [("name", v["family"])]),
        ("Patient?gender=&birthdate=lt", "Patient", [("gender", "female,male"), ("birthdate", "lt2000")]),
        ("Observation?patient=&code=", "Observation", [("patient", v["patient"]), ("code", v["code"])]),
        ("Observation?patient=&_sort=-date", "Observation", [("patient", v["patient"]), ("_sort", "-date")]),
        ("Encounter?date=ge", "Encounter", [("date", f"ge{v['date']}")]),
        ("Encounter?date=ge&_include=subject,participant", "Encounter",
         [("date", f"ge{v['date']}"), ("_include", "Encounter:subject"), ("_include", "Encounter:participant")]),
        ("Patient?_id=&_revinclude=Encounter:patient", "Patient", [("_id", v["patient"]), ("_revinclude", "Encounter:patient")]),
        ("Observation?subject:Patient.name=", "Observation", [("subject:Patient.name", v["family"])]),
        ("Patient?_has:Observation:patient:code=", "Patient", [("_has:Observation:patient:code", v["code"])]),
    ]  # fmt: skip


async def measure(backend: Any, phases: Phases, resource_type: str, query: list[tuple[str, str]], n: int) -> dict[str, Any]:
    ctx = RequestContext(base_url=BASE)
    body = await executor.search(backend, ctx, resource_type, query)  # warm caches and compiled extractors
    entries = len(orjson.loads(body).get("entry", []))
    per_request: list[dict[str, int]] = []
    walls = []
    for _ in range(n):
        phases.totals.clear()
        started = time.perf_counter()
        phases.enter("other")
        await executor.search(backend, ctx, resource_type, query)
        phases.leave()
        walls.append(time.perf_counter() - started)
        per_request.append(dict(phases.totals))
    out: dict[str, Any] = {"entries": entries}
    for phase in PHASES:
        out[phase] = statistics.median(r.get(phase, 0) for r in per_request) / 1e6
    out["cpu"] = statistics.median(sum(r.values()) for r in per_request) / 1e6
    out["cpu_no_store"] = statistics.median(sum(v for k, v in r.items() if k != "store") for r in per_request) / 1e6
    out["wall"] = statistics.median(walls) * 1e3
    out["rps"] = 1 / statistics.median(walls)
    return out


def table(rows: list[tuple[str, dict[str, Any]]]) -> str:
    head = f"{'query':48} {'hits':>4} " + " ".join(f"{p:>9}" for p in PHASES) + f" {'cpu-store':>9} {'wall':>8} {'req/s':>7}"
    lines = [head, "-" * len(head)]
    for name, r in rows:
        lines.append(
            f"{name:48} {r['entries']:>4} " + " ".join(f"{r[p]:>9.3f}" for p in PHASES)
            + f" {r['cpu_no_store']:>9.3f} {r['wall']:>8.2f} {r['rps']:>7.0f}"
        )
    lines.append("(times in ms, medians; hits = entries on the page; target: cpu-store <= 2 ms per page of 20)")
    return "\n".join(lines)


async def main(patients: int, n: int) -> int:
    if not SYNTHEA.exists():
        print(f"skipped: {SYNTHEA} is absent")
        return 0
    app = create_app(Settings(base_url=BASE))
    async with app.router.lifespan_context(app):
        backend = app.state.backend
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE, timeout=600) as client:
            loaded = await load(client, patients)
            if isinstance(loaded, str):
                print(f"skipped: {loaded}")
                return 0
            resources, seconds = loaded
            print(f"loaded {patients} Synthea patients: {resources} resources in {seconds:.1f} s "
                  f"({resources / seconds:.0f} resources/s, embedded store)")
            values = await pick_values(client)
        phases = Phases()
        instrument(phases, backend)
        rows = []
        for name, resource_type, query in queries(values):
            rows.append((name, await measure(backend, phases, resource_type, query, n)))
        print(table(rows))
        worst = max(r["cpu_no_store"] for _, r in rows)
        print(f"worst server CPU per page excluding the store: {worst:.3f} ms ({'meets' if worst <= 2 else 'misses'} the 2 ms target)")
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=20)
    parser.add_argument("--n", type=int, default=50)
    args = parser.parse_args()
    raise SystemExit(asyncio.run(main(args.patients, args.n)))

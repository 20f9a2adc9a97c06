"""Server CPU per operation, split by phase, for create, update and read (in-process, embedded store).

Each interaction is replayed step by step with the server's own functions, timing every phase
with ``time.process_time_ns`` (CPU) and ``time.perf_counter_ns`` (wall), minus the timers' own
cost:

* **parse**: ``formats.parse_json`` (``orjson.loads`` + the nesting-depth check) and building the
  ``FhirRequest`` (``http._to_fhir_request``'s work without Starlette), then ``check_body``;
* **validation**: ``validation.validate_resource`` (full structural R4 validation);
* **index**: ``search.index.extract_index`` (write-time search index);
* **version**: ``versioning.stamp`` (id + meta) and ``new_id``;
* **serialise**: ``orjson.dumps`` of the stamped resource (the stored and served bytes);
* **storage**: the repository calls on the embedded store (``Repository.current`` / ``save``);
* **response**: ``responses.write_response`` / ``read_response`` + ``http.to_http`` (Starlette Response).

Then whole operations, as batches: the interaction functions (``write.create``/``update``,
``read.read``), one request through the ASGI app called directly (a hand-built ASGI scope: the
server's CPU without any client), and through ``httpx.ASGITransport`` (adds the httpx client's
CPU). The gap between the sum of the phases and the direct ASGI call is the framework's
(Starlette/FastAPI routing, headers, middleware) plus dispatch.

Targets: server CPU <= 1 ms per create excluding the store; create >= 1,000/s on one worker
(see bench_http.py for the HTTP number). ``--cprofile`` adds the top functions of each
whole-request loop.

Usage: ``.venv/bin/python bench/profile_server.py [--n 2000] [--preload 1000] [--cprofile]``
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import io
import pstats
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import ROOT, machine, sample_patient, warn_if_busy, write_results  # noqa: E402

from fhir_server.api import formats  # noqa: E402
from fhir_server.api.http import to_http  # noqa: E402
from fhir_server.api.responses import read_response, write_response  # noqa: E402
from fhir_server.config import Settings  # noqa: E402
from fhir_server.context import RequestContext  # noqa: E402
from fhir_server.interactions import read as read_mod  # noqa: E402
from fhir_server.interactions import write  # noqa: E402
from fhir_server.interactions.backend import Backend  # noqa: E402
from fhir_server.interactions.messages import FhirRequest  # noqa: E402
from fhir_server.interactions.plans import check_body  # noqa: E402
from fhir_server.interactions.versioning import new_id, stamp  # noqa: E402
from fhir_server.main import create_app  # noqa: E402
from fhir_server.search.index import INDEX_KEYS, extract_index  # noqa: E402
from fhir_server.storage.embedded import open_embedded  # noqa: E402
from fhir_server.storage.repository import NewVersion, Repository, utc_now  # noqa: E402
from fhir_server.validation import validate_resource  # noqa: E402

BASE = "http://bench/fhir"
HEADERS = [(b"host", b"bench"), (b"accept", b"application/fhir+json"), (b"user-agent", b"bench")]
TARGET_CREATE_CPU_US = 1000.0


class Phases:
    """Accumulates CPU and wall nanoseconds per named phase; ``with phases("name"):`` times a block.

    Garbage collections that run inside a block are moved to a phase of their own (``gc.callbacks``).
    """

    GC = "garbage collection"

    def __init__(self) -> None:
        self.cpu: dict[str, int] = defaultdict(int)
        self.wall: dict[str, int] = defaultdict(int)
        self.order: list[str] = []
        self.overhead_cpu = self.overhead_wall = 0
        self._name = ""
        self._gc_cpu = self._gc_wall = 0
        self._gc_start = (0, 0)

    def _on_gc(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._gc_start = (time.process_time_ns(), time.perf_counter_ns())
        else:
            self._gc_cpu += time.process_time_ns() - self._gc_start[0]
            self._gc_wall += time.perf_counter_ns() - self._gc_start[1]

    def attach(self) -> None:
        gc.callbacks.append(self._on_gc)

    def detach(self) -> None:
        if self._on_gc in gc.callbacks:
            gc.callbacks.remove(self._on_gc)

    def calibrate(self, loops: int = 20000) -> None:
        for _ in range(loops):
            with self("_calibrate"):
                pass
        self.overhead_cpu = self.cpu.pop("_calibrate") // loops
        self.overhead_wall = self.wall.pop("_calibrate") // loops
        self.order.remove("_calibrate")

    def __call__(self, name: str) -> "Phases":
        self._name = name
        if name not in self.order:
            self.order.append(name)
        return self

    def __enter__(self) -> None:
        self._g = (self._gc_cpu, self._gc_wall)
        self._c = time.process_time_ns()
        self._w = time.perf_counter_ns()

    def __exit__(self, *exc: Any) -> None:
        w = time.perf_counter_ns()
        c = time.process_time_ns()
        gc_cpu, gc_wall = self._gc_cpu - self._g[0], self._gc_wall - self._g[1]
        self.wall[self._name] += w - self._w - self.overhead_wall - gc_wall
        self.cpu[self._name] += c - self._c - self.overhead_cpu - gc_cpu
        if gc_cpu or gc_wall:
            if self.GC not in self.order:
                self.order.append(self.GC)
            self.cpu[self.GC] += gc_cpu
            self.wall[self.GC] += gc_wall

    def per_op(self, n: int) -> dict[str, dict[str, float]]:
        return {k: {"cpu_us": self.cpu[k] / n / 1000, "wall_us": self.wall[k] / n / 1000} for k in self.order}


async def best_phases(replay: Callable[[int], Awaitable[dict]], n: int, rounds: int = 5) -> dict:
    """``replay`` in ``rounds`` rounds of n/rounds operations; per phase the best (lowest-CPU) round.

    The box is shared: the best round is the one least disturbed by other processes.
    """
    results = [await replay(max(1, n // rounds)) for _ in range(rounds)]
    merged: dict[str, dict[str, float]] = {}
    for name in results[0]:
        rows = [r[name] for r in results if name in r]
        best = min(rows, key=lambda v: v["cpu_us"])
        if name == Phases.GC:  # collections come every so many allocations: the mean, not the luckiest round
            best = {"cpu_us": statistics.fmean(v["cpu_us"] for v in rows), "wall_us": statistics.fmean(v["wall_us"] for v in rows)}
        merged[name] = {**best, "cpu_us_median": statistics.median(v["cpu_us"] for v in rows)}
    for r in results[1:]:
        for name, v in r.items():
            merged.setdefault(name, {**v, "cpu_us_median": v["cpu_us"]})
    return merged


async def batch(fn: Callable[[int], Awaitable[Any]], n: int, rounds: int = 5) -> dict[str, float]:
    """Per-call CPU and wall µs of ``await fn(i)`` over ``n`` calls in ``rounds`` rounds (median and best round)."""
    per = max(1, n // rounds)
    cpu, wall = [], []
    i = 0
    for _ in range(rounds):
        c0, w0 = time.process_time_ns(), time.perf_counter_ns()
        for _ in range(per):
            await fn(i)
            i += 1
        w1, c1 = time.perf_counter_ns(), time.process_time_ns()
        cpu.append((c1 - c0) / per / 1000)
        wall.append((w1 - w0) / per / 1000)
    return {"cpu_us": statistics.median(cpu), "cpu_us_best": min(cpu), "wall_us": statistics.median(wall),
            "ops_per_s": 1e6 / statistics.median(wall), "ops_per_s_best": 1e6 / min(wall)}


def fhir_request(method: str, path: str, body: bytes, headers: list[tuple[bytes, bytes]]) -> FhirRequest:
    """What ``http._to_fhir_request`` builds, without a Starlette request around it."""
    lowered = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in headers}
    request = FhirRequest(method, path, [], lowered, None, body)
    if body:
        formats.check_body_type(request.content_type)
        request.resource = formats.parse_json(body, 64)
    return request


# -- step-by-step replays ----------------------------------------------------------------------------
async def phases_create(backend: Backend, ctx: RequestContext, body: bytes, n: int) -> dict:
    p = Phases()
    p.calibrate()
    p.attach()
    headers = HEADERS + [(b"content-type", b"application/fhir+json"), (b"content-length", str(len(body)).encode())]
    for _ in range(n):
        with p("parse"):
            request = fhir_request("POST", "Patient", body, headers)
            resource = check_body("Patient", request.resource)
        with p("validation"):
            validate_resource(resource)
        with p("version (id, stamp)"):
            rid = new_id()
            ts = utc_now()
            stamped = stamp(resource, rid, 1, ts)
        with p("serialise (orjson.dumps)"):
            raw = orjson.dumps(stamped)
        with p("index (extract_index)"):
            index = extract_index(stamped)
        version = NewVersion("Patient", rid, 1, ts, raw, index, "POST", 0)
        with p("storage (Repository.save)"):
            await backend.repository.save(version)
        with p("response (write_response + to_http)"):
            from fhir_server.storage.repository import StoredVersion

            stored = StoredVersion("Patient", rid, 1, ts, False, raw, "POST")
            to_http(write_response(request, BASE, stored, 201))
    p.detach()
    return p.per_op(n)


async def phases_update(backend: Backend, ctx: RequestContext, body_for: Callable[[str], bytes], ids: list[str], n: int) -> dict:
    from fhir_server.storage.repository import StoredVersion

    p = Phases()
    p.calibrate()
    p.attach()
    for i in range(n):
        rid = ids[i % len(ids)]
        body = body_for(rid)
        headers = HEADERS + [(b"content-type", b"application/fhir+json"), (b"content-length", str(len(body)).encode())]
        with p("parse"):
            request = fhir_request("PUT", f"Patient/{rid}", body, headers)
            resource = check_body("Patient", request.resource, rid)
        with p("storage (Repository.current)"):
            previous = await backend.repository.current(ctx, "Patient", rid)
        with p("validation"):
            validate_resource(resource)
        with p("version (id, stamp)"):
            ts = utc_now()
            stamped = stamp(resource, rid, previous.vid + 1, ts)
        with p("serialise (orjson.dumps)"):
            raw = orjson.dumps(stamped)
        with p("index (extract_index)"):
            index = extract_index(stamped)
        version = NewVersion("Patient", rid, previous.vid + 1, ts, raw, index, "PUT", previous.vid)
        with p("storage (Repository.save)"):
            await backend.repository.save(version)
        with p("response (write_response + to_http)"):
            stored = StoredVersion("Patient", rid, version.vid, ts, False, raw, "PUT")
            to_http(write_response(request, BASE, stored, 200))
    p.detach()
    return p.per_op(n)


async def phases_read(backend: Backend, ctx: RequestContext, ids: list[str], n: int) -> dict:
    p = Phases()
    p.calibrate()
    p.attach()
    for i in range(n):
        rid = ids[i % len(ids)]
        with p("parse"):
            request = fhir_request("GET", f"Patient/{rid}", b"", HEADERS)
        with p("storage (Repository.current)"):
            found = await read_mod.read(backend, ctx, "Patient", rid)
        with p("response (read_response + to_http)"):
            to_http(read_response(request, found))
    p.detach()
    return p.per_op(n)


# -- whole requests --------------------------------------------------------------------------------
async def asgi_call(app: Any, method: str, path: str, body: bytes = b"") -> int:
    """One request through the ASGI app with a hand-built scope: the server's work, no client."""
    headers = list(HEADERS)
    if body:
        headers += [(b"content-type", b"application/fhir+json"), (b"content-length", str(len(body)).encode())]
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http",
        "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "", "headers": headers,
        "client": ("127.0.0.1", 50000), "server": ("bench", 80), "state": {},
    }
    pending = [{"type": "http.request", "body": body, "more_body": False}]
    status = 0

    async def receive() -> dict:
        return pending.pop() if pending else {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope, receive, send)
    return status


def expect(status: int, wanted: int, what: str) -> None:
    if status != wanted:
        raise SystemExit(f"{what} answered {status}, expected {wanted}")


def top_functions(profile: cProfile.Profile, limit: int = 25) -> str:
    out = io.StringIO()
    stats = pstats.Stats(profile, stream=out)
    stats.sort_stats("tottime").print_stats(limit)
    return out.getvalue()


async def main_async(args: argparse.Namespace) -> dict:
    import httpx

    settings = Settings(base_url=BASE)
    repository = Repository(open_embedded("bench"), INDEX_KEYS)
    app = create_app(settings, repository=repository)
    ctx = RequestContext(base_url=BASE)
    patient = sample_patient()
    body = orjson.dumps(patient)
    marker = "@@ID@@"
    update_template = orjson.dumps({"resourceType": "Patient", "id": marker, **{k: v for k, v in patient.items() if k != "resourceType"}})
    head, tail = update_template.split(marker.encode(), 1)

    def body_for(rid: str) -> bytes:
        return head + rid.encode() + tail

    results: dict[str, Any] = {"patient_bytes": len(body)}
    profiles: dict[str, str] = {}
    async with app.router.lifespan_context(app):
        backend: Backend = app.state.backend
        ids = [(await write.create(backend, ctx, "Patient", orjson.loads(body))).stored.id for _ in range(args.preload)]
        # warm-up: compile validators and extractors, fill caches
        for _ in range(50):
            await asgi_call(app, "POST", "/fhir/Patient", body)
            await asgi_call(app, "GET", f"/fhir/Patient/{ids[0]}")
        gc.collect()

        n = args.n
        print(f"phases over {n} operations each ({len(body)}-byte Synthea Patient; {args.preload} preloaded) ...", flush=True)
        results["phases"] = {
            "create": await best_phases(lambda k: phases_create(backend, ctx, body, k), n),
            "update": await best_phases(lambda k: phases_update(backend, ctx, body_for, ids, k), n),
            "read": await best_phases(lambda k: phases_read(backend, ctx, ids, k), n),
        }

        print("whole operations ...", flush=True)
        whole: dict[str, dict[str, Any]] = {"create": {}, "update": {}, "read": {}}

        async def create_interaction(i: int) -> None:
            await write.create(backend, ctx, "Patient", orjson.loads(body))

        async def update_interaction(i: int) -> None:
            rid = ids[i % len(ids)]
            await write.update(backend, ctx, "Patient", rid, orjson.loads(body_for(rid)))

        async def read_interaction(i: int) -> None:
            await read_mod.read(backend, ctx, "Patient", ids[i % len(ids)])

        whole["create"]["interaction"] = await batch(create_interaction, n)
        whole["update"]["interaction"] = await batch(update_interaction, n)
        whole["read"]["interaction"] = await batch(read_interaction, n)

        async def create_asgi(i: int) -> None:
            expect(await asgi_call(app, "POST", "/fhir/Patient", body), 201, "POST /Patient")

        async def update_asgi(i: int) -> None:
            rid = ids[i % len(ids)]
            expect(await asgi_call(app, "PUT", f"/fhir/Patient/{rid}", body_for(rid)), 200, "PUT /Patient/id")

        async def read_asgi(i: int) -> None:
            expect(await asgi_call(app, "GET", f"/fhir/Patient/{ids[i % len(ids)]}"), 200, "GET /Patient/id")

        for name, fn in (("create", create_asgi), ("update", update_asgi), ("read", read_asgi)):
            whole[name]["asgi_direct"] = await batch(fn, n)
            if args.cprofile:
                profile = cProfile.Profile()
                profile.enable()
                for i in range(min(n, 1000)):
                    await fn(i)
                profile.disable()
                profiles[name] = top_functions(profile)

        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as client:
            json_headers = {"Content-Type": "application/fhir+json"}

            async def create_httpx(i: int) -> None:
                expect((await client.post("/Patient", content=body, headers=json_headers)).status_code, 201, "POST")

            async def update_httpx(i: int) -> None:
                rid = ids[i % len(ids)]
                answer = await client.put(f"/Patient/{rid}", content=body_for(rid), headers=json_headers)
                expect(answer.status_code, 200, "PUT")

            async def read_httpx(i: int) -> None:
                expect((await client.get(f"/Patient/{ids[i % len(ids)]}")).status_code, 200, "GET")

            whole["create"]["httpx_asgi"] = await batch(create_httpx, n)
            whole["update"]["httpx_asgi"] = await batch(update_httpx, n)
            whole["read"]["httpx_asgi"] = await batch(read_httpx, n)
        import floor_app

        floor_app.BODY = (await read_mod.read(backend, ctx, "Patient", ids[0])).raw or b""

        async def floor_asgi(i: int) -> None:
            expect(await asgi_call(floor_app.app, "GET", f"/fhir/Patient/{ids[i % len(ids)]}"), 200, "floor GET")

        whole["floor"] = {"asgi_direct": await batch(floor_asgi, n)}
        results["whole"] = whole
        results["store_patients_at_end"] = await repository.db["Patient"].count_documents({})
    results["cprofile_top"] = profiles
    return results


def report(results: dict) -> str:
    lines = []
    for op in ("create", "update", "read"):
        phases = results["phases"][op]
        total = sum(v["cpu_us"] for v in phases.values())
        storage = sum(v["cpu_us"] for k, v in phases.items() if k.startswith("storage"))
        whole = results["whole"][op]
        lines += [f"**{op}** (µs per operation)", "", "| phase | CPU µs | wall µs | share of CPU |", "|---|---:|---:|---:|"]
        for name, v in phases.items():
            lines.append(f"| {name} | {v['cpu_us']:,.1f} | {v['wall_us']:,.1f} | {v['cpu_us'] / total:.0%} |")
        lines.append(f"| **sum of phases** | **{total:,.1f}** | | |")
        lines.append(f"| sum excluding storage | {total - storage:,.1f} | | |")
        lines += ["", "| whole operation | CPU µs (best round) | CPU µs (median round) | ops/s (best round) |", "|---|---:|---:|---:|"]
        labels = {"interaction": f"interaction function (`{'read.read' if op == 'read' else 'write.' + op}`)",
                  "asgi_direct": "whole request, ASGI app called directly", "httpx_asgi": "whole request via httpx.ASGITransport"}
        for key, label in labels.items():
            v = whole[key]
            lines.append(f"| {label} | {v['cpu_us_best']:,.1f} | {v['cpu_us']:,.1f} | {v['ops_per_s_best']:,.0f} |")
        if op == "read":
            v = results["whole"]["floor"]["asgi_direct"]
            lines.append(f"| floor: bare FastAPI route returning the same bytes, ASGI app called directly | {v['cpu_us_best']:,.1f} | "
                         f"{v['cpu_us']:,.1f} | {v['ops_per_s_best']:,.0f} |")
        direct = whole["asgi_direct"]["cpu_us_best"]
        lines.append(f"| framework + dispatch (direct ASGI − sum of phases) | {direct - total:,.1f} | | |")
        lines.append(f"| **server CPU excluding storage (direct ASGI − storage)** | **{direct - storage:,.1f}** | | |")
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description="server CPU per operation, split by phase")
    parser.add_argument("--n", type=int, default=2000, help="operations per measurement (default 2000)")
    parser.add_argument("--preload", type=int, default=1000, help="Patients created first (default 1000)")
    parser.add_argument("--wait-idle", type=float, default=60.0, help="wait up to this many seconds for other processes to quieten (default 60)")
    parser.add_argument("--cprofile", action="store_true", help="also print the top functions of each whole request")
    args = parser.parse_args()
    started = time.perf_counter()
    host = machine(args.wait_idle)
    warn_if_busy(host)
    results = asyncio.run(main_async(args))
    create = results["phases"]["create"]
    storage = sum(v["cpu_us"] for k, v in create.items() if k.startswith("storage"))
    excl = results["whole"]["create"]["asgi_direct"]["cpu_us_best"] - storage
    results["targets"] = {
        "create_cpu_excluding_store_us": {"target": f"<= {TARGET_CREATE_CPU_US:.0f}", "measured": round(excl, 1),
                                          "met": excl <= TARGET_CREATE_CPU_US},
        "create_per_s_in_process": {"target": ">= 1000", "measured": round(results["whole"]["create"]["asgi_direct"]["ops_per_s_best"]),
                                    "met": results["whole"]["create"]["asgi_direct"]["ops_per_s_best"] >= 1000},
    }
    meta = {**host, "n": args.n, "preload": args.preload, "store": "embedded (mongomock)",
            "seconds": round(time.perf_counter() - started, 1)}
    path = write_results("profile", {"meta": meta, **results})
    print()
    print(report(results))
    for name, text in results["cprofile_top"].items():
        print(f"--- cProfile, whole {name} request (top by own time) ---")
        print("\n".join(text.splitlines()[:40]))
    for name, t in results["targets"].items():
        print(f"target {name}: {t['target']}, measured {t['measured']:,} -> {'met' if t['met'] else 'MISSED'}")
    print(f"({meta['date']}, {meta['cpus']} cores, {meta['cpu_model']}; {meta['seconds']} s; results: {path.relative_to(ROOT)})")


if __name__ == "__main__":
    main()

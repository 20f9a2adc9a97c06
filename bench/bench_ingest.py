"""Ingest rate of the 100 Synthea transaction Bundles through ``POST [base]`` (transaction).

Reads ``../shared/data/synthea-r4-100.tgz`` (skips cleanly, exit 0, when it is absent); every
whole Bundle is sent as ``fhir-server load`` sends it (with the ``Bundle.identifier`` it derives
from the file, ``Prefer: return=minimal``); the 100-entry transactions carry no identifier. Each pass on
a fresh store; the in-process ones through the ASGI app (``httpx.ASGITransport``) with the served
process's garbage-collection policy:

1. **whole bundles**: the 100 patient Bundles as they are (61 to 1,244 POST entries with
   ``urn:uuid:`` fullUrls, ~28k resources), one after the other: resources/s, per-bundle times;
2. **CPU split** (on ``--split-bundles`` of them): exclusive CPU per server function, by wrapping
   the server's own functions (:mod:`_phases`): parse (body JSON + depth check, entry reading),
   validation, index extraction, reference rewriting, version stamping + serialisation, storage
   (``Repository.apply`` ...), response Bundle, and the rest (HTTP adapter, framework, planning);
3. **100-entry transactions**: the same resources cut into transactions of ``--chunk`` entries
   (references to resources of earlier chunks rewritten, client side and untimed, to the ids the
   server assigned): p50/p95/max latency and resources/s;
4. with ``--http``: the whole bundles over loopback HTTP to ``uvicorn
   fhir_server.main:app_from_env --factory`` (1 worker), once per ``--http-concurrency`` value
   (Bundles in flight), with the server process's CPU per resource;
5. with ``--http``: the 100-entry transactions over loopback HTTP, back to back (the server never
   idle), and those of the first 20 Bundles paced, one every ``--paced-every-ms`` (the latency of
   a server that is not kept busy). The targets are then judged on the HTTP passes (the p50 on
   the back-to-back one).

Store: the embedded engine (in-process; every write is applied in memory when the call returns,
nothing is durable), or MongoDB when ``FHIR_MONGODB_URI`` is set (a throw-away database
``fhir_bench_<random>`` is created and dropped; the write concern is the client's default:
w:1 on a standalone, majority on a replica set with MongoDB >= 5.0; transactions use sessions
where the deployment has them). ``--cprofile`` prints the top functions of a whole-bundle pass.

Targets: >= 3,000 resources/s; 100-entry transaction p50 <= 30 ms.

Usage: ``.venv/bin/python bench/bench_ingest.py [--bundles 100] [--split-bundles 20] [--chunk 100] [--http] [--http-concurrency 1,4] [--paced-every-ms 100] [--cprofile]``
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import gc
import io
import os
import pstats
import re
import statistics
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    ROOT, SYNTHEA, cpu_seconds, free_port, machine, percentile, start_uvicorn, stop, wait_ready, warn_if_busy, write_results,
)

BASE = "http://bench/fhir"
TARGET_RPS = 3000
TARGET_P50_MS = 30.0
PACED_BUNDLES = 20
"""Bundles whose 100-entry transactions the paced pass sends (~60 transactions)."""
HEADERS = {"Content-Type": "application/fhir+json", "Prefer": "return=minimal"}
"""What ``fhir-server load`` sends: a loader needs each entry's status and location, not the resource back."""
_URN_REF = re.compile(rb'"reference":"(urn:uuid:[^"]+)"')


# -- data --------------------------------------------------------------------------------------------
Bundles = list[tuple[str, bytes, int]]


def load_bundles(limit: int, identified: bool = True) -> Bundles:
    """(name, body, entry count) of the first ``limit`` Synthea Bundles, each as ``fhir-server
    load`` sends it: with the ``Bundle.identifier`` the loader derives from the file's bytes (so
    the server records the transaction's outcome and would answer a resend from it); without
    one when not ``identified``.

    Only the bytes are kept (bytes are not containers the garbage collector examines): the parsed
    Bundles, ~10 million Python objects, would otherwise sit in the benchmark's heap and be
    examined by the server's full collections, which the served process never does.
    """
    import tarfile

    from fhir_server.loading.bundles import plan_file

    out = []
    with tarfile.open(SYNTHEA) as tar:
        for member in tar:
            if member.isfile() and member.name.endswith(".json"):
                (post,) = plan_file(tar.extractfile(member).read(), "json").posts  # type: ignore[union-attr]
                if not identified:
                    del post.bundle["identifier"]
                out.append((member.name, orjson.dumps(post.bundle), post.size))
                if len(out) >= limit:
                    break
    return out


def chunks_of(bundle: dict[str, Any], size: int) -> list[list[dict[str, Any]]]:
    entries = bundle.get("entry", [])
    return [entries[i:i + size] for i in range(0, len(entries), size)]


def chunk_body(entries: list[dict[str, Any]], assigned: dict[str, str]) -> bytes:
    """A transaction of ``entries``; references to earlier chunks' fullUrls become the assigned ``Type/id``."""
    own = {e["fullUrl"] for e in entries}
    body = orjson.dumps({"resourceType": "Bundle", "type": "transaction", "entry": entries})

    def swap(match: re.Match[bytes]) -> bytes:
        urn = match.group(1).decode()
        if urn in own or urn not in assigned:
            return match.group(0)
        return b'"reference":"' + assigned[urn].encode() + b'"'

    return _URN_REF.sub(swap, body)


# -- the app on a fresh store --------------------------------------------------------------------------
def store_settings() -> tuple[Any, dict[str, Any]]:
    from fhir_server.config import Settings

    uri = os.environ.get("FHIR_MONGODB_URI")
    settings = Settings(base_url=BASE)
    if not uri:
        return settings, {"store": "embedded (mongomock, in-process)",
                          "write_concern": "in-process: applied in memory when the call returns (not durable)"}
    database = f"fhir_bench_{uuid.uuid4().hex[:10]}"
    return replace(settings, mongodb_uri=uri, database=database), {"store": "MongoDB", "database": database}


@contextlib.asynccontextmanager
async def fresh_app() -> AsyncIterator[tuple[Any, dict[str, Any]]]:
    """The app on a fresh store, with the served process's garbage-collection policy
    (``create_app(tune_gc=True)``, as ``app_from_env`` does); the previous pass's heap is
    unfrozen and collected first, so passes do not inherit each other's garbage."""
    from fhir_server.main import create_app

    gc.unfreeze()
    gc.collect()
    settings, info = store_settings()
    app = create_app(settings, tune_gc=True)
    async with app.router.lifespan_context(app):
        repository = app.state.backend.repository
        if repository.client is not None:
            concern = repository.client.write_concern.document
            info["write_concern"] = concern or "client default (w:1 standalone; majority on a replica set, MongoDB >= 5.0)"
            info["transactions"] = "multi-document (session)" if repository.supports_transactions else "compensating (no sessions)"
        try:
            yield app, info
        finally:
            if repository.client is not None:
                await repository.client.drop_database(settings.database)


async def post_all(client: Any, bundles: Bundles) -> dict[str, Any]:
    """POST each Bundle in turn; wall/CPU totals and per-request milliseconds."""
    times = []
    cpu0, wall0 = time.process_time(), time.perf_counter()
    resources = 0
    for _, body, count in bundles:
        start = time.perf_counter()
        answer = await client.post("/", content=body, headers=HEADERS)
        times.append((time.perf_counter() - start) * 1000)
        if answer.status_code != 200:
            raise SystemExit(f"transaction answered {answer.status_code}: {answer.text[:1000]}")
        resources += count
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    times_sorted = sorted(times)
    return {"transactions": len(bundles), "resources": resources, "wall_s": wall, "cpu_s": cpu,
            "resources_per_s": resources / wall, "cpu_us_per_resource": cpu / resources * 1e6,
            "p50_ms": percentile(times_sorted, 0.50), "p95_ms": percentile(times_sorted, 0.95),
            "max_ms": times_sorted[-1], "mean_ms": statistics.fmean(times)}


# -- the passes ----------------------------------------------------------------------------------------
async def whole_bundles(bundles: Bundles) -> dict[str, Any]:
    import httpx

    async with fresh_app() as (app, info):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE, timeout=600) as client:
            result = await post_all(client, bundles)
    return {**result, "store_info": info}


def split_targets() -> list[tuple[str, Any, str]]:
    from fhir_server.api import formats, http
    from fhir_server.interactions import bundle_entries, bundle_response, references, rendering, versioning
    from fhir_server.search import index
    from fhir_server.storage.repository import Repository
    import fhir_server.validation as validation

    storage = [("storage", Repository, name) for name in ("apply", "current", "current_many", "find", "save", "ensure_type_indexes")]
    return [
        ("parse: body JSON (orjson.loads + depth check)", formats, "parse_json"),
        ("parse: bundle entries", bundle_entries, "parse_entry"),
        ("validation", validation, "validate_resource"),
        ("index extraction", index, "extract_index"),
        ("reference rewriting", references.ReferenceRewriter, "rewrite_links"),  # the places validation found
        ("reference rewriting", references.ReferenceRewriter, "rewrite"),  # patch documents: walked whole
        ("version: stamp + orjson.dumps", versioning, "next_version"),
        *storage,
        ("response Bundle", bundle_response, "response_entry"),
        ("response Bundle", rendering, "bundle_bytes"),
        ("HTTP response (to_http)", http, "to_http"),
        ("_total: http.handle", http, "handle"),
    ]


async def cpu_split(bundles: Bundles) -> dict[str, Any]:
    import httpx

    from _phases import Instrument

    with Instrument(split_targets()) as probe:  # before the app exists: its route must take the wrapped handle
        async with fresh_app() as (app, _):
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE, timeout=600) as client:
                probe.cpu.clear(), probe.wall.clear(), probe.calls.clear()
                cpu0 = time.process_time()
                result = await post_all(client, bundles)
                cpu_all = time.process_time() - cpu0
    phases = probe.summary()
    handle = phases.pop("_total: http.handle")
    resources = result["resources"]
    measured = sum(v["cpu_ms"] for v in phases.values()) + handle["cpu_ms"]  # handle holds the exclusive rest
    rows = {name: {"cpu_us_per_resource": v["cpu_ms"] * 1000 / resources, "share": v["cpu_ms"] / measured,
                   "calls": v["calls"]} for name, v in phases.items()}
    rows["rest of the server (HTTP adapter, routing, planning, Python glue)"] = {
        "cpu_us_per_resource": handle["cpu_ms"] * 1000 / resources, "share": handle["cpu_ms"] / measured, "calls": handle["calls"]}
    outside = cpu_all * 1000 - measured
    return {"resources": resources, "bundles": len(bundles), "server_cpu_us_per_resource": measured * 1000 / resources,
            "outside_server_cpu_us_per_resource": outside * 1000 / resources, "phases": rows,
            "note": "exclusive CPU per wrapped function; 'outside' is the httpx client, ASGI framework above the route and the bench loop"}


async def chunked(bundles: Bundles, size: int, limit: int | None) -> dict[str, Any]:
    """Transactions of ``size`` entries, in-process (see :func:`post_chunks`)."""
    import httpx

    async with fresh_app() as (app, info):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE, timeout=600) as client:
            result = await post_chunks(client, bundles, size, limit)
    return {**result, "store_info": info}


async def post_chunks(client: Any, bundles: Bundles, size: int, limit: int | None, every: float = 0.0) -> dict[str, Any]:
    """Transactions of ``size`` entries, sent in order, one at a time; later chunks refer to what
    earlier ones created (rewritten client side, untimed). Latency is per transaction. ``every``
    seconds > 0 starts one transaction per period (a server that is not kept busy) instead of
    sending each as soon as the previous one is answered."""
    times: list[float] = []
    resources = 0
    next_start = time.perf_counter()
    for _, raw, _ in bundles:
        assigned: dict[str, str] = {}
        for entries in chunks_of(orjson.loads(raw), size):
            if limit is not None and len(times) >= limit:
                break
            body = chunk_body(entries, assigned)
            if every:
                await asyncio.sleep(max(0.0, next_start - time.perf_counter()))
                next_start = time.perf_counter() + every
            start = time.perf_counter()
            answer = await client.post("/", content=body, headers=HEADERS)
            elapsed = time.perf_counter() - start
            if answer.status_code != 200:
                raise SystemExit(f"{size}-entry transaction answered {answer.status_code}: {answer.text[:1000]}")
            times.append(elapsed * 1000)
            resources += len(entries)
            for entry, reply in zip(entries, orjson.loads(answer.content)["entry"]):
                location = reply["response"]["location"]
                assigned[entry["fullUrl"]] = "/".join(location.split("/")[-4:-2])
    ordered = sorted(times)
    return {"chunk": size, "transactions": len(times), "resources": resources,
            "p50_ms": percentile(ordered, 0.50), "p95_ms": percentile(ordered, 0.95), "max_ms": ordered[-1] if ordered else None,
            "resources_per_s": resources / (sum(times) / 1000) if times else None}


async def profiled(bundles: Bundles) -> str:
    import httpx

    async with fresh_app() as (app, _):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE, timeout=600) as client:
            profile = cProfile.Profile()
            profile.enable()
            await post_all(client, bundles)
            profile.disable()
    out = io.StringIO()
    stats = pstats.Stats(profile, stream=out)
    stats.sort_stats("tottime").print_stats(30)
    stats.sort_stats("cumulative").print_stats(40)
    return out.getvalue()


PIN: set[int] | None = None
"""``--pin-cpu``: the CPU the served process and this process are both kept on during the HTTP passes."""


@contextlib.contextmanager
def served() -> Iterator[tuple[str, int]]:
    """A served process (``uvicorn fhir_server.main:app_from_env --factory``, 1 worker) on a fresh
    store: (base URL, pid). With :data:`PIN`, it and this process share that one CPU meanwhile."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "FHIR_SEED_ON_START"}
    env["FHIR_BASE_URL"] = base = f"http://127.0.0.1:{port}/fhir"
    database = None
    if env.get("FHIR_MONGODB_URI"):
        database = env["FHIR_MONGODB_DATABASE"] = f"fhir_bench_{uuid.uuid4().hex[:10]}"
    proc = start_uvicorn("fhir_server.main:app_from_env", port, factory=True, env=env, cpus=PIN)
    own = os.sched_getaffinity(0)
    try:
        wait_ready(f"{base}/metadata", proc)
        if PIN:
            os.sched_setaffinity(0, PIN)
        yield base, proc.pid
    finally:
        os.sched_setaffinity(0, own)
        stop(proc)
        if database:
            from pymongo import MongoClient

            MongoClient(env["FHIR_MONGODB_URI"]).drop_database(database)


def on_served(run: Callable[[str], Awaitable[dict[str, Any]]]) -> dict[str, Any]:
    """``run(base URL)`` against a fresh served process, with that process's CPU per resource."""
    with served() as (base, pid):
        cpu0 = cpu_seconds(pid)
        result = asyncio.run(run(base))
        result["server_cpu_us_per_resource"] = (cpu_seconds(pid) - cpu0) / result["resources"] * 1e6
    return result


def over_http(bundles: Bundles, concurrency: int) -> dict[str, Any]:
    """The whole Bundles over loopback HTTP, ``concurrency`` in flight at once (``fhir-server
    load``'s default is 4)."""
    return on_served(lambda base: _post_concurrently(base, bundles, concurrency))


def chunked_over_http(bundles: Bundles, size: int, limit: int | None, every: float = 0.0) -> dict[str, Any]:
    """Transactions of ``size`` entries over loopback HTTP, one at a time (see :func:`post_chunks`)."""
    import httpx

    async def run(base: str) -> dict[str, Any]:
        async with httpx.AsyncClient(base_url=base, timeout=600) as client:
            return await post_chunks(client, bundles, size, limit, every)

    return on_served(run)


async def _post_concurrently(base: str, bundles: Bundles, concurrency: int) -> dict[str, Any]:
    import httpx

    times: list[float] = []
    queue = list(reversed(bundles))

    async def worker(client: httpx.AsyncClient) -> None:
        while queue:
            _, raw, _ = queue.pop()
            start = time.perf_counter()
            answer = await client.post("/", content=raw, headers=HEADERS)
            times.append((time.perf_counter() - start) * 1000)
            if answer.status_code != 200:
                raise SystemExit(f"over HTTP: transaction answered {answer.status_code}: {answer.text[:500]}")

    limits = httpx.Limits(max_connections=concurrency)
    wall0 = time.perf_counter()
    async with httpx.AsyncClient(base_url=base, timeout=600, limits=limits) as client:
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
    wall = time.perf_counter() - wall0
    resources = sum(count for _, _, count in bundles)
    ordered = sorted(times)
    return {"transactions": len(times), "resources": resources, "wall_s": wall, "resources_per_s": resources / wall,
            "concurrency": concurrency, "p50_ms": percentile(ordered, 0.5), "p95_ms": percentile(ordered, 0.95),
            "max_ms": ordered[-1]}


def targets(results: dict[str, Any]) -> dict[str, Any]:
    """The issue's targets, judged on the HTTP passes when they ran (the rate: the most Bundles
    in flight), else on the in-process ones."""
    rate = max(results["http"], key=lambda r: r["concurrency"]) if results.get("http") else results["whole"]
    latency = results.get("http_chunked") or results["chunked"]
    where = "over HTTP" if results.get("http") else "in-process"
    return {
        "resources_per_s": {"target": f">= {TARGET_RPS:,}", "measured": round(rate["resources_per_s"]), "judged": where,
                            "met": rate["resources_per_s"] >= TARGET_RPS},
        "transaction_100_p50_ms": {"target": f"<= {TARGET_P50_MS:g}", "measured": round(latency["p50_ms"], 1), "judged": where,
                                   "met": latency["p50_ms"] <= TARGET_P50_MS},
    }


# -- report --------------------------------------------------------------------------------------------
def report(results: dict[str, Any]) -> str:
    lines = ["| pass | transactions | resources | resources/s | p50 ms | p95 ms | max ms | server CPU µs/resource |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    names = {"whole": "100 Synthea Bundles, in-process (ASGI)", "chunked": "{chunk}-entry transactions, in-process (ASGI)",
             "http": "100 Synthea Bundles over loopback HTTP, {concurrency} in flight",
             "http_chunked": "{chunk}-entry transactions over loopback HTTP",
             "http_paced": "{chunk}-entry transactions over loopback HTTP, one every {every_ms:g} ms ({bundles} Bundles)"}
    rows = [(key, results.get(key)) for key in ("whole", "chunked")]
    rows += [("http", r) for r in results.get("http", [])]
    rows += [("http_chunked", results.get("http_chunked")), ("http_paced", results.get("http_paced"))]
    for key, r in rows:
        if not r:
            continue
        name = names[key].format(chunk=r.get("chunk", ""), concurrency=r.get("concurrency", ""),
                                 every_ms=r.get("every_ms", 0), bundles=r.get("bundles", ""))
        cpu = r.get("server_cpu_us_per_resource")
        lines.append(f"| {name} | {r['transactions']} | {r['resources']:,} | {r['resources_per_s']:,.0f} | "
                     f"{r['p50_ms']:,.1f} | {r['p95_ms']:,.1f} | {r['max_ms']:,.1f} | {'' if cpu is None else f'{cpu:,.0f}'} |")
    split = results.get("split")
    if split:
        lines += ["", f"Server CPU per resource, split (exclusive, {split['resources']:,} resources of {split['bundles']} Bundles):", "",
                  "| phase | CPU µs / resource | share |", "|---|---:|---:|"]
        for name, v in sorted(split["phases"].items(), key=lambda kv: -kv[1]["cpu_us_per_resource"]):
            lines.append(f"| {name} | {v['cpu_us_per_resource']:,.1f} | {v['share']:.0%} |")
        lines.append(f"| **server total** | **{split['server_cpu_us_per_resource']:,.1f}** | 100% |")
        lines.append(f"| (outside the route: httpx client, ASGI stack, loop) | {split['outside_server_cpu_us_per_resource']:,.1f} | |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description="ingest rate of the Synthea transaction Bundles")
    parser.add_argument("--bundles", type=int, default=100, help="Synthea Bundles to use (default all 100)")
    parser.add_argument("--split-bundles", type=int, default=20, help="Bundles for the CPU split pass (default 20; 0 skips)")
    parser.add_argument("--chunk", type=int, default=100, help="entries per transaction in the chunked pass (default 100)")
    parser.add_argument("--max-chunks", type=int, default=None, help="stop the chunked pass after this many transactions")
    parser.add_argument("--http", action="store_true", help="also ingest over loopback HTTP (uvicorn, 1 worker), the passes the targets judge")
    parser.add_argument("--http-concurrency", default="1,4",
                        help="Bundles in flight at once over HTTP, one pass each (default 1,4; fhir-server load sends 4)")
    parser.add_argument("--paced-every-ms", type=float, default=100.0,
                        help="with --http, also send the 100-entry transactions of the first Bundles one per this period (0 skips)")
    parser.add_argument("--pin-cpu", type=int, default=None,
                        help="keep the served process and the client on this one CPU during the HTTP passes (see bench/README.md)")
    parser.add_argument("--wait-idle", type=float, default=60.0, help="wait up to this many seconds for other processes to quieten (default 60)")
    parser.add_argument("--cprofile", action="store_true", help="print the top functions of a whole-bundle pass (on 10 Bundles)")
    args = parser.parse_args()
    global PIN
    PIN = {args.pin_cpu} if args.pin_cpu is not None else None
    if not SYNTHEA.exists():
        print(f"skipped: {SYNTHEA} is absent (see /work/shared/data/README.md)")
        return
    started = time.perf_counter()
    host = machine(args.wait_idle)
    warn_if_busy(host)
    bundles = load_bundles(args.bundles)
    total = sum(count for _, _, count in bundles)
    print(f"{len(bundles)} Synthea Bundles, {total:,} resources, {sum(len(r) for _, r, _ in bundles) / 1e6:.0f} MB", flush=True)

    results: dict[str, Any] = {}
    print("1. whole Bundles, in-process ...", flush=True)
    results["whole"] = asyncio.run(whole_bundles(bundles))
    print(f"   {results['whole']['resources_per_s']:,.0f} resources/s", flush=True)
    if args.split_bundles:
        print(f"2. CPU split on {args.split_bundles} Bundles ...", flush=True)
        results["split"] = asyncio.run(cpu_split(bundles[: args.split_bundles]))
    print(f"3. {args.chunk}-entry transactions ...", flush=True)
    results["chunked"] = asyncio.run(chunked(bundles, args.chunk, args.max_chunks))
    print(f"   p50 {results['chunked']['p50_ms']:.1f} ms, p95 {results['chunked']['p95_ms']:.1f} ms", flush=True)
    if args.http:
        results["http"] = []
        for concurrency in (int(c) for c in args.http_concurrency.split(",")):
            print(f"4. whole Bundles over HTTP, {concurrency} in flight ...", flush=True)
            results["http"].append(over_http(bundles, concurrency))
            print(f"   {results['http'][-1]['resources_per_s']:,.0f} resources/s, server CPU "
                  f"{results['http'][-1]['server_cpu_us_per_resource']:,.0f} µs/resource", flush=True)
        print(f"5. {args.chunk}-entry transactions over HTTP ...", flush=True)
        results["http_chunked"] = chunked_over_http(bundles, args.chunk, args.max_chunks)
        print(f"   p50 {results['http_chunked']['p50_ms']:.1f} ms, p95 {results['http_chunked']['p95_ms']:.1f} ms", flush=True)
        if args.paced_every_ms:
            paced = bundles[:PACED_BUNDLES]
            print(f"6. {args.chunk}-entry transactions over HTTP, one every {args.paced_every_ms:g} ms ...", flush=True)
            results["http_paced"] = {**chunked_over_http(paced, args.chunk, args.max_chunks, args.paced_every_ms / 1000),
                                     "every_ms": args.paced_every_ms, "bundles": len(paced)}
            print(f"   p50 {results['http_paced']['p50_ms']:.1f} ms, p95 {results['http_paced']['p95_ms']:.1f} ms", flush=True)
    if args.cprofile:
        results["cprofile"] = asyncio.run(profiled(bundles[:10]))

    store = results["whole"]["store_info"]
    results["targets"] = targets(results)
    meta = {**host, "bundles": len(bundles), "resources": total, "seconds": round(time.perf_counter() - started, 1), **store,
            "http_pinned_to_cpu": args.pin_cpu}
    path = write_results("ingest", {"meta": meta, **results})
    if args.cprofile:
        print(results["cprofile"])
    print()
    print(report(results))
    print()
    print(f"store: {store['store']}; write concern: {store['write_concern']}")
    if args.pin_cpu is not None:
        print(f"HTTP passes: the served process and the client shared CPU {args.pin_cpu}")
    for name, t in results["targets"].items():
        print(f"target {name}: {t['target']}, measured {t['measured']:,} ({t['judged']}) -> {'met' if t['met'] else 'MISSED'}")
    print(f"({meta['date']}, {meta['cpus']} cores, {meta['cpu_model']}; {meta['seconds']} s; results: {path.relative_to(ROOT)})")


if __name__ == "__main__":
    main()

"""HTTP throughput and latency of the FHIR server against the FastAPI floor, over loopback.

Starts on 127.0.0.1 ports, each under uvicorn with 1 worker and no access log:

* the **floor**: ``bench/floor_app.py``, a bare FastAPI route returning a Patient (the very bytes
  the FHIR server serves for a preloaded Patient) as ``Response(bytes)``;
* the **FHIR server** on the embedded store (``uvicorn fhir_server.main:app_from_env --factory``).

Preloads ``--n`` Patients through the API, then drives each scenario for ``--duration`` seconds
after a ``--warmup``: ``floor`` (GET the bare route), ``read`` (GET Patient/{random preloaded id}),
``update`` (PUT of a ~3.3 KB Synthea Patient to a random preloaded id) and ``create`` (POST of the
same Patient). The load comes from **wrk** (Debian package ``wrk``, Lua script ``bench/wrk/fhir.lua``)
in its own process, or, without wrk, from ``bench/loadgen.py`` (asyncio raw sockets, own process).

Reports req/s, p50/p99 latency, the ratio to the floor and the server's CPU per request (from
/proc), prints a Markdown table and writes ``bench/results/http-<timestamp>.json``.
Runs about 75 s with the defaults.

Usage: ``.venv/bin/python bench/bench_http.py [--n 1000] [--duration 10] [--warmup 3] [--connections 16]``
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    BENCH, PYTHON, ROOT, cpu_busy_total, cpu_seconds, free_port, machine, sample_patient, start_uvicorn, stop, wait_ready, warn_if_busy,
    write_results,
)

SCENARIOS = ("floor", "read", "update", "create")
TARGET_READ_VS_FLOOR = 0.30


def preload(base: str, patient: dict[str, Any], n: int) -> tuple[list[str], float]:
    """Create ``n`` Patients through the API (one keep-alive client); their ids and the creates/s."""
    import httpx

    body = orjson.dumps(patient)
    ids: list[str] = []
    headers = {"Content-Type": "application/fhir+json", "Prefer": "return=minimal"}
    start = time.perf_counter()
    with httpx.Client(base_url=base, timeout=30.0) as client:
        for _ in range(n):
            answer = client.post("/Patient", content=body, headers=headers)
            if answer.status_code != 201:
                raise SystemExit(f"preload: POST /Patient answered {answer.status_code}: {answer.text[:500]}")
            ids.append(answer.headers["location"].split("/Patient/", 1)[1].split("/", 1)[0])
    return ids, n / (time.perf_counter() - start)


def write_inputs(directory: Path, ids: list[str], patient: dict[str, Any]) -> None:
    """The load generator's inputs: ids, the create body and the update body around its id."""
    (directory / "ids.txt").write_text("\n".join(ids) + "\n")
    (directory / "create.json").write_bytes(orjson.dumps(patient))
    marker = "@@ID@@"
    update = orjson.dumps({"resourceType": "Patient", "id": marker, **{k: v for k, v in patient.items() if k != "resourceType"}})
    head, tail = update.split(marker.encode(), 1)
    (directory / "update_prefix.json").write_bytes(head)
    (directory / "update_suffix.json").write_bytes(tail)


def drive(loadgen: str, port: int, mode: str, directory: Path, duration: float, connections: int, threads: int) -> dict:
    """One run of the load generator (its own process); the parsed BENCH_JSON line."""
    env = {**os.environ, "BENCH_MODE": "read" if mode == "floor" else mode, "BENCH_DIR": str(directory), "BENCH_PREFIX": "/fhir"}
    if loadgen == "wrk":
        command = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{duration:g}s", "--timeout", "10s",
                   "-s", str(BENCH / "wrk" / "fhir.lua"), f"http://127.0.0.1:{port}"]
    else:
        command = [PYTHON, str(BENCH / "loadgen.py"), "--port", str(port), "--mode", env["BENCH_MODE"], "--dir",
                   str(directory), "--duration", str(duration), "--connections", str(connections)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=duration + 60)
    for line in done.stdout.splitlines():
        if line.startswith("BENCH_JSON "):
            return orjson.loads(line[len("BENCH_JSON "):])
    raise SystemExit(f"{command[0]} printed no result (exit {done.returncode}):\n{done.stdout}\n{done.stderr}")


def measure(loadgen: str, proc: subprocess.Popen, port: int, mode: str, directory: Path, args: argparse.Namespace) -> dict:
    """Warm up, then measure one scenario; adds req/s, ms latencies and the server's CPU per request."""
    if args.warmup > 0:
        drive(loadgen, port, mode, directory, args.warmup, args.connections, args.threads)
    cpu_before = cpu_seconds(proc.pid)
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    busy_before, _ = cpu_busy_total()
    raw = drive(loadgen, port, mode, directory, args.duration, args.connections, args.threads)
    busy_after, _ = cpu_busy_total()
    children_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = cpu_seconds(proc.pid) - cpu_before
    seconds = raw["duration_us"] / 1e6
    loadgen_cpu = (children_after.ru_utime + children_after.ru_stime) - (children_before.ru_utime + children_before.ru_stime)
    others = max(0.0, (busy_after - busy_before) - cpu - loadgen_cpu)
    return {
        "scenario": mode, "rps": raw["requests"] / seconds, "p50_ms": raw["lat_p50_us"] / 1000,
        "p90_ms": raw["lat_p90_us"] / 1000, "p99_ms": raw["lat_p99_us"] / 1000, "max_ms": raw["lat_max_us"] / 1000,
        "requests": raw["requests"], "non_2xx": raw["errors_status"],
        "socket_errors": raw["errors_connect"] + raw["errors_read"] + raw["errors_write"] + raw["errors_timeout"],
        "server_cpu_s": cpu, "server_cpu_util": cpu / seconds,
        "server_cpu_us_per_req": cpu / max(1, raw["requests"]) * 1e6,
        "loadgen_cpu_util": loadgen_cpu / seconds, "other_processes_cpus": others / seconds, "raw": raw,
    }


def table(rows: list[dict]) -> str:
    floor = next((r["rps"] for r in rows if r["scenario"] == "floor"), None)
    lines = [
        "| scenario | req/s | p50 ms | p99 ms | vs floor | server CPU µs/req | server CPU util | load-gen CPU | others' CPUs | non-2xx |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    names = {"floor": "floor: bare FastAPI `Response(bytes)`", "read": "read `GET /Patient/{id}`",
             "update": "update `PUT /Patient/{id}`", "create": "create `POST /Patient`"}
    for r in rows:
        ratio = f"{r['rps'] / floor:.0%}" if floor else "–"
        lines.append(
            f"| {names[r['scenario']]} | {r['rps']:,.0f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {ratio} | "
            f"{r['server_cpu_us_per_req']:,.0f} | {r['server_cpu_util']:.0%} | {r['loadgen_cpu_util']:.0%} | "
            f"{r['other_processes_cpus']:.2f} | {r['non_2xx']} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description="HTTP req/s and latency of the FHIR server vs the FastAPI floor")
    parser.add_argument("--n", type=int, default=1000, help="patients to preload (default 1000)")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds measured per scenario (default 10)")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of warm-up per scenario (default 3)")
    parser.add_argument("--connections", type=int, default=16, help="concurrent keep-alive connections (default 16)")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (default 1: the box has 2 cores)")
    parser.add_argument("--loadgen", choices=["auto", "wrk", "python"], default="auto")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS), help="comma-separated subset of " + ",".join(SCENARIOS))
    parser.add_argument("--wait-idle", type=float, default=60.0, help="wait up to this many seconds for other processes to quieten (default 60)")
    parser.add_argument("--pythonpath", default="", help="prepended to the servers' PYTHONPATH (e.g. a uvloop/httptools dir)")
    args = parser.parse_args()
    loadgen = args.loadgen if args.loadgen != "auto" else ("wrk" if shutil.which("wrk") else "python")
    if loadgen == "wrk" and not shutil.which("wrk"):
        raise SystemExit("wrk is not installed (apt-get install -y wrk), or use --loadgen python")
    scenarios = [s for s in args.scenarios.split(",") if s]

    env = {k: v for k, v in os.environ.items() if k not in ("FHIR_MONGODB_URI", "FHIR_SEED_ON_START")}
    if args.pythonpath:
        env["PYTHONPATH"] = os.pathsep.join([args.pythonpath, env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    fhir_port, floor_port = free_port(), free_port()
    env["FHIR_BASE_URL"] = f"http://127.0.0.1:{fhir_port}/fhir"
    meta = {**machine(args.wait_idle), "loadgen": loadgen, "connections": args.connections, "threads": args.threads,
            "duration_s": args.duration, "warmup_s": args.warmup, "preloaded": args.n, "store": "embedded (mongomock)"}
    if args.pythonpath:
        meta["pythonpath"] = args.pythonpath
        meta["uvicorn_loop"] = "uvloop" if (Path(args.pythonpath) / "uvloop").exists() else meta["uvicorn_loop"]
        meta["uvicorn_http"] = "httptools" if (Path(args.pythonpath) / "httptools").exists() else meta["uvicorn_http"]
    warn_if_busy(meta)
    print(f"load generator: {loadgen}; uvicorn {meta['uvicorn']} ({meta['uvicorn_loop']} + {meta['uvicorn_http']}), "
          f"{args.connections} connections, {args.warmup:g} s warm-up + {args.duration:g} s per scenario", flush=True)

    patient = sample_patient()
    fhir = floor = None
    with tempfile.TemporaryDirectory(prefix="fhir-bench-") as tmp:
        directory = Path(tmp)
        try:
            fhir = start_uvicorn("fhir_server.main:app_from_env", fhir_port, factory=True, env=env, log=directory / "fhir.log")
            wait_ready(f"http://127.0.0.1:{fhir_port}/fhir/metadata", fhir)
            ids, preload_rate = preload(f"http://127.0.0.1:{fhir_port}/fhir", patient, args.n)
            print(f"preloaded {len(ids)} Patients ({preload_rate:,.0f} creates/s, one sequential client)", flush=True)
            write_inputs(directory, ids, patient)

            import httpx

            served = httpx.get(f"http://127.0.0.1:{fhir_port}/fhir/Patient/{ids[0]}")
            (directory / "floor_body.json").write_bytes(served.content)
            meta["patient_bytes"] = len(served.content)
            floor = start_uvicorn("floor_app:app", floor_port, env={**env, "BENCH_FLOOR_BODY": str(directory / "floor_body.json"),
                                  "PYTHONPATH": os.pathsep.join([str(BENCH), env.get("PYTHONPATH", "")])},
                                  log=directory / "floor.log")
            wait_ready(f"http://127.0.0.1:{floor_port}/fhir/metadata", floor)

            rows = []
            for mode in scenarios:
                proc, port = (floor, floor_port) if mode == "floor" else (fhir, fhir_port)
                row = measure(loadgen, proc, port, mode, directory, args)
                rows.append(row)
                print(f"  {mode:7s} {row['rps']:9,.0f} req/s  p50 {row['p50_ms']:6.2f} ms  p99 {row['p99_ms']:6.2f} ms  "
                      f"server {row['server_cpu_us_per_req']:6,.0f} µs CPU/req  non-2xx {row['non_2xx']}", flush=True)
        finally:
            stop(floor)
            stop(fhir)
            log = (directory / "fhir.log").read_text(errors="replace") if (directory / "fhir.log").exists() else ""
            if log.strip():
                print("server log (tail):\n" + "\n".join(log.splitlines()[-20:]), file=sys.stderr)

    floor_rps = next((r["rps"] for r in rows if r["scenario"] == "floor"), None)
    read_rps = next((r["rps"] for r in rows if r["scenario"] == "read"), None)
    targets = {}
    if floor_rps and read_rps:
        targets["read_vs_floor"] = {"target": f">= {TARGET_READ_VS_FLOOR:.0%}", "measured": round(read_rps / floor_rps, 3),
                                    "met": read_rps / floor_rps >= TARGET_READ_VS_FLOOR}
    path = write_results("http", {"meta": {**meta, "preload_creates_per_s": preload_rate}, "results": rows, "targets": targets})
    print()
    print(table(rows))
    print()
    print(f"({meta['date']}, {meta['cpus']} cores, {meta['cpu_model']}; load from {loadgen}, {args.connections} connections; "
          f"Patient {meta['patient_bytes']} bytes; {args.n} preloaded)")
    for name, t in targets.items():
        print(f"target {name}: {t['target']}, measured {t['measured']:.0%} -> {'met' if t['met'] else 'MISSED'}")
    print(f"results: {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()

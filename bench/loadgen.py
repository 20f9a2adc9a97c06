"""Fallback load generator (used by ``bench_http.py`` when wrk is not installed).

An asyncio HTTP/1.1 keep-alive client on raw sockets, run as its own process: ``--connections``
connections each send one request at a time for ``--duration`` seconds, in the same modes and
from the same input files as ``wrk/fhir.lua``. Prints one ``BENCH_JSON {...}`` line in the
same shape as the wrk script. Being Python, it saturates one core at a few thousand requests
per second: on a 2-core box its numbers are a lower bound, wrk's are the ones to quote.

Usage: ``python bench/loadgen.py --port 8080 --mode read --dir DIR --duration 10 --connections 16``
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
from pathlib import Path

import orjson


def _requests(mode: str, prefix: str, directory: Path, host: str):
    ids = [line for line in (directory / "ids.txt").read_text().splitlines() if line]
    create = (directory / "create.json").read_bytes()
    head = (directory / "update_prefix.json").read_bytes()
    tail = (directory / "update_suffix.json").read_bytes()
    common = f"Host: {host}\r\nAccept: application/fhir+json\r\n"

    def build() -> bytes:
        rid = random.choice(ids)
        if mode == "create":
            body = create
            line = f"POST {prefix}/Patient HTTP/1.1\r\n"
        elif mode == "update":
            body = head + rid.encode() + tail
            line = f"PUT {prefix}/Patient/{rid} HTTP/1.1\r\n"
        else:
            return f"GET {prefix}/Patient/{rid} HTTP/1.1\r\n{common}\r\n".encode()
        headers = f"{common}Content-Type: application/fhir+json\r\nContent-Length: {len(body)}\r\n\r\n"
        return (line + headers).encode() + body

    return build


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    if length:
        await reader.readexactly(length)
    return status


async def _connection(port: int, build, deadline: float, latencies: list[float], counts: dict[str, int]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while time.perf_counter() < deadline:
            payload = build()
            start = time.perf_counter()
            writer.write(payload)
            try:
                status = await _read_response(reader)
            except (asyncio.IncompleteReadError, ConnectionError):
                counts["errors_read"] += 1
                return
            latencies.append(time.perf_counter() - start)
            if status >= 400:
                counts["errors_status"] += 1
    finally:
        writer.close()


async def run(port: int, mode: str, prefix: str, directory: Path, duration: float, connections: int) -> dict:
    build = _requests(mode, prefix, directory, f"127.0.0.1:{port}")
    latencies: list[float] = []
    counts = {"errors_read": 0, "errors_status": 0, "bytes": 0}
    start = time.perf_counter()
    deadline = start + duration
    await asyncio.gather(*(_connection(port, build, deadline, latencies, counts) for _ in range(connections)))
    elapsed = time.perf_counter() - start
    latencies.sort()

    def pct(q: float) -> int:
        return int(latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1e6) if latencies else 0

    return {
        "requests": len(latencies), "duration_us": int(elapsed * 1e6), "bytes": counts["bytes"], "errors_connect": 0,
        "errors_read": counts["errors_read"], "errors_write": 0, "errors_status": counts["errors_status"],
        "errors_timeout": 0, "lat_mean_us": sum(latencies) / max(1, len(latencies)) * 1e6,
        "lat_p50_us": pct(0.50), "lat_p90_us": pct(0.90), "lat_p99_us": pct(0.99), "lat_max_us": pct(1.0),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--mode", choices=["read", "create", "update", "floor"], default="read")
    parser.add_argument("--prefix", default="/fhir")
    parser.add_argument("--dir", type=Path, required=True)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()
    result = asyncio.run(run(args.port, args.mode, args.prefix, args.dir, args.duration, args.connections))
    print("BENCH_JSON " + orjson.dumps(result).decode(), flush=True)


if __name__ == "__main__":
    main()

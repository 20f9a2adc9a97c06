"""Instructions per ingested resource, counted by valgrind's callgrind: repeatable where times are not.

On a host whose speed drifts (this one: ±25 % within a minute), a change of a few per cent in
server CPU cannot be seen in timings. Instruction counts repeat to a tenth of a per cent, whatever
else the machine does, so this is how a change to the ingest path is judged before it is timed.

    python bench/count_instructions.py [--bundles 3] [--warm-up 2]

The script re-runs itself under ``valgrind --tool=callgrind --instr-atstart=no``. In-process (the
app over httpx's ASGI transport, embedded store, the served process's GC policy, as
``bench_ingest.py``), it posts ``--warm-up`` Synthea Bundles, switches counting on
(``callgrind_control -i on``), posts the next ``--bundles`` Bundles, switches it off, and prints
the instructions per resource. About 10 s per Bundle under valgrind.

The Bundles are posted without the ``Bundle.identifier`` ``fhir-server load`` gives them: with one,
the server hashes the body (SHA-256), which valgrind runs without the CPU's SHA instructions, in
software, at ~50 K instructions per resource; with them it takes ~1.3 µs per resource.
"""

from __future__ import annotations

import argparse
import asyncio
import glob
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_ingest
from _common import PYTHON, ROOT

_UNDER_VALGRIND = "FHIR_BENCH_UNDER_CALLGRIND"


def _switch(on: bool) -> None:
    subprocess.run(["callgrind_control", "-i", "on" if on else "off", str(os.getpid())], check=True, capture_output=True)


async def _measure(bundles: int, warm_up: int) -> int:
    import httpx

    loaded = bench_ingest.load_bundles(warm_up + bundles, identified=False)  # see the module's docstring
    async with bench_ingest.fresh_app() as (app, _):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=bench_ingest.BASE, timeout=600) as client:
            await bench_ingest.post_all(client, loaded[:warm_up])
            _switch(True)
            result = await bench_ingest.post_all(client, loaded[warm_up:])
            _switch(False)
    return result["resources"]


def _counted(out_prefix: str) -> int:
    total = 0
    for path in glob.glob(out_prefix + "*"):
        for line in Path(path).read_text().splitlines():
            if line.startswith("totals:"):  # the last line; "summary:" near the top may be 0
                total += int(line.split()[1])
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description="instructions per ingested resource (callgrind)")
    parser.add_argument("--bundles", type=int, default=3, help="Synthea Bundles counted (default 3)")
    parser.add_argument("--warm-up", type=int, default=2, help="Bundles posted before counting starts (default 2)")
    args = parser.parse_args()
    if os.environ.get(_UNDER_VALGRIND):
        print(asyncio.run(_measure(args.bundles, args.warm_up)))
        return
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (Debian package valgrind)")
    with tempfile.TemporaryDirectory() as scratch:
        prefix = f"{scratch}/callgrind.out"
        env = {**os.environ, _UNDER_VALGRIND: "1", "PYTHONHASHSEED": "0"}
        done = subprocess.run(
            ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={prefix}",
             PYTHON, __file__, "--bundles", str(args.bundles), "--warm-up", str(args.warm_up)],
            cwd=ROOT, env=env, capture_output=True, text=True, check=False,
        )
        if done.returncode != 0:
            raise SystemExit(f"the counted run failed:\n{done.stderr[-3000:]}")
        resources = int(done.stdout.split()[-1])
        instructions = _counted(prefix)
    print(f"{instructions:,} instructions for {resources:,} resources of {args.bundles} Synthea Bundles "
          f"(after {args.warm_up} warm-up): {instructions // resources:,} per resource")


if __name__ == "__main__":
    main()

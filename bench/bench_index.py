"""Microseconds per ``extract_index`` call (write-time search indexing).

Resources: a Synthea Patient and Observation (from ../shared/data/synthea-r4-100.tgz) and the
official ``Patient-example.json``. Target: <= 150 us per Patient.

Run: ``.venv/bin/python bench/bench_index.py [--n 5000]``
"""

from __future__ import annotations

import argparse
import sys
import tarfile
import time
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fhir_server.search.index import extract_index  # noqa: E402
from fhir_server.spec.official_package import package_dir  # noqa: E402

SYNTHEA = ROOT.parent / "shared" / "data" / "synthea-r4-100.tgz"


def synthea_samples() -> dict[str, dict]:
    found: dict[str, dict] = {}
    if not SYNTHEA.exists():
        return found
    with tarfile.open(SYNTHEA) as tar:
        for member in tar:
            if not member.isfile() or not member.name.endswith(".json"):
                continue
            bundle = orjson.loads(tar.extractfile(member).read())  # type: ignore[union-attr]
            for entry in bundle.get("entry", []):
                res = entry.get("resource", {})
                rt = res.get("resourceType")
                if rt in ("Patient", "Observation") and f"synthea {rt}" not in found:
                    found[f"synthea {rt}"] = res
            if len(found) == 2:
                break
    return found


def bench(resource: dict, n: int) -> float:
    extract_index(resource)  # compile the extractors first
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(n):
            extract_index(resource)
        best = min(best, (time.perf_counter() - start) / n)
    return best * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=2000)
    args = parser.parse_args()
    samples = synthea_samples()
    pkg = package_dir(fetch=False)
    if pkg is not None:
        samples["official Patient-example"] = orjson.loads((pkg / "Patient-example.json").read_bytes())
    if not samples:
        raise SystemExit("no sample resources found (synthea data and official package absent)")
    for name, resource in samples.items():
        print(f"{name:28s} {bench(resource, args.n):8.1f} us/extract_index")


if __name__ == "__main__":
    main()

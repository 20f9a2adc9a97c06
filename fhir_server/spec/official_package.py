"""Locate (and on first use fetch) HL7's official R4 4.0.1 package ``hl7.fhir.r4.examples``.

Development-time only: the generators under ``scripts/`` read the official definitions from it, and
the tests read the official examples from it. The running server never calls this; what it needs
is generated into ``fhir_server/spec/data/`` and shipped with the package.

The package comes from the npm registry (``npm pack hl7.fhir.r4.examples@4.0.1``, CC0). It is
unpacked once into ``$FHIR_R4_PACKAGE_CACHE`` (default ``~/.cache/fhir-server``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

PACKAGE_SPEC = "hl7.fhir.r4.examples@4.0.1"
_MARKER = "Bundle-searchParams.json"


def cache_root() -> Path:
    return Path(os.environ.get("FHIR_R4_PACKAGE_CACHE", Path.home() / ".cache" / "fhir-server"))


def package_dir(fetch: bool = True) -> Path | None:
    """The unpacked ``package/`` folder, fetching it with npm when absent and ``fetch`` is true.

    Returns None when it is absent and cannot be fetched (no npm, no registry).
    """
    target = cache_root() / "hl7.fhir.r4.examples-4.0.1" / "package"
    if (target / _MARKER).exists():
        return target
    if not fetch or shutil.which("npm") is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        done = subprocess.run(
            ["npm", "pack", PACKAGE_SPEC, "--silent"], cwd=tmp, capture_output=True, text=True, timeout=600
        )
        tarballs = list(Path(tmp).glob("*.tgz"))
        if done.returncode != 0 or not tarballs:
            return None
        unpack_to = target.parent
        unpack_to.mkdir(parents=True, exist_ok=True)
        with tarfile.open(tarballs[0]) as tar:
            tar.extractall(unpack_to, filter="data")
    return target if (target / _MARKER).exists() else None


def require_package_dir() -> Path:
    found = package_dir()
    if found is None:
        raise SystemExit(f"cannot fetch {PACKAGE_SPEC}: is npm installed and the npm registry reachable?")
    return found

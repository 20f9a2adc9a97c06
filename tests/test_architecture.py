"""The import layers of README's layout hold (import-linter contracts in pyproject.toml)."""

from __future__ import annotations

import os
from pathlib import Path

from importlinter.cli import lint_imports


def test_import_contracts_are_kept():
    root = Path(__file__).resolve().parents[1]
    cwd = Path.cwd()
    os.chdir(root)
    try:
        assert lint_imports(config_filename=str(root / "pyproject.toml"), no_cache=True) == 0
    finally:
        os.chdir(cwd)

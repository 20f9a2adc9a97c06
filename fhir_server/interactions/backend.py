"""What every interaction works with: the repository and the settings."""

from __future__ import annotations

from dataclasses import dataclass

from fhir_server.config import Settings
from fhir_server.storage.repository import Repository


@dataclass
class Backend:
    repository: Repository
    settings: Settings

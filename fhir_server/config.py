"""Settings read from the environment (``FHIR_*`` variables), once, at start-up."""

from __future__ import annotations

import os
from dataclasses import dataclass, field


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    return int(raw) if raw else default


@dataclass(frozen=True)
class Settings:
    """Everything an operator can tune; see the README's configuration table."""

    mongodb_uri: str | None = None
    database: str = "fhir"
    base_url: str = "http://localhost:8080/fhir"
    default_page_size: int = 20
    max_page_size: int = 1000
    max_body_bytes: int = 16 * 1024 * 1024
    max_json_depth: int = 64
    max_bundle_entries: int = 10_000
    history_page_size: int = 50
    conditional_lock_seconds: int = 30
    transaction_replay_seconds: int = 7 * 24 * 3600  # how long an identified transaction's answer is kept
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def embedded(self) -> bool:
        """True when no MongoDB URI is configured: the in-process engine is used."""
        return not self.mongodb_uri

    @classmethod
    def from_env(cls) -> "Settings":
        return cls(
            mongodb_uri=os.environ.get("FHIR_MONGODB_URI") or None,
            database=os.environ.get("FHIR_MONGODB_DATABASE", "fhir"),
            base_url=os.environ.get("FHIR_BASE_URL", "http://localhost:8080/fhir").rstrip("/"),
            default_page_size=_int("FHIR_DEFAULT_PAGE_SIZE", 20),
            max_page_size=_int("FHIR_MAX_PAGE_SIZE", 1000),
            max_body_bytes=_int("FHIR_MAX_BODY_BYTES", 16 * 1024 * 1024),
            max_json_depth=_int("FHIR_MAX_JSON_DEPTH", 64),
            max_bundle_entries=_int("FHIR_MAX_BUNDLE_ENTRIES", 10_000),
            history_page_size=_int("FHIR_HISTORY_PAGE_SIZE", 50),
            transaction_replay_seconds=_int("FHIR_TRANSACTION_REPLAY_SECONDS", 7 * 24 * 3600),
        )

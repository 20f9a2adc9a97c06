"""Transport-neutral request and response of one FHIR interaction.

The HTTP layer turns a Starlette request into a :class:`FhirRequest`; a Bundle entry of a batch
or transaction becomes one the same way (``request.method``/``url`` and ``ifMatch``... as
headers). Both are answered by the same router with a :class:`FhirResponse`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl


@dataclass
class FhirRequest:
    """One interaction: ``path`` is relative to the service base, without leading slash."""

    method: str
    path: str
    query: list[tuple[str, str]] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    resource: dict[str, Any] | None = None
    body: bytes | None = None

    @classmethod
    def from_url(cls, method: str, url: str, **kwargs: Any) -> "FhirRequest":
        """A request for a relative URL such as ``Patient?name=smith`` (as in Bundle.entry.request.url)."""
        path, _, query = url.partition("?")
        return cls(method.upper(), path.strip("/"), parse_qsl(query, keep_blank_values=True), **kwargs)

    def header(self, name: str) -> str | None:
        """A header by lower-case name."""
        return self.headers.get(name)

    def param(self, name: str) -> str | None:
        """The last value of a query parameter."""
        found = None
        for key, value in self.query:
            if key == name:
                found = value
        return found

    @property
    def content_type(self) -> str:
        return (self.header("content-type") or "").split(";", 1)[0].strip().lower()

    def prefer(self, token: str) -> str | None:
        """The value of ``Prefer: token=value`` (http://hl7.org/fhir/R4/http.html#ops)."""
        for part in (self.header("prefer") or "").split(";"):
            for item in part.split(","):
                key, _, value = item.strip().partition("=")
                if key.strip().lower() == token:
                    return value.strip().strip('"')
        return None


@dataclass
class FhirResponse:
    """The answer: ``body`` is stored JSON bytes, a resource dict, or None."""

    status: int
    body: bytes | dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)

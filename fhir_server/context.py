"""Who is asking, for which tenant: the context every interaction and every query carries.

The repository folds ``access_filter`` into every query it runs, so tenant isolation and
compartment/scope restrictions are filters inside the query, never checks after the fact.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class RequestContext:
    """The caller of one interaction (tenant and access rules are added by the security layer)."""

    base_url: str
    tenant: str | None = None

    def access_filter(self, resource_type: str) -> dict[str, Any]:
        """Extra MongoDB conditions restricting what this caller may see of ``resource_type``."""
        return {}

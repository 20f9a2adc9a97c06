"""The search part of a CapabilityStatement ``rest.resource`` entry (http://hl7.org/fhir/R4/capabilitystatement.html).

Lists the parameters of the search registry that this server can really answer (indexed ones and
``near``), and the ``_include``/``_revinclude`` values its reference parameters allow (``*`` for
every reference parameter). tests/api/test_search_capability.py checks that each is accepted.
"""

from __future__ import annotations

from typing import Any

from fhir_server.spec import search_parameters as registry
from fhir_server.spec.search_parameters import params_for


def _supported(resource_type: str) -> list[registry.SearchParam]:
    return [p for p in params_for(resource_type).values() if p.indexed]


def search_capability(resource_type: str) -> dict[str, Any]:
    """``searchParam``, ``searchInclude`` and ``searchRevInclude`` for ``resource_type``."""
    params = sorted(_supported(resource_type), key=lambda p: p.code)
    out: dict[str, Any] = {
        "searchParam": [
            {"name": p.code, "definition": p.url, "type": p.type} if p.url else {"name": p.code, "type": p.type}
            for p in params
        ]
    }
    refs = [p for p in params if p.type == "reference"]
    if refs:
        out["searchInclude"] = ["*"] + [f"{resource_type}:{p.code}" for p in refs]
    rev = revinclude_values(resource_type)
    if rev:
        out["searchRevInclude"] = ["*"] + rev
    return out


_REV_CACHE: dict[tuple[int, str], list[str]] = {}


def revinclude_values(resource_type: str) -> list[str]:
    """``Source:param`` of every reference parameter (any type) that can point at ``resource_type``."""
    key = (registry.version(), resource_type)
    hit = _REV_CACHE.get(key)
    if hit is not None:
        return hit
    from fhir_server.spec.resource_types import RESOURCE_TYPES

    values = []
    for source in sorted(RESOURCE_TYPES):
        for p in _supported(source):
            if p.type == "reference" and (not p.target or resource_type in p.target):
                values.append(f"{source}:{p.code}")
    _REV_CACHE[key] = values
    return values

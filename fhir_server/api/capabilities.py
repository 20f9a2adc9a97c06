"""The CapabilityStatement (http://hl7.org/fhir/R4/capabilitystatement.html), built from the registries.

It lists what really works: every R4 resource type with the interactions the router serves, the
search parameters of the search registry, and the operations of the operation registry.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from fhir_server import __version__, errors
from fhir_server.config import Settings
from fhir_server.operations.registry import all_operations
from fhir_server.search.capability import search_capability
from fhir_server.spec import search_parameters
from fhir_server.spec.resource_types import RESOURCE_TYPES

_TYPE_INTERACTIONS = ["read", "vread", "update", "patch", "delete", "history-instance", "history-type", "create", "search-type"]
_SYSTEM_INTERACTIONS = ["transaction", "batch", "search-system", "history-system"]


def capability_statement(settings: Settings, mode: str | None = None) -> dict[str, Any]:
    """The server's CapabilityStatement; ``mode`` is the ``/metadata?mode=`` parameter."""
    if mode not in (None, "full", "normative"):
        raise errors.bad_request(f"mode={mode} is not supported (full or normative)", "mode")
    return _statement(settings.base_url, search_parameters.version())


@lru_cache(maxsize=4)
def _statement(base_url: str, registry_version: int) -> dict[str, Any]:
    """Built once per base URL and version of the search registry (custom SearchParameters change it)."""
    operations = all_operations()
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": "2026-11-22",
        "publisher": "fhir-server",
        "kind": "instance",
        "software": {"name": "fhir-server", "version": __version__},
        "implementation": {"description": "FHIR R4 server for national virtual care", "url": base_url},
        "fhirVersion": "4.0.1",
        "format": ["application/fhir+json", "json"],
        "patchFormat": ["application/json-patch+json", "application/merge-patch+json", "application/fhir+json"],
        "rest": [
            {
                "mode": "server",
                "resource": [_resource(t, operations) for t in sorted(RESOURCE_TYPES)],
                "interaction": [{"code": code} for code in _SYSTEM_INTERACTIONS],
                "operation": [_operation(op) for op in operations if op.system],
            }
        ],
    }


def _resource(resource_type: str, operations: list[Any]) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "type": resource_type,
        "profile": f"http://hl7.org/fhir/StructureDefinition/{resource_type}",
        "interaction": [{"code": code} for code in _TYPE_INTERACTIONS],
        "versioning": "versioned-update",
        "readHistory": True,
        "updateCreate": True,
        "conditionalCreate": True,
        "conditionalRead": "full-support",
        "conditionalUpdate": True,
        "conditionalDelete": "multiple",
        **search_capability(resource_type),
    }
    ops = [_operation(op) for op in operations if op.accepts(resource_type, False) or op.accepts(resource_type, True)]
    if ops:
        entry["operation"] = ops
    return entry


def _operation(operation: Any) -> dict[str, Any]:
    return {"name": operation.name, "definition": operation.definition_url or f"OperationDefinition/{operation.name}"}

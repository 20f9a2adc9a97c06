"""The one table of ``$operations``: name, levels, resource types and handler.

It routes calls (http://hl7.org/fhir/R4/operations.html#executing) and feeds the
CapabilityStatement's ``rest.operation`` and ``rest.resource.operation`` lists.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from fhir_server import errors
from fhir_server.context import RequestContext
from fhir_server.interactions.backend import Backend
from fhir_server.interactions.messages import FhirRequest, FhirResponse


@dataclass(frozen=True)
class OperationCall:
    """One invocation: the level it was called at and its input Parameters (body or query)."""

    request: FhirRequest
    resource_type: str | None
    resource_id: str | None
    parameters: dict[str, Any]


Handler = Callable[[Backend, RequestContext, OperationCall], Awaitable[FhirResponse]]


@dataclass(frozen=True)
class Operation:
    name: str
    handler: Handler
    system: bool = False
    type_level: bool = False
    instance: bool = False
    resource_types: frozenset[str] | None = None
    affects_state: bool = True
    definition_url: str = ""
    documentation: str = ""
    listed: bool = True  # False for plumbing endpoints (e.g. export status) kept out of the CapabilityStatement
    extra: dict[str, Any] = field(default_factory=dict)

    def accepts(self, resource_type: str | None, instance: bool) -> bool:
        if resource_type is None:
            return self.system
        if self.resource_types is not None and resource_type not in self.resource_types:
            return False
        return self.instance if instance else self.type_level


OPERATIONS: dict[str, list[Operation]] = {}


def register(operation: Operation) -> Operation:
    OPERATIONS.setdefault(operation.name, []).append(operation)
    return operation


def lookup(name: str, resource_type: str | None, instance: bool, method: str) -> Operation:
    """The operation ``$name`` at this level; 404 if unknown here, 405 for a method it does not take
    (GET on a state-changing operation; DELETE unless it is registered with ``extra["delete"]``)."""
    for operation in OPERATIONS.get(name, []):
        if operation.accepts(resource_type, instance):
            if method == "GET" and operation.affects_state:
                raise errors.method_not_allowed(f"${name} changes state: invoke it with POST")
            if method == "DELETE" and not operation.extra.get("delete"):
                raise errors.method_not_allowed(f"${name} is invoked with GET or POST, not DELETE")
            return operation
    where = "on the system" if resource_type is None else f"on {resource_type}{' instances' if instance else ''}"
    raise errors.not_found(f"Operation ${name} is not supported {where}")


def all_operations() -> list[Operation]:
    """The operations the CapabilityStatement lists."""
    return [op for ops in OPERATIONS.values() for op in ops if op.listed]

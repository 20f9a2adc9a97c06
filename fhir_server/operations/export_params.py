"""The kick-off parameters of ``$export`` (https://hl7.org/fhir/uv/bulkdata/export.html#query-parameters).

Supported: ``_outputFormat`` (ndjson only), ``_since`` (an instant) and ``_type`` (a comma list,
repeatable). Parameters this server does not implement (``_typeFilter``, ``patient``,
``includeAssociatedData``, ``organizeOutputBy``...) are a 400 unless the client sent
``Prefer: handling=lenient``, when they are ignored, as the IG allows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from fhir_server import errors
from fhir_server.spec.resource_types import is_resource_type
from fhir_server.spec.search_parameters import patient_compartment

NDJSON_FORMATS = frozenset({"application/fhir+ndjson", "application/ndjson", "ndjson"})
_SUPPORTED = frozenset({"_outputFormat", "_since", "_type"})


@dataclass(frozen=True)
class ExportRequest:
    """What to export: ``level`` is ``system``, ``patient`` or ``group`` (with ``group_id``)."""

    level: str
    types: tuple[str, ...]  # empty: every type the level covers
    since: datetime | None = None
    group_id: str | None = None


def parameter_values(parameters: dict[str, Any]) -> list[tuple[str, str]]:
    """``(name, value)`` of a Parameters resource, whatever the value[x] type (string, instant, code...)."""
    out = []
    for parameter in parameters.get("parameter") or ():
        if not isinstance(parameter, dict):
            continue
        value = next((v for k, v in parameter.items() if k.startswith("value")), None)
        if isinstance(parameter.get("name"), str) and isinstance(value, (str, int, float, bool)):
            out.append((parameter["name"], str(value)))
    return out


def parse_export(level: str, values: list[tuple[str, str]], *, lenient: bool, group_id: str | None = None) -> ExportRequest:
    """Validate the kick-off parameters into an :class:`ExportRequest`; 400 for what cannot be honoured."""
    unsupported = sorted({name for name, _ in values if name not in _SUPPORTED})
    if unsupported and not lenient:
        raise errors.bad_request(
            f"$export does not support the parameter(s) {', '.join(unsupported)} "
            "(send Prefer: handling=lenient to have them ignored)", code="not-supported",
        )
    since: datetime | None = None
    types: list[str] = []
    for name, value in values:
        if name == "_outputFormat" and value.strip() not in NDJSON_FORMATS:
            raise errors.bad_request(f"_outputFormat {value!r} is not supported: only application/fhir+ndjson", code="not-supported")
        if name == "_since":
            since = parse_instant(value)
        if name == "_type":
            types.extend(t.strip() for t in value.split(",") if t.strip())
    return ExportRequest(level, _checked_types(level, types, lenient), since, group_id)


def parse_instant(value: str) -> datetime:
    """A FHIR instant (http://hl7.org/fhir/R4/datatypes.html#instant): date, time and zone required."""
    text = value.strip().replace(" ", "+")  # an unescaped "+" of the zone arrives as a space
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        parsed = None
    if parsed is None or "T" not in text or parsed.tzinfo is None:
        raise errors.bad_request(f"_since must be a FHIR instant such as 2024-01-31T12:00:00Z, got {value!r}")
    return parsed.astimezone(timezone.utc)


def _checked_types(level: str, types: list[str], lenient: bool) -> tuple[str, ...]:
    unknown = [t for t in types if not is_resource_type(t)]
    outside = [t for t in types if level != "system" and is_resource_type(t) and not in_patient_compartment(t)]
    if (unknown or outside) and not lenient:
        problems = []
        if unknown:
            problems.append(f"unknown resource type(s) {', '.join(unknown)}")
        if outside:
            problems.append(f"type(s) outside the Patient compartment {', '.join(outside)}")
        raise errors.bad_request(f"_type names {'; '.join(problems)}", code="not-supported")
    kept = [t for t in types if t not in unknown and t not in outside]
    if types and not kept:
        raise errors.bad_request("_type names no resource type this export can include", code="not-supported")
    return tuple(dict.fromkeys(kept))


def in_patient_compartment(resource_type: str) -> bool:
    return resource_type == "Patient" or resource_type in patient_compartment()

"""Which resources an export covers: per type, the MongoDB filters that select them.

* system level: every resource of the type;
* Patient level: the Patient compartment of every patient
  (http://hl7.org/fhir/R4/compartmentdefinition-patient.html): the Patients, and the resources
  whose compartment parameters (``subject``, ``patient``, ``performer``...) reference a Patient;
* Group level: the compartments of the Group's ``member.entity`` Patients.

Compartment membership is read from the search index written with each resource: the ``_ref``
entries ``{p: <parameter code>, r: "Patient/<id>"}`` (see :mod:`fhir_server.search.index`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fhir_server.operations.export_params import ExportRequest
from fhir_server.spec.resource_types import RESOURCE_TYPES
from fhir_server.spec.search_parameters import patient_compartment

CHUNK = 500  # patient references per query for a Group export


@dataclass(frozen=True)
class Scope:
    """One type's selection: the union of ``filters`` (several only for large Groups)."""

    resource_type: str
    filters: tuple[dict[str, Any], ...]


def export_types(request: ExportRequest, present: set[str]) -> list[str]:
    """The types to export, in name order: those asked for (or all the level covers) that have data."""
    if request.types:
        wanted = set(request.types)
    elif request.level == "system":
        wanted = set(RESOURCE_TYPES)
    else:
        wanted = set(patient_compartment()) | {"Patient"}
    return sorted(wanted & present & RESOURCE_TYPES)


def scope_for(
    resource_type: str, level: str, patient_refs: list[str] | None = None,
    since: datetime | None = None, until: datetime | None = None,
) -> Scope:
    """The filters selecting ``resource_type`` for an export at ``level`` (Group: ``patient_refs``)."""
    window = _window(since, until)
    if level == "system":
        return Scope(resource_type, ({**window},))
    if level == "patient":
        return Scope(resource_type, ({**_any_patient(resource_type), **window},))
    chunks = [patient_refs[i : i + CHUNK] for i in range(0, len(patient_refs or ()), CHUNK)]
    return Scope(resource_type, tuple({**_these_patients(resource_type, chunk), **window} for chunk in chunks))


def _window(since: datetime | None, until: datetime | None) -> dict[str, Any]:
    """``_since`` (inclusive) up to the transaction time (resources changed later are left out)."""
    bounds: dict[str, datetime] = {}
    if since is not None:
        bounds["$gte"] = since
    if until is not None:
        bounds["$lte"] = until
    return {"ts": bounds} if bounds else {}


def _any_patient(resource_type: str) -> dict[str, Any]:
    if resource_type == "Patient":
        return {}
    codes = list(patient_compartment().get(resource_type, ()))
    return {"_ref": {"$elemMatch": {"p": {"$in": codes}, "r": {"$regex": "^Patient/"}}}}


def _these_patients(resource_type: str, refs: list[str]) -> dict[str, Any]:
    if resource_type == "Patient":
        return {"_id": {"$in": [ref.split("/", 1)[1] for ref in refs]}}
    codes = list(patient_compartment().get(resource_type, ()))
    return {"_ref": {"$elemMatch": {"p": {"$in": codes}, "r": {"$in": refs}}}}


def group_patients(group: dict[str, Any]) -> list[str]:
    """``Patient/<id>`` of each Patient in ``Group.member.entity`` (relative or absolute references)."""
    refs: list[str] = []
    for member in group.get("member") or ():
        reference = ((member or {}).get("entity") or {}).get("reference") if isinstance(member, dict) else None
        if not isinstance(reference, str):
            continue
        parts = reference.split("/")
        if len(parts) >= 4 and parts[-2] == "_history":
            parts = parts[:-2]
        if len(parts) >= 2 and parts[-2] == "Patient" and parts[-1]:
            refs.append(f"Patient/{parts[-1]}")
    return list(dict.fromkeys(refs))

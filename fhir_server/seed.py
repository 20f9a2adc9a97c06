"""Demo / trial data as FHIR R4 transaction Bundles (http://hl7.org/fhir/R4/http.html#transaction).

The static resources live in ``seed_data/<ResourceType>.json`` (a JSON array each; a file holding a
Bundle is accepted too). :func:`seed_bundles` turns them into a data set anchored on ``today``:

1. **Relative dates.** The static files are written as if today were :data:`ANCHOR` (2025-01-01).
   Every ``date`` / ``dateTime`` / ``instant`` value on or after :data:`RELATIVE_FROM` (2024-01-01) is
   moved by ``today - ANCHOR`` days, so referrals, prescriptions, coverages and past encounters keep
   their place relative to today. Older values (birth dates, qualifications, onsets) stay as written.
2. **Slots.** For each Schedule, one Slot per 20- or 30-minute step of its PractitionerRole's
   ``availableTime`` on each of the ``days`` days after ``today`` (http://hl7.org/fhir/R4/slot.html);
   a fixed, hash-chosen tenth of them are ``busy`` (booked outside the demo data).
3. **Bookings.** Each static Appointment is a request (``status`` proposed, ``requestedPeriod``); it
   is booked into the first free Slot of its PractitionerRole's Schedule inside the requested period
   (``status`` booked, ``start``/``end``/``slot``) and that Slot becomes ``busy``
   (http://hl7.org/fhir/R4/appointment.html).

Entries are ``PUT Type/id`` so seeding twice leaves the same data; one Bundle per dependency layer,
so every referenced resource is written in an earlier Bundle than the resources that point to it.
The output depends only on the files and on ``today``: the same date gives identical Bundles.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

ANCHOR = dt.date(2025, 1, 1)
RELATIVE_FROM = dt.date(2024, 1, 1)
TIMEZONE = dt.timezone(dt.timedelta(hours=3))  # Arabia Standard Time, no daylight saving
DEFAULT_DAYS = 14
SEED_TAG = {
    "system": "https://fhir.example-health.org/CodeSystem/data-origin",
    "code": "seed",
    "display": "Demo seed data",
}
SNOMED = "http://snomed.info/sct"
# Slot length per specialty (SNOMED CT): primary care and paediatrics 20 minutes, other specialties 30.
SLOT_MINUTES = {"394814009": 20, "394802001": 20, "394537008": 20}
DEFAULT_SLOT_MINUTES = 30
BUSY_ONE_IN = 10
VIRTUAL_LOCATION_MODE = "kind"
_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(T.*)?$")
_NEVER_SHIFTED = frozenset({"birthDate"})
_REFERENCE = re.compile(r"^([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})$")


def seed_data_dir() -> Path:
    """``$FHIR_SEED_DATA_DIR`` when set, else ``seed_data/`` beside the package (editable install), else in the cwd."""
    configured = os.environ.get("FHIR_SEED_DATA_DIR")
    if configured:
        return Path(configured)
    for candidate in (Path(__file__).resolve().parents[1] / "seed_data", Path.cwd() / "seed_data"):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError("no seed_data/ directory found: set FHIR_SEED_DATA_DIR to its path")


def load_static(data_dir: Path | None = None) -> list[dict[str, Any]]:
    """Every resource of the ``*.json`` files (arrays of resources, or Bundles), in file-name order."""
    resources: list[dict[str, Any]] = []
    for path in sorted((data_dir or seed_data_dir()).glob("*.json")):
        content = orjson.loads(path.read_bytes())
        if isinstance(content, dict) and content.get("resourceType") == "Bundle":
            content = [entry["resource"] for entry in content.get("entry", ())]
        if not isinstance(content, list):
            raise ValueError(f"{path.name}: expected a JSON array of resources or a Bundle")
        resources.extend(content)
    return resources


def seed_resources(today: dt.date, days: int = DEFAULT_DAYS, data_dir: Path | None = None) -> list[dict[str, Any]]:
    """The whole data set for ``today``: static resources (dates moved), generated Slots, booked Appointments."""
    shift = dt.timedelta(days=(today - ANCHOR).days)
    resources = [_shift_dates(resource, shift, None) for resource in load_static(data_dir)]
    by_key = {_key(r): r for r in resources}
    if len(by_key) != len(resources):
        raise ValueError("duplicate Type/id in seed_data/")
    schedules = [r for r in resources if r["resourceType"] == "Schedule"]
    slots_by_schedule = {s["id"]: _slots_for(s, by_key, today, days) for s in schedules}
    for resource in resources:
        if resource["resourceType"] == "Appointment" and resource.get("status") == "proposed":
            _book(resource, schedules, slots_by_schedule)
    all_slots = [slot for slots in slots_by_schedule.values() for slot in slots]
    # a deep copy, so no two resources share a mutable sub-object (Slots copy their Schedule's codes)
    return orjson.loads(orjson.dumps([_tagged(r) for r in resources + all_slots]))


def seed_bundles(today: dt.date, days: int = DEFAULT_DAYS, data_dir: Path | None = None) -> list[dict[str, Any]]:
    """Transaction Bundles of ``PUT Type/id`` entries, one per dependency layer, referenced resources first."""
    resources = seed_resources(today, days, data_dir)
    layers: list[list[dict[str, Any]]] = []
    for resource, layer in zip(resources, _layers(resources)):
        while len(layers) <= layer:
            layers.append([])
        layers[layer].append(resource)
    return [_transaction(layer) for layer in layers]


# --- relative dates -------------------------------------------------------------------------------


def _shift_dates(node: Any, shift: dt.timedelta, key: str | None) -> Any:
    """A copy of ``node`` with each full date at or after :data:`RELATIVE_FROM` moved by ``shift``."""
    if isinstance(node, dict):
        return {k: _shift_dates(v, shift, k) for k, v in node.items()}
    if isinstance(node, list):
        return [_shift_dates(v, shift, key) for v in node]
    if isinstance(node, str) and key not in _NEVER_SHIFTED:
        match = _DATE.match(node)
        if match:
            day = dt.date(int(match[1]), int(match[2]), int(match[3]))
            if day >= RELATIVE_FROM:
                return (day + shift).isoformat() + (match[4] or "")
    return node


# --- slots ----------------------------------------------------------------------------------------


def _slots_for(schedule: dict[str, Any], by_key: dict[str, dict[str, Any]], today: dt.date, days: int) -> list[dict]:
    """Slots of one Schedule for the ``days`` days after ``today``; sets its ``planningHorizon`` to match."""
    role = _actor(schedule, "PractitionerRole", by_key)
    location = _actor(schedule, "Location", by_key)
    minutes = _slot_minutes(schedule)
    first, last = today + dt.timedelta(days=1), today + dt.timedelta(days=days)
    schedule["planningHorizon"] = {"start": _midnight(first), "end": _midnight(last + dt.timedelta(days=1))}
    virtual = location is not None and location.get("mode") == VIRTUAL_LOCATION_MODE
    suffix = schedule["id"].removeprefix("sched-")
    slots = []
    for day in _dates(first, last):
        for start, end in _working_periods(role, day):
            for slot_start in _steps(start, end, minutes):
                slot_end = slot_start + dt.timedelta(minutes=minutes)
                slots.append(_slot(schedule, suffix, slot_start, slot_end, virtual))
    return slots


def _actor(schedule: dict[str, Any], resource_type: str, by_key: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
    for actor in schedule.get("actor", ()):
        if actor.get("reference", "").startswith(resource_type + "/"):
            return by_key[actor["reference"]]
    return None


def _slot_minutes(schedule: dict[str, Any]) -> int:
    for concept in schedule.get("specialty", ()):
        for coding in concept.get("coding", ()):
            if coding.get("system") == SNOMED and coding.get("code") in SLOT_MINUTES:
                return SLOT_MINUTES[coding["code"]]
    return DEFAULT_SLOT_MINUTES


def _dates(first: dt.date, last: dt.date) -> Iterator[dt.date]:
    day = first
    while day <= last:
        yield day
        day += dt.timedelta(days=1)


def _working_periods(role: dict[str, Any] | None, day: dt.date) -> list[tuple[dt.datetime, dt.datetime]]:
    """The ``availableTime`` periods of ``role`` on ``day`` (http://hl7.org/fhir/R4/practitionerrole.html)."""
    periods = []
    for available in (role or {}).get("availableTime", ()):
        if _WEEKDAYS[day.weekday()] not in available.get("daysOfWeek", ()):
            continue
        if available.get("allDay"):
            periods.append((dt.datetime.fromisoformat(_midnight(day)), dt.datetime.fromisoformat(_midnight(day, 1))))
            continue
        start = dt.time.fromisoformat(available["availableStartTime"])
        end = dt.time.fromisoformat(available["availableEndTime"])
        periods.append((dt.datetime.combine(day, start, TIMEZONE), dt.datetime.combine(day, end, TIMEZONE)))
    return sorted(periods)


def _steps(start: dt.datetime, end: dt.datetime, minutes: int) -> Iterator[dt.datetime]:
    step = dt.timedelta(minutes=minutes)
    while start + step <= end:
        yield start
        start += step


def _slot(schedule: dict[str, Any], suffix: str, start: dt.datetime, end: dt.datetime, virtual: bool) -> dict:
    slot_id = f"slot-{suffix}-{start:%Y%m%d-%H%M}"
    slot: dict[str, Any] = {"resourceType": "Slot", "id": slot_id}
    for element in ("serviceCategory", "serviceType", "specialty"):
        if element in schedule:
            slot[element] = schedule[element]
    slot["schedule"] = {"reference": f"Schedule/{schedule['id']}"}
    slot["status"] = "busy" if zlib.crc32(slot_id.encode()) % BUSY_ONE_IN == 0 else "free"
    slot["start"] = start.isoformat()
    slot["end"] = end.isoformat()
    if virtual:
        slot["comment"] = "Virtual consultation (video)"
    return slot


def _midnight(day: dt.date, plus_days: int = 0) -> str:
    return dt.datetime.combine(day + dt.timedelta(days=plus_days), dt.time(), TIMEZONE).isoformat()


# --- bookings -------------------------------------------------------------------------------------


def _book(appointment: dict[str, Any], schedules: list[dict], slots_by_schedule: dict[str, list[dict]]) -> None:
    """Book a proposed Appointment into the first free Slot of its role's Schedule inside ``requestedPeriod``."""
    roles = {p["actor"]["reference"] for p in appointment.get("participant", ()) if "actor" in p}
    roles = {r for r in roles if r.startswith("PractitionerRole/")}
    schedule = next((s for s in schedules if any(a.get("reference") in roles for a in s["actor"])), None)
    if schedule is None:
        raise ValueError(f"Appointment/{appointment['id']}: no Schedule for its PractitionerRole")
    windows = [
        (dt.datetime.fromisoformat(p["start"]), dt.datetime.fromisoformat(p["end"]))
        for p in appointment.get("requestedPeriod", ())
    ]
    for slot in slots_by_schedule[schedule["id"]]:
        start, end = dt.datetime.fromisoformat(slot["start"]), dt.datetime.fromisoformat(slot["end"])
        if slot["status"] == "free" and any(low <= start and end <= high for low, high in windows):
            slot["status"] = "busy"
            appointment["status"] = "booked"
            appointment["start"], appointment["end"] = slot["start"], slot["end"]
            appointment["minutesDuration"] = int((end - start).total_seconds() // 60)
            appointment["slot"] = [{"reference": f"Slot/{slot['id']}"}]
            return
    raise ValueError(f"Appointment/{appointment['id']}: no free slot in its requestedPeriod")


# --- bundles --------------------------------------------------------------------------------------


def references(node: Any) -> Iterator[str]:
    """Every ``Reference.reference`` string inside ``node``."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "reference" and isinstance(value, str):
                yield value
            else:
                yield from references(value)
    elif isinstance(node, list):
        for value in node:
            yield from references(value)


def _key(resource: dict[str, Any]) -> str:
    return f"{resource['resourceType']}/{resource['id']}"


def _layers(resources: list[dict[str, Any]]) -> list[int]:
    """Each resource's depth in the reference graph: 0 when it refers to nothing, else 1 + its deepest target."""
    by_key = {_key(r): r for r in resources}
    targets: dict[str, list[str]] = {}
    for resource in resources:
        found = []
        for reference in references(resource):
            if not _REFERENCE.match(reference) or reference not in by_key:
                raise ValueError(f"{_key(resource)}: reference {reference!r} does not resolve in the seed data")
            if reference != _key(resource):
                found.append(reference)
        targets[_key(resource)] = found
    depth: dict[str, int] = {}
    for key in targets:
        _depth(key, targets, depth, ())
    return [depth[_key(r)] for r in resources]


def _depth(key: str, targets: dict[str, list[str]], depth: dict[str, int], path: tuple[str, ...]) -> int:
    if key in depth:
        return depth[key]
    if key in path:
        raise ValueError(f"reference cycle in the seed data: {' -> '.join(path + (key,))}")
    depth[key] = 1 + max((_depth(t, targets, depth, path + (key,)) for t in targets[key]), default=-1)
    return depth[key]


def _tagged(resource: dict[str, Any]) -> dict[str, Any]:
    """``resource`` with the seed ``meta.tag`` (so a trial user can find or purge the demo data with ``_tag``)."""
    meta = dict(resource.get("meta", {}))
    meta["tag"] = [t for t in meta.get("tag", ()) if t.get("system") != SEED_TAG["system"]] + [SEED_TAG]
    head = {"resourceType": resource["resourceType"], "id": resource["id"], "meta": meta}
    return head | {k: v for k, v in resource.items() if k not in head}


def _transaction(resources: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [{"resource": r, "request": {"method": "PUT", "url": _key(r)}} for r in resources],
    }

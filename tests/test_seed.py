"""The demo data set (``seed_data/`` + :mod:`fhir_server.seed`): coherent, valid, future-dated, deterministic."""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter, defaultdict
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fhir_server.seed import ANCHOR, TIMEZONE, load_static, references, seed_bundles, seed_resources

TODAY = dt.date(2025, 3, 10)  # a Monday
ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
REFERRAL = {"system": "http://snomed.info/sct", "code": "3457005", "display": "Patient referral"}
FULFILL = {
    "system": "http://hl7.org/fhir/CodeSystem/task-code",
    "code": "fulfill",
    "display": "Fulfill the focal request",
}
NATIONAL_ID = "https://fhir.example-health.org/identifier/national-id"


@pytest.fixture(scope="module")
def bundles() -> list[dict[str, Any]]:
    return seed_bundles(TODAY)


@pytest.fixture(scope="module")
def resources(bundles) -> list[dict[str, Any]]:
    return [entry["resource"] for bundle in bundles for entry in bundle["entry"]]


@pytest.fixture(scope="module")
def by_key(resources) -> dict[str, dict[str, Any]]:
    return {f"{r['resourceType']}/{r['id']}": r for r in resources}


def of_type(resources, resource_type):
    return [r for r in resources if r["resourceType"] == resource_type]


def instant(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value)


def ref(resource: dict[str, Any]) -> str:
    return f"{resource['resourceType']}/{resource['id']}"


# --- shape of the data set ------------------------------------------------------------------------


def test_counts_per_type(resources):
    counts = Counter(r["resourceType"] for r in resources)
    slots = counts.pop("Slot")
    assert dict(sorted(counts.items())) == {
        "Appointment": 5,
        "CarePlan": 2,
        "Condition": 4,
        "Coverage": 7,
        "Encounter": 3,
        "Group": 1,
        "HealthcareService": 13,
        "InsurancePlan": 2,
        "Location": 6,
        "Medication": 6,
        "MedicationRequest": 4,
        "Organization": 14,
        "Patient": 12,
        "Practitioner": 10,
        "PractitionerRole": 13,
        "Schedule": 13,
        "ServiceRequest": 4,
        "Task": 4,
    }
    assert slots > 1000


def test_bundles_are_transactions_of_put_by_id(bundles):
    for bundle in bundles:
        assert bundle["resourceType"] == "Bundle"
        assert bundle["type"] == "transaction"
        for entry in bundle["entry"]:
            assert entry == {"resource": entry["resource"], "request": {"method": "PUT", "url": ref(entry["resource"])}}


def test_ids_are_unique_and_valid(resources):
    keys = [ref(r) for r in resources]
    assert len(keys) == len(set(keys))
    assert [r["id"] for r in resources if not ID.match(r["id"])] == []


def test_every_resource_carries_the_seed_tag(resources):
    tag = {
        "system": "https://fhir.example-health.org/CodeSystem/data-origin",
        "code": "seed",
        "display": "Demo seed data",
    }
    assert [ref(r) for r in resources if r["meta"] != {"tag": [tag]}] == []


# --- references -----------------------------------------------------------------------------------


def test_every_reference_resolves_in_the_seed_set(resources, by_key):
    dangling = [(ref(r), target) for r in resources for target in references(r) if target not in by_key]
    assert dangling == []


def test_referenced_resources_come_in_earlier_bundles(bundles):
    layer = {ref(e["resource"]): i for i, b in enumerate(bundles) for e in b["entry"]}
    late = [
        (key, target)
        for key, i in layer.items()
        for target in references(next(e["resource"] for e in bundles[i]["entry"] if ref(e["resource"]) == key))
        if target != key and layer[target] >= i
    ]
    assert late == []


def ancestors(org_ref: str, by_key) -> list[str]:
    chain = [org_ref]
    while "partOf" in by_key[chain[-1]]:
        chain.append(by_key[chain[-1]]["partOf"]["reference"])
    return chain


def test_practitioner_role_location_and_service_belong_to_its_organization(resources, by_key):
    wrong = []
    for role in of_type(resources, "PractitionerRole"):
        orgs = ancestors(role["organization"]["reference"], by_key)
        for loc in role["location"]:
            if by_key[loc["reference"]]["managingOrganization"]["reference"] not in orgs:
                wrong.append((role["id"], loc["reference"]))
        for hs in role["healthcareService"]:
            service = by_key[hs["reference"]]
            if service["providedBy"]["reference"] not in orgs:
                wrong.append((role["id"], hs["reference"]))
            if not {r["reference"] for r in service["location"]} & {r["reference"] for r in role["location"]}:
                wrong.append((role["id"], hs["reference"], "location"))
    assert wrong == []


def test_each_practitioner_role_has_exactly_one_schedule_naming_its_actors(resources, by_key):
    schedules = defaultdict(list)
    for schedule in of_type(resources, "Schedule"):
        actors = [a["reference"] for a in schedule["actor"]]
        role = by_key[actors[0]]
        assert actors == [
            ref(role),
            role["practitioner"]["reference"],
            role["location"][0]["reference"],
            role["healthcareService"][0]["reference"],
        ]
        assert schedule["specialty"] == role["specialty"]
        schedules[ref(role)].append(schedule["id"])
    assert sorted(schedules) == sorted(ref(r) for r in of_type(resources, "PractitionerRole"))
    assert [k for k, v in schedules.items() if len(v) != 1] == []


# --- slots and appointments -----------------------------------------------------------------------


def test_slots_are_in_the_future_within_the_horizon_and_never_overlap(resources, by_key):
    horizon_end = dt.datetime.combine(TODAY + dt.timedelta(days=15), dt.time(), TIMEZONE)
    per_schedule = defaultdict(list)
    for slot in of_type(resources, "Slot"):
        start, end = instant(slot["start"]), instant(slot["end"])
        assert start.astimezone(TIMEZONE).date() > TODAY
        assert end <= horizon_end
        assert end - start in (dt.timedelta(minutes=20), dt.timedelta(minutes=30))
        per_schedule[slot["schedule"]["reference"]].append((start, end))
    assert sorted(per_schedule) == sorted(ref(s) for s in of_type(resources, "Schedule"))
    for periods in per_schedule.values():
        periods.sort()
        assert all(prev_end <= start for (_, prev_end), (start, _) in zip(periods, periods[1:]))


def test_slots_follow_the_practitioner_role_available_time(resources, by_key):
    outside = []
    for slot in of_type(resources, "Slot"):
        role = by_key[by_key[slot["schedule"]["reference"]]["actor"][0]["reference"]]
        start, end = instant(slot["start"]), instant(slot["end"])
        day = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")[start.weekday()]
        if not any(
            day in t["daysOfWeek"]
            and t["availableStartTime"] <= start.strftime("%H:%M:%S")
            and end.strftime("%H:%M:%S") <= t["availableEndTime"]
            for t in role["availableTime"]
        ):
            outside.append(slot["id"])
    assert outside == []


def test_slot_statuses_are_free_or_busy_with_a_few_busy(resources):
    statuses = Counter(s["status"] for s in of_type(resources, "Slot"))
    assert set(statuses) == {"free", "busy"}
    assert 0 < statuses["busy"] < statuses["free"] / 4


def test_booked_appointments_point_at_busy_slots_of_their_practitioner_role(resources, by_key):
    appointments = of_type(resources, "Appointment")
    assert {a["status"] for a in appointments} == {"booked"}
    booked_slots = []
    for appointment in appointments:
        [slot] = [by_key[s["reference"]] for s in appointment["slot"]]
        booked_slots.append(slot["id"])
        assert slot["status"] == "busy"
        assert (appointment["start"], appointment["end"]) == (slot["start"], slot["end"])
        assert appointment["minutesDuration"] == (instant(slot["end"]) - instant(slot["start"])).seconds // 60
        schedule = by_key[slot["schedule"]["reference"]]
        actors = {p["actor"]["reference"] for p in appointment["participant"]}
        assert {a["reference"] for a in schedule["actor"]} <= actors
        [window] = appointment["requestedPeriod"]
        assert instant(window["start"]) <= instant(slot["start"]) and instant(slot["end"]) <= instant(window["end"])
        assert appointment["created"] == TODAY.isoformat()
    assert len(set(booked_slots)) == len(booked_slots)


def test_virtual_and_referral_appointments(resources, by_key):
    def locations(appointment):
        actors = [p["actor"]["reference"] for p in appointment["participant"]]
        return [by_key[a] for a in actors if a.startswith("Location/")]

    virtual = sorted(a["id"] for a in of_type(resources, "Appointment") if locations(a)[0]["mode"] == "kind")
    assert virtual == ["appt-aisha-alharbi-virtual-followup", "appt-reem-alotaibi-wellness-check"]
    for appointment in of_type(resources, "Appointment"):
        for based_on in appointment.get("basedOn", ()):
            referral = by_key[based_on["reference"]]
            period = referral["occurrencePeriod"]
            assert period["start"] <= appointment["start"][:10] <= period["end"]
            assert referral["performerType"]["coding"] == appointment["specialty"][0]["coding"]
    assert sorted(a["id"] for a in of_type(resources, "Appointment") if "basedOn" in a) == [
        "appt-mohammed-alqahtani-cardiology",
        "appt-sara-alghamdi-antenatal",
    ]


# --- workflow resources ---------------------------------------------------------------------------


def test_referrals_are_active_orders_each_with_a_fulfil_task(resources, by_key):
    tasks = {t["focus"]["reference"]: t for t in of_type(resources, "Task")}
    for referral in of_type(resources, "ServiceRequest"):
        assert referral["category"] == [{"coding": [REFERRAL]}]
        assert (referral["status"], referral["intent"]) == ("active", "order")
        assert referral["requester"]["reference"].startswith("PractitionerRole/")
        assert referral["subject"]["reference"].startswith("Patient/")
        assert referral["quantityQuantity"]["code"] == "{visit}"
        assert referral["occurrencePeriod"]["start"] <= TODAY.isoformat() < referral["occurrencePeriod"]["end"]
        task = tasks[ref(referral)]
        assert (task["code"], task["intent"], task["for"]) == ({"coding": [FULFILL]}, "order", referral["subject"])
        assert task["status"] in ("requested", "accepted")
        assert task["owner"]["reference"].startswith("Organization/")


def test_prescriptions_share_group_identifiers_and_are_current(resources):
    numbers = Counter(mr["groupIdentifier"]["value"] for mr in of_type(resources, "MedicationRequest"))
    assert numbers == {"RX-24-7004412": 2, "RX-24-7003980": 1, "RX-24-7004530": 1}
    for mr in of_type(resources, "MedicationRequest"):
        validity = mr["dispenseRequest"]["validityPeriod"]
        assert validity["start"] <= TODAY.isoformat() <= validity["end"]
        assert mr["dosageInstruction"][0]["timing"]["repeat"]["frequency"] >= 1


def test_patients_have_national_ids_mrns_and_languages(resources):
    for patient in of_type(resources, "Patient"):
        systems = [i["system"] for i in patient["identifier"]]
        assert systems[0] == NATIONAL_ID and systems[1].startswith("https://fhir.example-health.org/identifier/mrn/")
        assert {c["language"]["coding"][0]["code"] for c in patient["communication"]} <= {"ar", "en", "hi"}
    national_ids = [p["identifier"][0]["value"] for p in of_type(resources, "Patient")]
    assert len(set(national_ids)) == len(national_ids)


def test_every_period_starts_before_it_ends(resources):
    def periods(node):
        if isinstance(node, dict):
            if "start" in node and "end" in node and isinstance(node["start"], str):
                yield node
            for value in node.values():
                yield from periods(value)
        elif isinstance(node, list):
            for value in node:
                yield from periods(value)

    def moment(value: str) -> dt.datetime:
        parsed = dt.datetime.fromisoformat(value)
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=TIMEZONE)

    assert [(ref(r), p) for r in resources for p in periods(r) if moment(p["start"]) > moment(p["end"])] == []


# --- relative dates and determinism ---------------------------------------------------------------


def test_static_dates_move_with_today_but_birth_dates_do_not(by_key):
    moved = {f"{r['resourceType']}/{r['id']}": r for r in seed_resources(ANCHOR + dt.timedelta(days=30))}
    static = {f"{r['resourceType']}/{r['id']}": r for r in load_static()}
    referral = "ServiceRequest/sr-mohammed-alqahtani-cardiology"
    assert static[referral]["occurrencePeriod"] == {"start": "2024-12-22", "end": "2025-03-22"}
    assert moved[referral]["occurrencePeriod"] == {"start": "2025-01-21", "end": "2025-04-21"}
    assert by_key[referral]["occurrencePeriod"] == {"start": "2025-02-28", "end": "2025-05-29"}
    noor = "Patient/pat-noor-alsubaie"
    assert moved[noor]["birthDate"] == static[noor]["birthDate"] == "2022-08-18"


def test_same_date_gives_identical_bundles(bundles):
    again = seed_bundles(TODAY)
    assert again == bundles
    assert orjson.dumps(again) == orjson.dumps(bundles)


@settings(max_examples=25, deadline=None)
@given(st.dates(min_value=dt.date(2024, 1, 1), max_value=dt.date(2035, 12, 31)))
def test_any_date_books_every_appointment_in_future_slots(today):
    resources = seed_resources(today)
    slots = {r["id"]: r for r in resources if r["resourceType"] == "Slot"}
    assert all(instant(s["start"]).date() > today for s in slots.values())
    for appointment in (r for r in resources if r["resourceType"] == "Appointment"):
        assert appointment["status"] == "booked"
        assert slots[appointment["slot"][0]["reference"].removeprefix("Slot/")]["status"] == "busy"
    assert seed_resources(today) == resources


def test_seed_resources_are_valid_r4():
    validation = pytest.importorskip("fhir_server.validation")
    resource_issues = getattr(validation, "resource_issues", None)
    if resource_issues is None:
        pytest.skip("fhir_server.validation.resource_issues is not available")
    issues = {}
    for bundle in seed_bundles(TODAY):
        for entry in bundle["entry"]:
            found = resource_issues(entry["resource"])
            if found:
                issues[ref(entry["resource"])] = found
        assert resource_issues(bundle) == []
    assert issues == {}


def test_static_files_are_valid_r4_on_their_own():
    validation = pytest.importorskip("fhir_server.validation")
    resource_issues = getattr(validation, "resource_issues", None)
    if resource_issues is None:
        pytest.skip("fhir_server.validation.resource_issues is not available")
    assert {ref(r): resource_issues(r) for r in load_static() if resource_issues(r)} == {}

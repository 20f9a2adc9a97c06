"""The official R4 examples round-trip unchanged except id/meta (hl7.fhir.r4.examples@4.0.1)."""

from __future__ import annotations

import pytest

from tests.conftest import without_meta

EXAMPLES = [
    "Patient-example", "Practitioner-example", "PractitionerRole-example", "Organization-hl7", "Location-1",
    "Schedule-example", "Slot-example", "Appointment-example", "ServiceRequest-example", "MedicationRequest-medrx0301",
    "Medication-med0301", "CarePlan-example",
]


@pytest.mark.parametrize("stem", EXAMPLES)
async def test_official_example_round_trips_through_put_and_read(client, example, stem):
    resource = example(stem)
    url = f"/{resource['resourceType']}/{resource['id']}"
    written = await client.put(url, json=resource)
    assert written.status_code == 201, written.text
    read = (await client.get(url)).json()
    assert without_meta(read) == without_meta(resource)
    assert read["meta"]["versionId"] == "1"


@pytest.mark.parametrize("stem", EXAMPLES)
async def test_official_example_round_trips_through_post(client, example, stem):
    resource = example(stem)
    created = await client.post(f"/{resource['resourceType']}", json=resource)
    assert created.status_code == 201, created.text
    read = (await client.get(f"/{resource['resourceType']}/{created.json()['id']}")).json()
    assert without_meta({**read, "id": resource["id"]}) == without_meta(resource)

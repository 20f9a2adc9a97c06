"""history at instance, type and system level, with paging (http://hl7.org/fhir/R4/http.html#history)."""

from __future__ import annotations

import asyncio

from tests.api.test_crud import PATIENT
from tests.conftest import BASE


async def test_instance_history_lists_versions_newest_first_with_tombstones(client):
    await client.put("/Patient/h1", json={**PATIENT, "id": "h1"})
    await client.put("/Patient/h1", json={**PATIENT, "id": "h1", "gender": "other"})
    await client.delete("/Patient/h1")
    bundle = (await client.get("/Patient/h1/_history")).json()
    v1 = (await client.get("/Patient/h1/_history/1")).json()
    v2 = (await client.get("/Patient/h1/_history/2")).json()
    tombstone_time = bundle["entry"][0]["response"]["lastModified"]
    assert bundle == {
        "resourceType": "Bundle",
        "type": "history",
        "total": 3,
        "link": [{"relation": "self", "url": bundle["link"][0]["url"]}],
        "entry": [
            {"fullUrl": f"{BASE}/Patient/h1", "request": {"method": "DELETE", "url": "Patient/h1"},
             "response": {"status": "204", "etag": 'W/"3"', "lastModified": tombstone_time}},
            {"fullUrl": f"{BASE}/Patient/h1", "resource": v2, "request": {"method": "PUT", "url": "Patient/h1"},
             "response": {"status": "200", "etag": 'W/"2"', "lastModified": v2["meta"]["lastUpdated"]}},
            {"fullUrl": f"{BASE}/Patient/h1", "resource": v1, "request": {"method": "PUT", "url": "Patient/h1"},
             "response": {"status": "201", "etag": 'W/"1"', "lastModified": v1["meta"]["lastUpdated"]}},
        ],
    }


async def test_type_and_system_history_page_with_working_links(client):
    for n in range(5):
        await client.put(f"/Patient/hp{n}", json={**PATIENT, "id": f"hp{n}"})
    await client.put("/Practitioner/pr1", json={"resourceType": "Practitioner", "id": "pr1"})
    first = (await client.get("/Patient/_history", params={"_count": "2"})).json()
    assert first["total"] == 5
    assert [e["resource"]["id"] for e in first["entry"]] == ["hp4", "hp3"]
    seen = [e["resource"]["id"] for e in first["entry"]]
    page = first
    while next_link := next((l["url"] for l in page["link"] if l["relation"] == "next"), None):
        await client.put("/Patient/late", json={**PATIENT, "id": "late"})  # must not shift later pages
        page = (await client.get(next_link.removeprefix(BASE))).json()
        seen += [e["resource"]["id"] for e in page["entry"]]
    assert seen == ["hp4", "hp3", "hp2", "hp1", "hp0"]
    system = (await client.get("/_history")).json()
    assert system["total"] == 8  # 5 + Practitioner + 2 versions of "late"
    assert {e["resource"]["resourceType"] for e in system["entry"]} == {"Patient", "Practitioner"}


async def test_history_since_filters_by_time(client):
    await client.put("/Patient/s1", json={**PATIENT, "id": "s1"})
    await asyncio.sleep(0.01)  # distinct lastUpdated milliseconds
    later = (await client.put("/Patient/s1", json={**PATIENT, "id": "s1", "gender": "male"})).json()
    bundle = (await client.get("/Patient/s1/_history", params={"_since": later["meta"]["lastUpdated"]})).json()
    assert [e["resource"]["meta"]["versionId"] for e in bundle["entry"]] == ["2"]


async def test_history_of_unknown_resource_is_404(client):
    assert (await client.get("/Patient/none/_history")).status_code == 404


async def test_bad_since_is_400(client):
    response = await client.get("/Patient/_history", params={"_since": "yesterday"})
    assert response.status_code == 400


async def test_history_at_lists_the_versions_current_during_that_time(client):
    v1 = (await client.put("/Patient/at1", json={**PATIENT, "id": "at1"})).json()
    await asyncio.sleep(0.01)  # distinct lastUpdated milliseconds
    v2 = (await client.put("/Patient/at1", json={**PATIENT, "id": "at1", "gender": "male"})).json()
    await asyncio.sleep(0.01)
    v3 = (await client.put("/Patient/at1", json={**PATIENT, "id": "at1", "gender": "other"})).json()
    at_v1 = (await client.get("/Patient/at1/_history", params={"_at": v1["meta"]["lastUpdated"]})).json()
    assert [e["resource"]["meta"]["versionId"] for e in at_v1["entry"]] == ["1"]
    at_v2 = (await client.get("/Patient/at1/_history", params={"_at": v2["meta"]["lastUpdated"]})).json()
    assert [e["resource"]["meta"]["versionId"] for e in at_v2["entry"]] == ["2"]
    year = v3["meta"]["lastUpdated"][:4]
    whole_year = (await client.get("/Patient/at1/_history", params={"_at": year})).json()
    assert [e["resource"]["meta"]["versionId"] for e in whole_year["entry"]] == ["3", "2", "1"]
    assert (await client.get("/Patient/at1/_history", params={"_at": "1999"})).json()["total"] == 0

"""No lost updates and race-free conditional creates (http://hl7.org/fhir/R4/http.html#concurrency)."""

from __future__ import annotations

import asyncio

from tests.api.test_crud import PATIENT


async def test_two_concurrent_updates_of_one_version_one_wins_one_gets_409(client):
    await client.put("/Patient/race", json={**PATIENT, "id": "race"})
    bodies = [{**PATIENT, "id": "race", "gender": g} for g in ("male", "other")]
    responses = await asyncio.gather(*(client.put("/Patient/race", json=b) for b in bodies))
    statuses = sorted(r.status_code for r in responses)
    assert statuses in ([200, 200], [200, 409])
    history = (await client.get("/Patient/race/_history")).json()
    assert history["total"] == 1 + statuses.count(200)


async def test_concurrent_updates_guarded_by_if_match_exactly_one_wins(client):
    await client.put("/Patient/guarded", json={**PATIENT, "id": "guarded"})
    bodies = [{**PATIENT, "id": "guarded", "birthDate": f"1990-01-{day:02d}"} for day in range(1, 11)]
    responses = await asyncio.gather(
        *(client.put("/Patient/guarded", json=b, headers={"if-match": 'W/"1"'}) for b in bodies)
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] + [412] * 9
    winner = next(r.json() for r in responses if r.status_code == 200)
    assert (await client.get("/Patient/guarded")).json() == winner
    assert (await client.get("/Patient/guarded/_history")).json()["total"] == 2


async def test_racing_writers_of_version_n_conflict_in_the_repository(app):
    """Two writers that both read version 1 and both write version 2: exactly one succeeds."""
    from fhir_server.context import RequestContext
    from fhir_server.interactions.versioning import next_version
    from fhir_server.storage.repository import VersionConflict

    repository = app.state.backend.repository
    ctx = RequestContext(base_url="http://test/fhir")
    first = next_version("Patient", "cas", {**PATIENT}, None, "PUT")
    await repository.save(first)
    current = await repository.current(ctx, "Patient", "cas")
    a = next_version("Patient", "cas", {**PATIENT, "gender": "male"}, current, "PUT")
    b = next_version("Patient", "cas", {**PATIENT, "gender": "other"}, current, "PUT")
    outcomes = await asyncio.gather(repository.save(a), repository.save(b), return_exceptions=True)
    assert sorted(type(o).__name__ for o in outcomes) == ["NoneType", "VersionConflict"]
    assert isinstance(next(o for o in outcomes if o is not None), VersionConflict)
    assert (await repository.current(ctx, "Patient", "cas")).vid == 2


async def test_twenty_concurrent_conditional_creates_make_exactly_one_resource(client):
    body = {**PATIENT, "identifier": [{"system": "urn:test:national-id", "value": "race-20"}]}
    headers = {"if-none-exist": "identifier=urn:test:national-id|race-20"}
    responses = await asyncio.gather(*(client.post("/Patient", json=body, headers=headers) for _ in range(20)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] * 19 + [201]
    ids = {r.json()["id"] for r in responses}
    assert len(ids) == 1
    found = (await client.get("/Patient", params={"identifier": "urn:test:national-id|race-20"})).json()
    assert found["total"] == 1


async def test_twenty_concurrent_conditional_updates_make_exactly_one_resource(client):
    body = {**PATIENT, "identifier": [{"system": "urn:test:national-id", "value": "upsert-20"}]}
    url = "/Patient?identifier=urn:test:national-id|upsert-20"
    responses = await asyncio.gather(*(client.put(url, json=body) for _ in range(20)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] * 19 + [201]
    assert len({r.json()["id"] for r in responses}) == 1
    history = (await client.get(f"/Patient/{responses[0].json()['id']}/_history")).json()
    assert history["total"] == 20


async def test_a_version_orphaned_by_a_crashed_writer_does_not_block_the_resource(client, app):
    """A writer that inserted version 2 into history and died before making it current."""
    from datetime import timedelta

    from fhir_server.storage.repository import HISTORY, utc_now

    await client.put("/Patient/orphan", json={**PATIENT, "id": "orphan"})
    history = app.state.backend.repository.db[HISTORY]
    await history.insert_one({
        "_id": "Patient/orphan/2", "t": "Patient", "i": "orphan", "v": 2, "ts": utc_now() - timedelta(minutes=5),
        "del": False, "m": "PUT", "raw": b"{}",
    })
    response = await client.put("/Patient/orphan", json={**PATIENT, "id": "orphan", "gender": "male"})
    assert response.status_code == 200
    assert response.json()["meta"]["versionId"] == "2"
    assert (await client.get("/Patient/orphan/_history/2")).json() == response.json()


async def test_a_fresh_uncommitted_version_is_not_taken_for_an_orphan(client, app):
    from fhir_server.storage.repository import HISTORY, utc_now

    await client.put("/Patient/inflight", json={**PATIENT, "id": "inflight"})
    await app.state.backend.repository.db[HISTORY].insert_one({
        "_id": "Patient/inflight/2", "t": "Patient", "i": "inflight", "v": 2, "ts": utc_now(),
        "del": False, "m": "PUT", "raw": b"{}",
    })
    response = await client.put("/Patient/inflight", json={**PATIENT, "id": "inflight", "gender": "male"})
    assert response.status_code == 409
    assert response.json() == {"resourceType": "OperationOutcome", "issue": [{
        "severity": "error", "code": "conflict",
        "diagnostics": "Patient/inflight version 2 already exists: another request changed it concurrently; re-read and retry",
    }]}

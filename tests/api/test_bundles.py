"""batch and transaction Bundles through the ASGI app (http://hl7.org/fhir/R4/http.html#transaction)."""

from __future__ import annotations

import base64
import asyncio
from typing import Any

import httpx
import orjson
import pytest

from fhir_server.main import create_app
from tests.api.test_crud import PATIENT, expected
from tests.conftest import BASE
from tests.conftest import test_settings as settings_with

NATIONAL = "urn:test:national-id"


def bundle(*entries: dict, kind: str = "transaction") -> dict:
    return {"resourceType": "Bundle", "type": kind, "entry": list(entries)}


def post(resource: dict, full_url: str | None = None, **request: Any) -> dict:
    entry: dict[str, Any] = {"fullUrl": full_url} if full_url else {}
    return {**entry, "resource": resource, "request": {"method": "POST", "url": resource["resourceType"], **request}}


def put(url: str, resource: dict, full_url: str | None = None, **request: Any) -> dict:
    entry: dict[str, Any] = {"fullUrl": full_url} if full_url else {}
    return {**entry, "resource": resource, "request": {"method": "PUT", "url": url, **request}}


def request(method: str, url: str, **request: Any) -> dict:
    return {"request": {"method": method, "url": url, **request}}


def patient(value: str, **fields: Any) -> dict:
    return {**PATIENT, "identifier": [{"system": NATIONAL, "value": value}], **fields}


async def send(client: httpx.AsyncClient, body: dict, **headers: str) -> httpx.Response:
    return await client.post("/", content=orjson.dumps(body), headers={"content-type": "application/fhir+json", **headers})


def written(resource: dict, status: str, resource_id: str, vid: int, last_updated: str) -> dict:
    """The response entry of a create/update that returns the resource (the default)."""
    url = f"{BASE}/{resource['resourceType']}/{resource_id}"
    return {
        "fullUrl": url,
        "resource": expected(resource, resource_id, vid, last_updated),
        "response": {"status": status, "location": f"{url}/_history/{vid}", "etag": f'W/"{vid}"', "lastModified": last_updated},
    }


def ids_of(response: httpx.Response) -> list[str | None]:
    return [e.get("resource", {}).get("id") for e in response.json()["entry"]]


def stamp(response: httpx.Response, index: int) -> str:
    return response.json()["entry"][index]["response"]["lastModified"]


def outcome(status: int, code: str, diagnostics: str, *expression: str) -> dict:
    issue: dict[str, Any] = {"severity": "error", "code": code, "diagnostics": diagnostics}
    if expression:
        issue["expression"] = list(expression)
    return {"resourceType": "OperationOutcome", "issue": [issue]}


async def test_transaction_links_entries_by_fullurl_everywhere_a_reference_can_be(client):
    practitioner = {"resourceType": "Practitioner", "name": [{"family": "Osei"}]}
    binary = {"resourceType": "Binary", "contentType": "text/plain", "data": base64.b64encode(b"scan").decode()}
    observation = {
        "resourceType": "Observation",
        "text": {"status": "generated", "div": '<div xmlns="http://www.w3.org/1999/xhtml"><a href="urn:uuid:p-1">the patient</a></div>'},
        "contained": [{"resourceType": "Specimen", "id": "s1", "subject": {"reference": "urn:uuid:p-1"}}],
        "extension": [{"url": "http://example.org/fhir/StructureDefinition/reviewer", "valueReference": {"reference": "urn:uuid:pr-1"}}],
        "status": "final",
        "code": {"text": "weight"},
        "subject": {"reference": "urn:uuid:p-1", "display": "Aisha"},
        "performer": [{"reference": "urn:uuid:pr-1"}],
        "specimen": {"reference": "#s1"},
    }
    document = {
        "resourceType": "DocumentReference", "status": "current", "subject": {"reference": "urn:uuid:p-1"},
        "content": [{"attachment": {"contentType": "text/plain", "url": "urn:uuid:b-1"}}],
    }
    body = bundle(
        post(observation, "urn:uuid:o-1"), post(document, "urn:uuid:d-1"), post(PATIENT, "urn:uuid:p-1"),
        post(practitioner, "urn:uuid:pr-1"), post(binary, "urn:uuid:b-1"),
    )
    response = await send(client, body)
    assert response.status_code == 200, response.text
    obs_id, doc_id, pat_id, pr_id, bin_id = ids_of(response)
    linked_observation = {
        **observation,
        "text": {"status": "generated", "div": f'<div xmlns="http://www.w3.org/1999/xhtml"><a href="{BASE}/Patient/{pat_id}">the patient</a></div>'},
        "contained": [{"resourceType": "Specimen", "id": "s1", "subject": {"reference": f"Patient/{pat_id}"}}],
        "extension": [{"url": "http://example.org/fhir/StructureDefinition/reviewer", "valueReference": {"reference": f"Practitioner/{pr_id}"}}],
        "subject": {"reference": f"Patient/{pat_id}", "display": "Aisha"},
        "performer": [{"reference": f"Practitioner/{pr_id}"}],
    }
    linked_document = {
        **document, "subject": {"reference": f"Patient/{pat_id}"},
        "content": [{"attachment": {"contentType": "text/plain", "url": f"{BASE}/Binary/{bin_id}"}}],
    }
    assert response.json() == {
        "resourceType": "Bundle",
        "type": "transaction-response",
        "entry": [
            written(linked_observation, "201 Created", obs_id, 1, stamp(response, 0)),
            written(linked_document, "201 Created", doc_id, 1, stamp(response, 1)),
            written(PATIENT, "201 Created", pat_id, 1, stamp(response, 2)),
            written(practitioner, "201 Created", pr_id, 1, stamp(response, 3)),
            written(binary, "201 Created", bin_id, 1, stamp(response, 4)),
        ],
    }
    assert (await client.get(f"/Observation/{obs_id}")).json() == response.json()["entry"][0]["resource"]
    found = (await client.get("/Observation", params={"subject": f"Patient/{pat_id}"})).json()
    assert [e["resource"]["id"] for e in found["entry"]] == [obs_id]


async def test_entries_run_delete_post_put_get_and_answer_in_request_order(client):
    await client.put("/Patient/old", json={**patient("Q-1"), "id": "old"})
    body = bundle(
        request("GET", f"Patient?identifier={NATIONAL}|Q-1"),
        put("Patient/ord-put", {**patient("Q-2"), "id": "ord-put"}),
        post(patient("Q-1"), ifNoneExist=f"identifier={NATIONAL}|Q-1"),
        request("DELETE", "Patient/old"),
    )
    response = await send(client, body)
    assert response.status_code == 200, response.text
    entries = response.json()["entry"]
    new_id = entries[2]["resource"]["id"]
    assert new_id != "old"  # the delete ran first, so the conditional create found nothing and created
    search = entries[0]["resource"]
    assert [e["resource"]["id"] for e in search["entry"]] == [new_id]
    assert entries[0]["response"] == {"status": "200 OK"}
    assert entries[1] == written({**patient("Q-2"), "id": "ord-put"}, "201 Created", "ord-put", 1, stamp(response, 1))
    assert entries[2] == written(patient("Q-1"), "201 Created", new_id, 1, stamp(response, 2))
    assert entries[3] == {"response": {"status": "204 No Content", "etag": 'W/"2"'}}
    assert (await client.get("/Patient/old")).status_code == 410


async def test_conditional_create_update_and_delete_entries(client):
    existing = (await client.post("/Patient", json=patient("C-1"))).json()
    await client.post("/Patient", json=patient("C-3"))
    changed = {**patient("C-1"), "gender": "other"}
    body = bundle(
        post(patient("C-1"), ifNoneExist=f"identifier={NATIONAL}|C-1"),
        put(f"Patient?identifier={NATIONAL}|C-2", patient("C-2")),
        request("DELETE", f"Patient?identifier={NATIONAL}|C-3"),
        request("DELETE", f"Patient?identifier={NATIONAL}|nobody"),
    )
    response = await send(client, body)
    assert response.status_code == 200, response.text
    entries = response.json()["entry"]
    assert entries[0] == {
        "fullUrl": f"{BASE}/Patient/{existing['id']}", "resource": existing,
        "response": {"status": "200 OK", "location": f"{BASE}/Patient/{existing['id']}/_history/1", "etag": 'W/"1"',
                     "lastModified": existing["meta"]["lastUpdated"]},
    }
    assert entries[1] == written(patient("C-2"), "201 Created", entries[1]["resource"]["id"], 1, stamp(response, 1))
    information = "information"
    assert entries[2] == {"response": {"status": "200 OK", "outcome": {"resourceType": "OperationOutcome", "issue": [
        {"severity": information, "code": "informational", "diagnostics": "Deleted 1 Patient resource(s)"}]}}}
    assert entries[3] == {"response": {"status": "200 OK", "outcome": {"resourceType": "OperationOutcome", "issue": [
        {"severity": information, "code": "informational", "diagnostics": "No Patient matched; nothing was deleted"}]}}}
    update = await send(client, bundle(put(f"Patient?identifier={NATIONAL}|C-1", changed, ifMatch='W/"1"')))
    assert update.json()["entry"] == [written({**changed, "id": existing["id"]}, "200 OK", existing["id"], 2, stamp(update, 0))]


async def test_if_match_entry_that_does_not_hold_fails_the_transaction_with_412(client):
    await client.put("/Patient/im", json={**patient("IM"), "id": "im"})
    body = bundle(post(patient("IM-new")), put("Patient/im", {**patient("IM"), "id": "im"}, ifMatch='W/"3"'))
    response = await send(client, body)
    assert response.status_code == 412
    assert response.json() == outcome(
        412, "conflict", "Bundle.entry[1] (PUT Patient/im): If-Match expects version 3, but the current version is 1", "Bundle.entry[1]"
    )
    found = (await client.get("/Patient", params={"identifier": f"{NATIONAL}|IM-new"})).json()
    assert found["total"] == 0


async def test_invalid_resource_fails_the_transaction_naming_the_element(client):
    response = await send(client, bundle(post(PATIENT), post({**PATIENT, "gender": "nope"})))
    assert response.status_code == 400
    issue = response.json()["issue"][0]
    assert issue["expression"] == ["Bundle.entry[1].resource.gender"]
    assert issue["diagnostics"].startswith("Bundle.entry[1] (POST Patient): ")


async def test_read_entries_with_conditions_searches_and_head(client):
    first = (await client.put("/Patient/rd", json={**patient("RD"), "id": "rd"})).json()
    body = bundle(
        request("GET", "Patient/rd", ifNoneMatch='W/"1"'),
        request("GET", "Patient/rd", ifModifiedSince="2100-01-01T00:00:00+10:00"),
        request("GET", "Patient/rd", ifModifiedSince="2000-01-01T00:00:00Z"),
        request("HEAD", "Patient/rd"),
        request("GET", "Patient/rd/_history/1"),
        request("GET", f"Patient?identifier={NATIONAL}|RD&_elements=gender"),
    )
    response = await send(client, body)
    assert response.status_code == 200, response.text
    last_modified = first["meta"]["lastUpdated"][:19] + ".000+00:00"  # from Last-Modified: whole seconds
    headers = {"etag": 'W/"1"', "lastModified": last_modified}
    entries = response.json()["entry"]
    assert entries[:5] == [
        {"response": {"status": "304 Not Modified", **headers}},
        {"response": {"status": "304 Not Modified", **headers}},
        {"fullUrl": f"{BASE}/Patient/rd", "resource": first, "response": {"status": "200 OK", **headers}},
        {"response": {"status": "200 OK", **headers}},
        {"fullUrl": f"{BASE}/Patient/rd", "resource": first, "response": {"status": "200 OK", **headers}},
    ]
    search = entries[5]["resource"]
    assert (search["type"], search["total"], [e["resource"]["gender"] for e in search["entry"]]) == ("searchset", 1, ["female"])


async def test_failing_read_entry_fails_the_transaction_and_undoes_its_writes(client):
    response = await send(client, bundle(post(patient("RF")), request("GET", "Patient/missing")))
    assert response.status_code == 404
    assert response.json() == outcome(404, "not-found", "Bundle.entry[1] (GET Patient/missing): Patient/missing is not known", "Bundle.entry[1]")
    assert (await client.get("/Patient", params={"identifier": f"{NATIONAL}|RF"})).json()["total"] == 0


@pytest.mark.parametrize("prefer", ["return=minimal", "return=OperationOutcome", "return=representation"])
async def test_prefer_return_applies_to_every_entry(client, prefer):
    response = await send(client, bundle(put("Patient/pr", {**PATIENT, "id": "pr"})), prefer=prefer)
    assert response.status_code == 200
    entry = response.json()["entry"][0]
    head = {"status": "201 Created", "location": f"{BASE}/Patient/pr/_history/1", "etag": 'W/"1"', "lastModified": stamp(response, 0)}
    if prefer == "return=minimal":
        assert entry == {"fullUrl": f"{BASE}/Patient/pr", "response": head}
    elif prefer == "return=OperationOutcome":
        issue = {"severity": "information", "code": "informational", "diagnostics": "Patient/pr created, version 1"}
        assert entry == {"fullUrl": f"{BASE}/Patient/pr",
                         "response": {**head, "outcome": {"resourceType": "OperationOutcome", "issue": [issue]}}}
    else:
        assert entry == written({**PATIENT, "id": "pr"}, "201 Created", "pr", 1, stamp(response, 0))


async def test_two_entries_on_one_resource_fail_with_400(client):
    await client.put("/Patient/twice", json={**PATIENT, "id": "twice"})
    body = bundle(request("DELETE", "Patient/twice"), put("Patient/twice", {**PATIENT, "id": "twice"}))
    response = await send(client, body)
    assert response.status_code == 400
    assert response.json() == outcome(400, "invalid", (
        "Bundle.entry[1] (PUT Patient/twice): Bundle.entry[0] and Bundle.entry[1] both act on Patient/twice; "
        "a transaction may change each resource only once"
    ), "Bundle.entry[1]")
    assert (await client.get("/Patient/twice")).status_code == 200


async def test_duplicate_full_urls_are_400(client):
    response = await send(client, bundle(post(PATIENT, "urn:uuid:same"), post(PATIENT, "urn:uuid:same")))
    assert response.status_code == 400
    assert response.json() == outcome(400, "invalid", (
        "Bundle.entry[1] (POST Patient): fullUrl 'urn:uuid:same' is also the fullUrl of Bundle.entry[0]; it must be unique"
    ), "Bundle.entry[1]")


async def test_more_entries_than_the_limit_is_413():
    app = create_app(settings_with(max_bundle_entries=2))
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as client:
            response = await send(client, bundle(post(PATIENT), post(PATIENT), post(PATIENT)))
    assert response.status_code == 413
    assert response.json() == outcome(413, "too-costly", "The Bundle has 3 entries; this server takes at most 2")


@pytest.mark.parametrize(("body", "status", "diagnostics", "expression"), [
    ({"resourceType": "Patient"}, 400, "POST to the service base takes a Bundle of type batch or transaction", None),
    ({"resourceType": "Bundle", "type": "collection"}, 400,
     "Bundle.type must be batch or transaction to be processed, not 'collection'", "Bundle.type"),
    (bundle({"request": {"method": "FETCH", "url": "Patient"}}), 400,
     "Bundle.entry[0].request.method must be one of GET, HEAD, POST, PUT, PATCH, DELETE", "Bundle.entry[0].request.method"),
    (bundle({"resource": PATIENT}), 400,
     "Bundle.entry[0].request is required in a batch or transaction", "Bundle.entry[0].request"),
    (bundle(request("PUT", "Patient/x")), 400,
     "Bundle.entry[0]: PUT needs a resource in Bundle.entry[0].resource", "Bundle.entry[0].resource"),
    (bundle(request("GET", "http://elsewhere.example/fhir/Patient/1")), 400,
     "Bundle.entry[0].request.url 'http://elsewhere.example/fhir/Patient/1' is not on this server (http://test/fhir)",
     "Bundle.entry[0].request.url"),
])
async def test_malformed_bundles_are_400(client, body, status, diagnostics, expression):
    response = await send(client, body)
    assert response.status_code == status
    assert response.json() == outcome(status, "invalid", diagnostics, *([expression] if expression else []))


async def test_absolute_request_urls_on_this_server_and_empty_bundles(client):
    response = await send(client, bundle(put(f"{BASE}/Patient/abs", {**PATIENT, "id": "abs"})))
    assert response.json()["entry"] == [written({**PATIENT, "id": "abs"}, "201 Created", "abs", 1, stamp(response, 0))]
    empty = await send(client, bundle())
    assert empty.json() == {"resourceType": "Bundle", "type": "transaction-response"}


async def test_conditional_references_resolve_to_their_single_match(client):
    target = (await client.post("/Patient", json=patient("CR-1"))).json()
    observation = {"resourceType": "Observation", "status": "final", "code": {"text": "bp"},
                   "subject": {"reference": f"Patient?identifier={NATIONAL}|CR-1"}}
    response = await send(client, bundle(post(observation)))
    assert response.status_code == 200, response.text
    stored = response.json()["entry"][0]["resource"]
    assert stored["subject"] == {"reference": f"Patient/{target['id']}"}


@pytest.mark.parametrize(("reference", "status", "code", "diagnostics"), [
    (f"Patient?identifier={NATIONAL}|nobody", 412, "conflict",
     f"The conditional reference 'Patient?identifier={NATIONAL}|nobody' matches no resource; it must match exactly one"),
    (f"Patient?identifier={NATIONAL}|CR-twice", 412, "conflict",
     f"The conditional reference 'Patient?identifier={NATIONAL}|CR-twice' matches more than one resource; it must match exactly one"),
    ("Patientt?identifier=x", 400, "invalid",
     "The conditional reference 'Patientt?identifier=x' does not start with a resource type"),
    ("urn:uuid:not-in-the-bundle", 400, "invalid",
     "The reference 'urn:uuid:not-in-the-bundle' does not match the fullUrl of any entry in the Bundle"),
])
async def test_unresolvable_references_fail_the_transaction(client, reference, status, code, diagnostics):
    for _ in range(2):
        await client.post("/Patient", json=patient("CR-twice"))
    observation = {"resourceType": "Observation", "status": "final", "code": {"text": "bp"}, "subject": {"reference": reference}}
    response = await send(client, bundle(post(patient("CR-new")), post(observation)))
    assert response.status_code == status
    assert response.json() == outcome(status, code, f"Bundle.entry[1] (POST Observation): {diagnostics}", "Bundle.entry[1]")
    assert (await client.get("/Patient", params={"identifier": f"{NATIONAL}|CR-new"})).json()["total"] == 0


async def test_patch_entries_with_fhirpath_parameters_and_json_patch_binary(client):
    await client.put("/Patient/pa", json={**PATIENT, "id": "pa"})
    await client.put("/Patient/pb", json={**PATIENT, "id": "pb"})
    fhirpath = {"resourceType": "Parameters", "parameter": [{"name": "operation", "part": [
        {"name": "type", "valueCode": "replace"}, {"name": "path", "valueString": "Patient.gender"},
        {"name": "value", "valueCode": "male"}]}]}
    json_patch = base64.b64encode(orjson.dumps([{"op": "replace", "path": "/gender", "value": "other"}])).decode()
    body = bundle(
        {"resource": fhirpath, "request": {"method": "PATCH", "url": "Patient/pa"}},
        {"resource": {"resourceType": "Binary", "contentType": "application/json-patch+json", "data": json_patch},
         "request": {"method": "PATCH", "url": "Patient/pb", "ifMatch": 'W/"1"'}},
    )
    response = await send(client, body)
    assert response.status_code == 200, response.text
    assert response.json()["entry"] == [
        written({**PATIENT, "id": "pa", "gender": "male"}, "200 OK", "pa", 2, stamp(response, 0)),
        written({**PATIENT, "id": "pb", "gender": "other"}, "200 OK", "pb", 2, stamp(response, 1)),
    ]


async def test_idempotent_resend_creates_nothing_new(client):
    """A transaction sent again after a lost response: conditional entries find what the first made."""
    encounter = {"resourceType": "Encounter", "status": "finished", "class": {"code": "AMB"},
                 "identifier": [{"system": NATIONAL, "value": "E-1"}], "subject": {"reference": "urn:uuid:pat"}}
    body = bundle(
        post(patient("ID-1"), "urn:uuid:pat", ifNoneExist=f"identifier={NATIONAL}|ID-1"),
        put(f"Encounter?identifier={NATIONAL}|E-1", encounter, "urn:uuid:enc"),
    )
    first = await send(client, body)
    again = await send(client, body)
    assert (first.status_code, again.status_code) == (200, 200)
    assert ids_of(again) == ids_of(first)
    assert [e["response"]["status"] for e in first.json()["entry"]] == ["201 Created", "201 Created"]
    assert [e["response"]["status"] for e in again.json()["entry"]] == ["200 OK", "200 OK"]
    assert again.json()["entry"][1]["resource"]["subject"] == {"reference": f"Patient/{ids_of(first)[0]}"}
    for resource_type in ("Patient", "Encounter"):
        assert (await client.get(f"/{resource_type}")).json()["total"] == 1
    history = (await client.get(f"/Encounter/{ids_of(first)[1]}/_history")).json()
    assert history["total"] == 2  # a resend of a conditional update adds a version, never a resource


async def test_batch_entries_succeed_or_fail_each_on_its_own(client):
    await client.put("/Patient/bm", json={**PATIENT, "id": "bm"})
    await client.put("/Patient/bm2", json={**PATIENT, "id": "bm2"})
    body = bundle(
        post(patient("B-1")),
        post({**PATIENT, "gender": "nope"}),
        put("Patient/bm", {**PATIENT, "id": "bm"}, ifMatch='W/"7"'),
        request("GET", "Patient/nope"),
        request("DELETE", "Patient/bm2"),
        {"request": {"method": "PUT"}},
        kind="batch",
    )
    response = await send(client, body)
    assert response.status_code == 200, response.text
    entries = response.json()["entry"]
    assert entries[0] == written(patient("B-1"), "201 Created", entries[0]["resource"]["id"], 1, stamp(response, 0))
    assert entries[1]["response"]["status"] == "400 Bad Request"
    assert entries[1]["response"]["outcome"]["issue"][0]["expression"] == ["Patient.gender"]
    assert entries[2:] == [
        {"response": {"status": "412 Precondition Failed", "outcome": outcome(
            412, "conflict", "If-Match expects version 7, but the current version is 1")}},
        {"response": {"status": "404 Not Found", "outcome": outcome(404, "not-found", "Patient/nope is not known")}},
        {"response": {"status": "204 No Content", "etag": 'W/"2"'}},
        {"response": {"status": "400 Bad Request", "outcome": outcome(
            400, "invalid", "Bundle.entry[5].request.url is required", "Bundle.entry[5].request.url")}},
    ]
    assert (await client.get(f"/Patient/{entries[0]['resource']['id']}")).status_code == 200


async def test_batch_entries_on_one_resource_run_one_after_the_other(client):
    body = bundle(
        put("Patient/seq", {**PATIENT, "id": "seq"}),
        put("Patient/seq", {**PATIENT, "id": "seq", "gender": "other"}),
        post(patient("SEQ"), ifNoneExist=f"identifier={NATIONAL}|SEQ"),
        post(patient("SEQ"), ifNoneExist=f"identifier={NATIONAL}|SEQ"),
        kind="batch",
    )
    response = await send(client, body)
    entries = response.json()["entry"]
    assert [e["response"]["status"] for e in entries] == ["201 Created", "200 OK", "201 Created", "200 OK"]
    assert entries[1] == written({**PATIENT, "id": "seq", "gender": "other"}, "200 OK", "seq", 2, stamp(response, 1))
    assert entries[2]["resource"]["id"] == entries[3]["resource"]["id"]


async def test_batch_does_not_resolve_references_between_entries_but_does_resolve_conditional_ones(client):
    target = (await client.post("/Patient", json=patient("BR"))).json()
    observation = {"resourceType": "Observation", "status": "final", "code": {"text": "x"},
                   "subject": {"reference": f"Patient?identifier={NATIONAL}|BR"}}
    orphan = {**observation, "subject": {"reference": f"Patient?identifier={NATIONAL}|none"}}
    response = await send(client, bundle(post(observation), post(orphan), kind="batch"))
    entries = response.json()["entry"]
    assert entries[0]["resource"]["subject"] == {"reference": f"Patient/{target['id']}"}
    assert entries[1]["response"]["status"] == "412 Precondition Failed"


async def test_batch_entries_may_not_refer_to_each_other(client):
    observation = {"resourceType": "Observation", "status": "final", "code": {"text": "x"}, "subject": {"reference": "urn:uuid:p"}}
    response = await send(client, bundle(post(PATIENT, "urn:uuid:p"), post(observation), kind="batch"))
    entries = response.json()["entry"]
    assert entries[0]["response"]["status"] == "201 Created"
    assert entries[1] == {"response": {"status": "400 Bad Request", "outcome": outcome(400, "invalid", (
        "The reference 'urn:uuid:p' does not match the fullUrl of any entry in the Bundle; "
        "the entries of a batch may not refer to each other: send a transaction"))}}


async def test_concurrent_resends_of_a_conditional_transaction_make_one_resource(client):
    body = bundle(post(patient("RACE-TX"), "urn:uuid:p", ifNoneExist=f"identifier={NATIONAL}|RACE-TX"),
                  put(f"Patient?identifier={NATIONAL}|RACE-TX-2", patient("RACE-TX-2")))
    responses = await asyncio.gather(*(send(client, body) for _ in range(10)))
    assert {r.status_code for r in responses} == {200}
    assert len({tuple(ids_of(r)) for r in responses}) == 1
    for value in ("RACE-TX", "RACE-TX-2"):
        assert (await client.get("/Patient", params={"identifier": f"{NATIONAL}|{value}"})).json()["total"] == 1


def identified(body: dict, value: str = "tx-1") -> dict:
    return {**body, "identifier": {"system": "urn:test:connector", "value": value}}


async def test_an_identified_transaction_of_plain_posts_is_applied_once(client):
    """Bundle.identifier makes any transaction safe to resend: the resend writes nothing and gets
    the first answer back (locations, versions, resources), its GET entries are run again."""
    observation = {"resourceType": "Observation", "status": "final", "code": {"text": "pulse"},
                   "subject": {"reference": "urn:uuid:p"}}
    body = identified(bundle(post(PATIENT, "urn:uuid:p"), post(observation, "urn:uuid:o"),
                             request("GET", "Observation?subject=urn:uuid:p")))
    first = await send(client, body)
    again = await send(client, body)
    assert (first.status_code, again.status_code) == (200, 200)
    assert again.json() == first.json()
    assert [e["response"]["status"] for e in first.json()["entry"]] == ["201 Created", "201 Created", "200 OK"]
    assert first.json()["entry"][2]["resource"]["total"] == 1  # the search saw the transaction's write
    for resource_type in ("Patient", "Observation"):
        assert (await client.get(f"/{resource_type}")).json()["total"] == 1
    minimal = await send(client, body, prefer="return=minimal")  # a resend may ask for another representation
    assert [e.get("resource") for e in minimal.json()["entry"][:2]] == [None, None]
    assert [e["response"] for e in minimal.json()["entry"][:2]] == [e["response"] for e in first.json()["entry"][:2]]


async def test_an_identifier_names_one_bundle(client):
    first = await send(client, identified(bundle(post(patient("ONE")))))
    other = await send(client, identified(bundle(post(patient("TWO")))))
    assert (first.status_code, other.status_code) == (200, 409)
    assert other.json() == outcome(409, "conflict", (
        "Bundle.identifier 'urn:test:connector|tx-1' was already used for a transaction with other content; "
        "a resend must be the same bytes, a different Bundle needs a different identifier"))
    assert (await client.get("/Patient")).json()["total"] == 1
    same = await send(client, identified(bundle(post(patient("ONE")))))
    assert (same.status_code, same.json()) == (200, first.json())
    reordered = await send(client, {"identifier": {"value": "tx-1", "system": "urn:test:connector"}, **bundle(post(patient("ONE")))})
    assert reordered.status_code == 409  # a resend is the same bytes, not the same JSON written in another order
    assert (await client.get("/Patient")).json()["total"] == 1


async def test_a_failed_identified_transaction_leaves_no_record(client):
    bad = identified(bundle(post(patient("FIX")), post({"resourceType": "Patient", "gender": "nonsense"})), "tx-fix")
    assert (await send(client, bad)).status_code == 400
    fixed = identified(bundle(post(patient("FIX")), post({"resourceType": "Patient", "gender": "male"})), "tx-fix")
    response = await send(client, fixed)
    assert response.status_code == 200, response.text
    assert (await client.get("/Patient")).json()["total"] == 2


async def test_concurrent_copies_of_an_identified_transaction_apply_it_once(client):
    body = identified(bundle(post(PATIENT, "urn:uuid:p"), post(patient("RACE-ID"))), "tx-race")
    responses = await asyncio.gather(*(send(client, body) for _ in range(8)))
    assert {r.status_code for r in responses} <= {200, 409}
    answered = [r.json() for r in responses if r.status_code == 200]
    assert answered and all(a == answered[0] for a in answered)
    for r in responses:
        if r.status_code == 409:
            assert r.json() == outcome(409, "conflict", (
                "A transaction with the same Bundle.identifier was applied meanwhile; send it again to get its answer"))
    assert (await client.get("/Patient")).json()["total"] == 2
    assert (await send(client, body)).json() == answered[0]

"""The spec's transaction example and Synthea's patient Bundles, processed through the ASGI app.

http://hl7.org/fhir/R4/http.html#transaction; ``Bundle-bundle-transaction.json`` from the official
R4 package; Synthea transaction Bundles from ``../shared/data/synthea-r4-100.tgz`` (skipped when absent).
"""

from __future__ import annotations

import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from fhir_server.interactions.messages import FhirResponse
from fhir_server.operations.registry import OPERATIONS, Operation, register
from fhir_server.seed import references
from tests.api.test_bundles import send
from tests.conftest import BASE

SYNTHEA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "synthea-r4-100.tgz"
IDS = "http:/example.org/fhir/ids"
LOOKUP_RESULT = {"resourceType": "Parameters", "parameter": [{"name": "name", "valueString": "LOINC"}]}


@pytest.fixture
def lookup_operation() -> Iterator[Operation]:
    """A stand-in ``ValueSet/$lookup`` (the example posts one) that answers like the spec's example response."""

    async def handler(backend: Any, ctx: Any, call: Any) -> FhirResponse:
        assert call.parameters["parameter"][0]["valueCoding"] == {"system": "http://loinc.org", "code": "1963-8"}
        return FhirResponse(200, LOOKUP_RESULT)

    operation = register(Operation("lookup", handler, type_level=True, resource_types=frozenset({"ValueSet"}), affects_state=False))
    yield operation
    OPERATIONS["lookup"].remove(operation)
    if not OPERATIONS["lookup"]:
        del OPERATIONS["lookup"]


def chalmers(**fields: Any) -> dict[str, Any]:
    return {"resourceType": "Patient", "active": True, "name": [{"use": "official", "family": "Chalmers", "given": ["Peter", "James"]}],
            "gender": "male", "birthDate": "1974-12-25", **fields}


async def versions(client: Any, resource_id: str, count: int, **fields: Any) -> None:
    for n in range(count):
        await client.put(f"/Patient/{resource_id}", json=chalmers(id=resource_id, birthDate=f"1974-12-{10 + n}", **fields))


async def test_the_spec_transaction_example_is_processed_as_the_spec_describes(client, example, lookup_operation):
    """The state the example's response implies: Patient/123 at version 3, Patient/123a at 2, Patient/12334 at 4, ..."""
    existing = (await client.post("/Patient", json=chalmers(identifier=[{"system": IDS, "value": "234234"}]))).json()
    await versions(client, "123", 3)
    await versions(client, "123a", 2)
    await versions(client, "234", 1)
    await versions(client, "12334", 4)
    doomed = (await client.post("/Patient", json=chalmers(identifier=[{"system": "urn:other", "value": "123456"}]))).json()

    response = await send(client, example("Bundle-bundle-transaction"))

    assert response.status_code == 200, response.text
    body = response.json()
    entries = body["entry"]
    created, upserted = entries[0]["resource"]["id"], entries[3]["resource"]["id"]
    lookup, search = entries[7], entries[8]

    def head(resource_id: str, status: str, vid: int, index: int) -> dict[str, Any]:
        return {"status": status, "location": f"{BASE}/Patient/{resource_id}/_history/{vid}", "etag": f'W/"{vid}"',
                "lastModified": entries[index]["response"]["lastModified"]}

    def stored(resource_id: str, vid: int, index: int, **fields: Any) -> dict[str, Any]:
        text = {"status": "generated", "div": '<div xmlns="http://www.w3.org/1999/xhtml">Some narrative</div>'}
        meta = {"versionId": str(vid), "lastUpdated": entries[index]["response"]["lastModified"]}
        resource = {"resourceType": "Patient", "id": resource_id, "meta": meta, "text": text, **chalmers(**fields)}
        return {k: resource[k] for k in ("resourceType", "id", "meta", "text", *fields, "active", "name", "gender", "birthDate")}

    assert body == {"resourceType": "Bundle", "type": "transaction-response", "entry": [
        {"fullUrl": f"{BASE}/Patient/{created}", "resource": stored(created, 1, 0), "response": head(created, "201 Created", 1, 0)},
        {"fullUrl": f"{BASE}/Patient/{existing['id']}", "resource": existing, "response": head(existing["id"], "200 OK", 1, 1)},
        {"fullUrl": f"{BASE}/Patient/123", "resource": stored("123", 4, 2), "response": head("123", "200 OK", 4, 2)},
        {"fullUrl": f"{BASE}/Patient/{upserted}", "resource": stored(upserted, 1, 3, identifier=[{"system": IDS, "value": "456456"}]),
         "response": head(upserted, "201 Created", 1, 3)},
        {"fullUrl": f"{BASE}/Patient/123a", "resource": stored("123a", 3, 4), "response": head("123a", "200 OK", 3, 4)},
        {"response": {"status": "204 No Content", "etag": 'W/"2"'}},
        {"response": {"status": "200 OK", "outcome": {"resourceType": "OperationOutcome", "issue": [
            {"severity": "information", "code": "informational", "diagnostics": "Deleted 1 Patient resource(s)"}]}}},
        {"resource": LOOKUP_RESULT, "response": {"status": "200 OK"}},
        search,
        {"response": {"status": "304 Not Modified", "etag": 'W/"4"', "lastModified": entries[9]["response"]["lastModified"]}},
    ]}
    assert lookup == {"resource": LOOKUP_RESULT, "response": {"status": "200 OK"}}
    found = sorted(e["resource"]["id"] for e in search["resource"]["entry"])
    assert found == sorted([created, existing["id"], "123", upserted, "123a", "12334"])  # not the deleted 234 and 123456
    assert (await client.get("/Patient/234")).status_code == 410
    assert (await client.get(f"/Patient/{doomed['id']}")).status_code == 410


def synthea_bundles(count: int) -> list[tuple[str, bytes]]:
    if not SYNTHEA.exists():
        pytest.skip(f"the Synthea sample {SYNTHEA} is absent")
    with tarfile.open(SYNTHEA) as archive:
        members = sorted((m for m in archive.getmembers() if m.name.endswith(".json")), key=lambda m: m.size)[:count]
        return [(m.name, archive.extractfile(m).read()) for m in members]  # type: ignore[union-attr]




async def test_synthea_bundles_load_and_every_reference_resolves(client):
    loaded: dict[str, dict[str, Any]] = {}
    for name, raw in synthea_bundles(3):
        sent = orjson.loads(raw)
        response = await client.post("/", content=raw, headers={"content-type": "application/fhir+json"})
        assert response.status_code == 200, f"{name}: {response.text[:2000]}"
        entries = response.json()["entry"]
        assert len(entries) == len(sent["entry"])
        assert {e["response"]["status"] for e in entries} == {"201 Created"}
        assert [e["resource"]["resourceType"] for e in entries] == [e["resource"]["resourceType"] for e in sent["entry"]]
        loaded.update({f"{e['resource']['resourceType']}/{e['resource']['id']}": e["resource"] for e in entries})
    targets = {ref for resource in loaded.values() for ref in references(resource) if not ref.startswith("#")}
    for resource in loaded.values():  # references to contained resources stay local
        local = {f"#{c['id']}" for c in resource.get("contained", [])}
        assert {ref for ref in references(resource) if ref.startswith("#")} <= local
    assert len(targets) > 10
    assert targets <= set(loaded), sorted(targets - set(loaded))[:5]
    for target in sorted(targets):
        read = await client.get(f"/{target}")
        assert read.status_code == 200
        assert read.json() == loaded[target]

"""Every filter the translator emits for the standard parameters of the main resource types is
served by an index the storage creates (:data:`fhir_server.search.index_keys.INDEX_KEYS`, plus
``_id`` and ``(del, ts)``).

The rule checked on the filter dicts: each positive ``$elemMatch`` on an index field constrains
``p`` and (unless it asks only for ``p``, as ``:missing=false`` does) a key that directly follows
``p`` in one of the indexes, with no ``$or``/``$and`` inside it (MongoDB cannot bound an index scan
with those); other keys are ``_id``, ``ts`` or the ``_geo`` index. Negations (``:not``,
``:not-in``, ``:missing=true``) cannot be bounded by any index: they are only allowed from those
modifiers. With ``FHIR_TEST_MONGODB_URI`` set, MongoDB's ``explain()`` confirms an IXSCAN.
"""

from __future__ import annotations

import os
import uuid
from datetime import datetime
from typing import Any

import pytest

from fhir_server.search.index import FIELDS, INDEX_KEYS, extract_index
from fhir_server.search.parse import parse_search
from fhir_server.search.plan import translate
from fhir_server.search.translate import Context
from fhir_server.spec.search_parameters import params_for
from tests.search.representative import queries

TYPES = ["Patient", "Appointment", "ServiceRequest", "MedicationRequest", "CarePlan", "Slot", "Schedule",
         "PractitionerRole", "Observation", "Encounter"]  # fmt: skip
CONTEXT = Context(expand=lambda url: [("http://example.org/sys", "c1"), ("http://example.org/other", "c2")], now=datetime(2024, 1, 1))
NEXT_KEYS: dict[str, set[str]] = {}
for keys in INDEX_KEYS:
    if len(keys) > 1 and keys[0][0].endswith(".p"):
        field = keys[0][0][: -len(".p")]
        NEXT_KEYS.setdefault(field, set()).add(keys[1][0][len(field) + 1 :])
PLAIN_KEYS = {"_id", "ts", "_geo.lat", "_geo.lon"}
NEGATING_MODIFIERS = {"not", "not-in", "missing"}


def problems(flt: dict[str, Any], negated: bool = False) -> list[str]:
    """Why parts of ``flt`` are not served by an index (negated parts are reported as 'negation')."""
    out = []
    for key, value in flt.items():
        if key in ("$and", "$or"):
            for part in value:
                out += problems(part, negated)
        elif key == "$nor":
            out.append("negation")
            for part in value:
                out += [p for p in problems(part, True) if p != "negation"]
        elif key in FIELDS:
            body = value["$elemMatch"]
            keys = set(body) - {"p"}
            if "p" not in body:
                out.append(f"{key} without p")
            elif keys & {"$or", "$and", "$nor"}:
                out.append(f"{key} with {sorted(keys & {'$or', '$and', '$nor'})} inside $elemMatch")
            elif keys and not keys & NEXT_KEYS[key]:
                out.append(f"{key} constrains {sorted(keys)}, none of them indexed after p ({sorted(NEXT_KEYS[key])})")
        elif key not in PLAIN_KEYS:
            out.append(f"unindexed key {key}")
    return out


def cases() -> list[tuple[str, str, str]]:
    out = []
    for resource_type in TYPES:
        for param in params_for(resource_type).values():
            if param.indexed or param.code == "near":
                out += [(resource_type, name, value) for name, value in queries(param)]
    return out


CASES = cases()


def test_there_are_many_cases():
    assert len(CASES) > 1500


def test_every_emitted_filter_is_served_by_an_index():
    failures = []
    negations = set()
    for resource_type, name, value in CASES:
        plan = translate(parse_search(resource_type, [(name, value)]), CONTEXT)
        found = problems(plan.filter)
        if "negation" in found:
            negations.add(name.partition(":")[2])
            found = [p for p in found if p != "negation"]
            if value == "false":
                failures.append((resource_type, name, value, "a positive :missing is negated"))
        failures += [(resource_type, name, value, p) for p in found]
    assert failures == []
    assert negations == NEGATING_MODIFIERS


def test_joins_are_served_by_indexes():
    """Chains and _has resolve to ``_ref`` ``$in`` and ``_id`` ``$in`` filters; the compartment
    filter is a ``_ref`` match on ``p in codes`` and ``r``."""
    from fhir_server.search.plan import ChainJoin, HasJoin

    chain = ChainJoin("subject", {})
    has = HasJoin("Observation", "subject", "Patient", translate(parse_search("Observation", [])))

    async def run(resource_type, flt, projection):
        return [{"_id": "x1", "_ref": [{"p": "subject", "t": "Patient", "i": "p1"}]}]

    import asyncio

    chain.targets = {"Patient": translate(parse_search("Patient", [("name", "a")]))}
    assert problems(asyncio.run(chain.resolve(run))) == []
    assert problems(asyncio.run(has.resolve(run))) == []
    compartment = {"_ref": {"$elemMatch": {"p": {"$in": ["subject", "performer"]}, "r": "Patient/p1"}}}
    assert problems(compartment) == []


@pytest.mark.skipif(not os.environ.get("FHIR_TEST_MONGODB_URI"), reason="FHIR_TEST_MONGODB_URI is not set: no MongoDB to explain() on")
async def test_mongodb_explain_shows_index_scans():
    from pymongo import AsyncMongoClient

    from fhir_server.storage.repository import Repository

    client: Any = AsyncMongoClient(os.environ["FHIR_TEST_MONGODB_URI"], tz_aware=True)
    name = f"fhir_explain_{uuid.uuid4().hex[:12]}"
    try:
        repository = Repository(client[name], INDEX_KEYS)
        sample = {"resourceType": "Observation", "status": "final", "code": {"coding": [{"system": "http://example.org/sys", "code": "c1"}]}}
        for resource_type in TYPES:
            await repository.ensure_type_indexes(resource_type)
            docs = [{"_id": f"d{i}", "vid": 1, "ts": datetime(2024, 1, 1), "del": False,
                     **extract_index({**sample, "resourceType": resource_type})} for i in range(20)]  # fmt: skip
            await client[name][resource_type].insert_many(docs)
        failures = []
        for resource_type, name_, value in CASES:
            plan = translate(parse_search(resource_type, [(name_, value)]), CONTEXT)
            if "negation" in problems(plan.filter) or not plan.filter:
                continue
            explained = await client[name][resource_type].find({"del": False, **plan.filter}).explain()
            winning = str(explained["queryPlanner"]["winningPlan"])
            if "COLLSCAN" in winning or "IXSCAN" not in winning:
                failures.append((resource_type, name_, value, winning[:300]))
        assert failures == []
    finally:
        await client.drop_database(name)
        await client.close()

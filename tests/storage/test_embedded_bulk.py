"""The embedded engine's bulk writes behave as mongomock's (and PyMongo's) do, only faster."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import mongomock
import pytest
from pymongo import DeleteOne, InsertOne, ReplaceOne, UpdateOne
from pymongo.errors import BulkWriteError

from fhir_server.storage import embedded
from fhir_server.storage.embedded import open_embedded
from fhir_server.storage.stored_form import StoredForm

AWARE = datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=timezone(timedelta(hours=2)))
DOCS = [
    {"_id": "a", "ts": AWARE, "raw": b"{}", "_dt": [{"p": "date", "lo": datetime(2011, 1, 1), "hi": datetime(2011, 1, 1, 23, 59, 59, 999999)}]},
    {"_id": "b", "n": 1, "f": 1.5, "ok": True, "none": None, "tags": ("x", "y")},
]


def errors_of(call) -> dict:
    with pytest.raises(BulkWriteError) as raised:
        call()
    details = raised.value.details
    return {"nInserted": details["nInserted"], "writeErrors": [(e["index"], e["code"]) for e in details["writeErrors"]]}


async def test_insert_many_stores_what_mongomock_stores():
    reference = mongomock.MongoClient().db.c
    reference.insert_many([dict(d) for d in DOCS])
    collection = open_embedded("t")["c"]
    result = await collection.insert_many([dict(d) for d in DOCS])
    assert result.inserted_ids == ["a", "b"]
    assert await collection.find({}).to_list(None) == list(reference.find({}))
    assert (await collection.find_one({"_id": "a"}))["_dt"][0]["hi"] == datetime(2011, 1, 1, 23, 59, 59, 999000)


@pytest.mark.parametrize("ordered", [True, False])
async def test_duplicate_keys_fail_like_mongomock(ordered):
    batch = [{"_id": "x"}, {"_id": "a"}, {"_id": "y"}]
    reference = mongomock.MongoClient().db.c
    reference.insert_one({"_id": "a"})
    expected = errors_of(lambda: reference.insert_many([dict(d) for d in batch], ordered=ordered))
    collection = open_embedded("t")["c"]
    await collection.insert_one({"_id": "a"})
    with pytest.raises(BulkWriteError) as raised:
        await collection.insert_many([dict(d) for d in batch], ordered=ordered)
    details = raised.value.details
    assert {"nInserted": details["nInserted"], "writeErrors": [(e["index"], e["code"]) for e in details["writeErrors"]]} == expected
    assert sorted(d["_id"] for d in await collection.find({}).to_list(None)) == sorted(d["_id"] for d in reference.find({}))


async def test_documents_without_an_id_or_with_unique_indexes_take_mongomock_s_path():
    collection = open_embedded("t")["c"]
    result = await collection.insert_many([{"v": 1}])
    assert len(result.inserted_ids) == 1
    await collection.create_index("v", unique=True)
    with pytest.raises(BulkWriteError):
        await collection.insert_many([{"_id": "z", "v": 1}])


async def test_bulk_write_takes_pymongo_s_operations():
    collection = open_embedded("t")["c"]
    await collection.insert_many([{"_id": 1, "v": 1}, {"_id": 2, "v": 1}])
    result = await collection.bulk_write([
        ReplaceOne({"_id": 1, "v": 1}, {"_id": 1, "v": 2}), ReplaceOne({"_id": 2, "v": 9}, {"_id": 2, "v": 2}),
        UpdateOne({"_id": 2}, {"$set": {"w": 1}}), InsertOne({"_id": 3}), DeleteOne({"_id": 3}),
    ])
    assert (result.matched_count, result.inserted_count, result.deleted_count) == (2, 1, 1)
    assert await collection.find({}).to_list(None) == [{"_id": 1, "v": 2}, {"_id": 2, "v": 1, "w": 1}]


async def test_stored_documents_are_copies_the_caller_cannot_change():
    collection = open_embedded("t")["c"]
    document = {"_id": "k", "_tok": [{"p": "code", "c": "1"}], "meta": {"tags": ["a"]}, "ts": datetime(2020, 1, 1, 0, 0, 0, 5000)}
    await collection.insert_many([document])
    document["_tok"][0]["c"] = "changed"
    document["_tok"].append({"p": "code", "c": "2"})
    document["meta"]["tags"].append("b")
    assert await collection.find_one({"_id": "k"}) == {
        "_id": "k", "_tok": [{"p": "code", "c": "1"}], "meta": {"tags": ["a"]}, "ts": datetime(2020, 1, 1, 0, 0, 0, 5000),
    }


async def test_fast_writes_drop_expired_ttl_documents_first_as_mongomock_does():
    collection = open_embedded("t")["locks"]
    await collection.create_index("exp", expireAfterSeconds=0)
    await collection.insert_one({"_id": "lock", "exp": datetime.now(timezone.utc) - timedelta(minutes=1)})
    result = await collection.insert_many([{"_id": "lock", "exp": datetime.now(timezone.utc) + timedelta(minutes=1)}])
    assert result.inserted_ids == ["lock"]
    assert await collection.count_documents({}) == 1


async def test_a_stored_form_document_is_kept_without_copying_its_members():
    entries = [{"p": "date", "lo": datetime(2011, 1, 1), "hi": datetime(2011, 1, 1, 23, 59, 59, 999000)}]
    document = StoredForm({"_id": "a", "ts": datetime(2024, 5, 6, 7, 8, 9, 123000), "raw": b"{}", "_dt": entries})
    collection = open_embedded("t")["c"]
    await collection.insert_many([document])
    kept = embedded._documents_of(collection._coll._store)["a"]
    assert type(kept) is dict and kept == document and kept["_dt"] is entries
    read = await collection.find_one({"_id": "a"})
    assert read == document and read["_dt"] is not entries  # reads are copies, as before


@pytest.mark.parametrize("member", [
    {"ts": AWARE},  # aware: MongoDB keeps naive UTC
    {"ts": datetime(2024, 5, 6, 7, 8, 9, 123456)},  # finer than the millisecond BSON keeps
    {"tags": ("x", "y")},  # a tuple: stored as a list
])
async def test_a_stored_form_document_not_in_stored_form_is_caught_when_checking(member, monkeypatch):
    document = StoredForm({"_id": "a", **member})
    assert not embedded.in_stored_form(document)
    monkeypatch.setattr(embedded, "CHECK_STORED_FORM", True)
    with pytest.raises(AssertionError, match="not in stored form"):
        await open_embedded("t")["c"].insert_many([document])
    monkeypatch.setattr(embedded, "CHECK_STORED_FORM", False)  # unchecked, it is taken at its word
    await open_embedded("t")["c"].insert_many([document])

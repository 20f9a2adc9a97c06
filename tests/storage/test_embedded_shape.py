"""The embedded engine offers only calls that real PyMongo has, with the same shape."""

from __future__ import annotations

import inspect

import pytest
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.cursor import AsyncCursor
from pymongo.asynchronous.database import AsyncDatabase

from fhir_server.storage.embedded import EmbeddedCollection, EmbeddedCursor, EmbeddedDatabase, open_embedded

PAIRS = [(EmbeddedCollection, AsyncCollection), (EmbeddedCursor, AsyncCursor), (EmbeddedDatabase, AsyncDatabase)]


def public_methods(cls: type) -> dict[str, object]:
    return {name: member for name, member in vars(cls).items() if not name.startswith("_") and callable(member)}


@pytest.mark.parametrize(("facade", "real"), PAIRS, ids=lambda c: c.__name__)
def test_every_facade_call_exists_on_pymongo_with_compatible_parameters(facade, real):
    for name, member in public_methods(facade).items():
        assert hasattr(real, name), f"{facade.__name__}.{name} does not exist on {real.__name__}"
        real_member = getattr(real, name)
        ours = inspect.signature(member).parameters
        theirs = inspect.signature(real_member).parameters
        takes_any = any(p.kind in (p.VAR_KEYWORD,) for p in theirs.values())
        for param in ours.values():
            if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
                continue
            assert param.name in theirs or takes_any, f"{facade.__name__}.{name}({param.name}) is not a PyMongo parameter"
        assert inspect.iscoroutinefunction(member) == inspect.iscoroutinefunction(real_member), (
            f"{facade.__name__}.{name} must be {'async' if inspect.iscoroutinefunction(real_member) else 'sync'} like PyMongo"
        )


async def test_id_lookup_does_not_scan_and_filters_still_apply():
    collection = open_embedded("t")["C"]
    await collection.insert_many([{"_id": f"r{i}", "n": i} for i in range(1000)])
    assert await collection.find_one({"_id": "r7"}) == {"_id": "r7", "n": 7}
    assert await collection.find_one({"_id": "r7", "n": 8}) is None
    assert await collection.find({"_id": {"$in": ["r1", "r2", "zz"]}}).sort("n", -1).to_list(None) == [
        {"_id": "r2", "n": 2}, {"_id": "r1", "n": 1}
    ]
    result = await collection.replace_one({"_id": "r3", "n": 3}, {"_id": "r3", "n": 3333})
    assert result.matched_count == 1
    assert await collection.count_documents({"n": 3333}) == 1


async def test_fast_single_writes_keep_mongodb_semantics():
    from pymongo.errors import DuplicateKeyError
    from pymongo.operations import ReplaceOne

    collection = open_embedded("t")["D"]
    await collection.insert_one({"_id": "a", "vid": 1})
    with pytest.raises(DuplicateKeyError):
        await collection.insert_one({"_id": "a", "vid": 9})
    assert (await collection.replace_one({"_id": "a", "vid": 2}, {"_id": "a", "vid": 3})).matched_count == 0
    assert (await collection.replace_one({"_id": "zz", "vid": 1}, {"vid": 3})).matched_count == 0
    assert (await collection.replace_one({"_id": "a", "vid": 1}, {"vid": 2})).matched_count == 1
    assert await collection.find_one({"_id": "a"}) == {"_id": "a", "vid": 2}
    result = await collection.bulk_write([ReplaceOne({"_id": "a", "vid": 2}, {"_id": "a", "vid": 3}),
                                          ReplaceOne({"_id": "a", "vid": 7}, {"_id": "a", "vid": 8})])
    assert (result.matched_count, result.modified_count) == (1, 1)
    assert await collection.find({}).to_list(None) == [{"_id": "a", "vid": 3}]

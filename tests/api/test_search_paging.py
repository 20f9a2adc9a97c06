"""Paging: ``_count`` with next/previous/self links that work and stay stable while data changes
(http://hl7.org/fhir/R4/http.html#paging, http://hl7.org/fhir/R4/search.html#count).
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from tests.conftest import BASE
from tests.search.support import expected_bundle, get_bundle, outcome, put_all, shape


def patient(rid: str, family: str) -> dict:
    return {"resourceType": "Patient", "id": rid, "name": [{"family": family}]}


def page_url(key: str, offset: int, count: int) -> str:
    return f"{BASE}?_getpages={key}&_offset={offset}&_count={count}"


def key_of(bundle: dict) -> str:
    nxt = next(link["url"] for link in bundle["link"] if link["relation"] == "next")
    return parse_qs(urlsplit(nxt).query)["_getpages"][0]


async def test_pages_follow_links_and_stay_stable_while_data_changes(client):
    await put_all(client, [patient(f"page-{i}", "Pager") for i in range(1, 6)])
    first = await get_bundle(client, "/Patient", params={"family": "pager", "_count": "2"})
    key = key_of(first)
    assert first == await expected_bundle(
        client, [("match", "Patient/page-1"), ("match", "Patient/page-2")], total=5,
        links=[("self", f"{BASE}/Patient?family=pager&_count=2"), ("next", page_url(key, 2, 2))],
    )

    # the data changes between pages: a new match that sorts first, a deleted and an updated one
    await put_all(client, [patient("page-0", "Pager"), patient("page-4", "Pager-Smith")])
    assert (await client.delete("/Patient/page-3")).status_code == 204

    second = await get_bundle(client, page_url(key, 2, 2))
    assert second == await expected_bundle(
        client, [("match", "Patient/page-4")], total=5,  # page-3 is gone; nothing shifts in from page 1
        links=[("self", page_url(key, 2, 2)), ("next", page_url(key, 4, 2)), ("previous", page_url(key, 0, 2))],
    )
    third = await get_bundle(client, page_url(key, 4, 2))
    assert shape(third) == {
        "total": 5, "link": [("self", page_url(key, 4, 2)), ("previous", page_url(key, 2, 2))],
        "entry": [("match", "Patient/page-5")],
    }
    back = await get_bundle(client, page_url(key, 0, 2))
    assert shape(back) == {
        "total": 5, "link": [("self", page_url(key, 0, 2)), ("next", page_url(key, 2, 2))],
        "entry": [("match", "Patient/page-1"), ("match", "Patient/page-2")],
    }
    # the same search run again sees the new data
    again = await get_bundle(client, "/Patient", params={"family": "pager", "_count": "10"})
    assert shape(again) == {
        "total": 5, "link": [("self", f"{BASE}/Patient?family=pager&_count=10")],
        "entry": [("match", f"Patient/page-{i}") for i in (0, 1, 2, 4, 5)],
    }


async def test_pages_keep_includes_sort_and_elements(client):
    await put_all(client, [{"resourceType": "Organization", "id": "org", "name": "Org"}])
    await put_all(client, [
        {**patient(f"p{i}", f"Fam{i}"), "managingOrganization": {"reference": "Organization/org"}} for i in range(3)
    ])
    query = {"_sort": "-family", "_count": "2", "_include": "Patient:organization", "_elements": "name"}
    first = await get_bundle(client, "/Patient", params=query)
    assert [e["search"]["mode"] for e in first["entry"]] == ["match", "match", "include"]
    second = await get_bundle(client, next(link["url"] for link in first["link"] if link["relation"] == "next"))
    assert shape(second)["entry"] == [("match", "Patient/p0"), ("include", "Organization/org")]
    assert set(second["entry"][0]["resource"]) == {"resourceType", "id", "meta", "name"}


async def test_system_search_pages_across_types(client):
    await put_all(client, [patient("a1", "A"), {"resourceType": "Practitioner", "id": "a2"}, patient("a3", "C")])
    first = await get_bundle(client, "/", params={"_type": "Patient,Practitioner", "_count": "2", "_sort": "_id"})
    assert shape(first)["entry"] == [("match", "Patient/a1"), ("match", "Practitioner/a2")]
    second = await get_bundle(client, next(link["url"] for link in first["link"] if link["relation"] == "next"))
    assert shape(second)["entry"] == [("match", "Patient/a3")]


async def test_page_size_is_capped_and_zero_returns_only_the_total(client):
    await put_all(client, [patient(f"c{i}", "Cap") for i in range(3)])
    capped = await get_bundle(client, "/Patient", params={"_count": "100000"})
    assert len(capped["entry"]) == 3
    zero = await get_bundle(client, "/Patient", params={"_count": "0"})
    assert zero == {"resourceType": "Bundle", "type": "searchset", "total": 3,
                    "link": [{"relation": "self", "url": f"{BASE}/Patient?_count=0"}]}


async def test_unknown_or_expired_pages_are_410_and_bad_offsets_400(client):
    gone = await client.get("/", params={"_getpages": "no-such-search", "_offset": "0"})
    assert gone.status_code == 410
    assert gone.json() == outcome("deleted", "This search has expired; run it again")
    bad = await client.get("/", params={"_getpages": "x", "_offset": "-5"})
    assert bad.status_code == 400
    assert bad.json() == outcome("invalid", "Paging offsets and counts are non-negative integers, got '-5'")


async def test_results_beyond_the_snapshot_limit_are_counted_and_reported(client, monkeypatch):
    from fhir_server.interactions import search

    monkeypatch.setattr(search, "MAX_RESULTS", 3)
    await put_all(client, [patient(f"t{i}", "Many") for i in range(5)])
    first = await get_bundle(client, "/Patient", params={"_count": "2"})
    key = key_of(first)
    assert first["total"] == 5  # counted, not only the ids kept
    assert first["entry"][-1] == {
        "resource": outcome("too-costly", "Only the first 3 matches can be paged through; refine the search", "warning"),
        "search": {"mode": "outcome"},
    }
    last = await get_bundle(client, page_url(key, 2, 2))
    assert shape(last) == {"total": 5, "link": [("self", page_url(key, 2, 2)), ("previous", page_url(key, 0, 2))],
                           "entry": [("match", "Patient/t2")]}  # fmt: skip

"""What the loader posts for each kind of input (pure functions)."""

from __future__ import annotations

import uuid

import orjson
from hypothesis import given
from hypothesis import strategies as st

from fhir_server.loading.bundles import Plan, Rejected, batch_entry, content_identifier, merge_spans, plan_file
from fhir_server.loading.outcomes import Failure, read_answer

PATIENT = {"resourceType": "Patient", "id": "p1", "gender": "female"}
NO_ID = {"resourceType": "Patient", "gender": "male"}


def test_transaction_and_batch_bundles_are_posted_as_they_are():
    """A transaction without an identifier gets one from the file's bytes (the server applies an
    identified transaction once); one with an identifier keeps it; a batch is posted unchanged."""
    entries = [{"fullUrl": "urn:uuid:1", "resource": NO_ID, "request": {"method": "POST", "url": "Patient"}}]
    own = {"system": "urn:example", "value": "file-7"}
    for kind, identifier in (("transaction", None), ("transaction", own), ("batch", None)):
        bundle = {"resourceType": "Bundle", "type": kind, "entry": entries, **({"identifier": identifier} if identifier else {})}
        data = orjson.dumps(bundle)
        plan = plan_file(data, "json")
        sent = {**bundle, "identifier": identifier or content_identifier(data)} if kind == "transaction" else bundle
        assert [(p.bundle, p.locations, p.span, p.atomic) for p in plan.posts] == [(sent, ["entry 0"], (0, 1), kind == "transaction")]
        assert plan.rejected == []


def test_a_transaction_files_identifier_is_a_uuid_of_its_bytes():
    first, second = content_identifier(b'{"a":1}'), content_identifier(b'{"a":2}')
    assert first == content_identifier(b'{"a":1}') != second
    assert first["system"] == "urn:ietf:rfc:3986" and first["value"].startswith("urn:uuid:")
    assert str(uuid.UUID(first["value"].removeprefix("urn:uuid:"))) == first["value"].removeprefix("urn:uuid:")


def test_a_collection_becomes_batches_of_put_with_id_and_post_without():
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [
        {"resource": PATIENT}, {"fullUrl": "x"}, {"resource": NO_ID}, {"resource": PATIENT},
    ]}
    plan = plan_file(orjson.dumps(bundle), "json", batch_size=2)
    assert [(p.bundle, p.locations, p.span) for p in plan.posts] == [
        ({"resourceType": "Bundle", "type": "batch", "entry": [
            {"resource": PATIENT, "request": {"method": "PUT", "url": "Patient/p1"}},
            {"resource": NO_ID, "request": {"method": "POST", "url": "Patient"}},
        ]}, ["entry 0", "entry 2"], (0, 2)),
        ({"resourceType": "Bundle", "type": "batch", "entry": [
            {"resource": PATIENT, "request": {"method": "PUT", "url": "Patient/p1"}},
        ]}, ["entry 3"], (2, 3)),
    ]


def test_a_searchset_leaves_out_its_operation_outcome():
    outcome = {"resourceType": "OperationOutcome", "issue": []}
    bundle = {"resourceType": "Bundle", "type": "searchset", "entry": [
        {"resource": PATIENT, "search": {"mode": "match"}}, {"resource": outcome, "search": {"mode": "outcome"}},
    ]}
    assert [p.locations for p in plan_file(orjson.dumps(bundle), "json").posts] == [["entry 0"]]


def test_a_single_resource_and_a_document_bundle_are_stored_as_one_resource():
    document = {"resourceType": "Bundle", "id": "d1", "type": "document", "entry": []}
    for resource in (PATIENT, document):
        plan = plan_file(orjson.dumps(resource), "json")
        assert [(p.bundle["entry"], p.locations) for p in plan.posts] == [([batch_entry(resource)], ["file"])]


def test_ndjson_lines_are_batched_and_bad_lines_rejected():
    lines = [orjson.dumps({**PATIENT, "id": f"p{i}"}) for i in range(5)]
    data = b"\n".join(lines[:2] + [b"", b"{not json", b"[1, 2]"] + lines[2:]) + b"\n"
    plan = plan_file(data, "ndjson", batch_size=2)
    assert [(p.locations, p.span) for p in plan.posts] == [
        (["line 1", "line 2"], (0, 2)), (["line 6", "line 7"], (2, 4)), (["line 8"], (4, 5)),
    ]
    assert [r.location for r in plan.rejected] == ["line 4", "line 5"]
    assert plan.rejected[1] == Rejected("line 5", "not a FHIR resource: a JSON object with a resourceType")


def test_files_that_are_not_resources_are_rejected():
    assert plan_file(b"{oops", "json").rejected[0].location == "file"
    assert plan_file(b"[1]", "json") == Plan([], [Rejected("file", "not a FHIR resource: a JSON object with a resourceType")])


def test_items_already_done_are_left_out():
    data = b"\n".join(orjson.dumps({**PATIENT, "id": f"p{i}"}) for i in range(6))
    plan = plan_file(data, "ndjson", batch_size=3, done=[(0, 3), (4, 5)])
    assert [(p.span, p.locations) for p in plan.posts] == [((3, 4), ["line 4"]), ((5, 6), ["line 6"])]
    transaction = {"resourceType": "Bundle", "type": "transaction", "entry": []}
    assert plan_file(orjson.dumps(transaction), "json", done=[(0, 1)]).posts == []


@given(
    count=st.integers(0, 40), size=st.integers(1, 7),
    done=st.lists(st.tuples(st.integers(0, 40), st.integers(0, 10)).map(lambda t: (t[0], t[0] + t[1])), max_size=5),
)
def test_batches_cover_exactly_the_items_not_done_in_order(count, size, done):
    data = b"\n".join(orjson.dumps({"resourceType": "Basic", "id": f"b{i}"}) for i in range(count))
    plan = plan_file(data, "ndjson", batch_size=size, done=done)
    carried = [int(e["resource"]["id"][1:]) for p in plan.posts for e in p.bundle["entry"]]
    assert carried == [i for i in range(count) if not any(s <= i < e for s, e in done)]
    for post in plan.posts:
        assert 1 <= post.size <= size
        assert list(range(*post.span)) == [int(e["resource"]["id"][1:]) for e in post.bundle["entry"]]


def test_merge_spans_joins_touching_and_overlapping_spans():
    assert merge_spans([(5, 6), (0, 2), (2, 3), (1, 2), (8, 9)]) == [(0, 3), (5, 6), (8, 9)]


def test_a_batch_response_reports_each_failed_entry_with_its_reason():
    post = plan_file(b"\n".join(orjson.dumps({**PATIENT, "id": f"p{i}"}) for i in range(3)), "ndjson").posts[0]
    outcome = {"resourceType": "OperationOutcome", "issue": [
        {"severity": "error", "code": "value", "diagnostics": "bad gender", "expression": ["Patient.gender"]},
    ]}
    response = {"resourceType": "Bundle", "type": "batch-response", "entry": [
        {"response": {"status": "201 Created"}},
        {"response": {"status": "400 Bad Request", "outcome": outcome}},
        {"response": {"status": "200 OK"}},
    ]}
    answer = read_answer("f.ndjson", post, 200, orjson.dumps(response))
    assert (answer.ok, answer.failures, answer.retry) == (2, [Failure("f.ndjson", "line 2", "400", "bad gender [Patient.gender]")], False)


def test_a_rejected_transaction_is_retried_next_run():
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [{"resource": PATIENT, "request": {"method": "PUT", "url": "Patient/p1"}}]}
    post = plan_file(orjson.dumps(bundle), "json").posts[0]
    outcome = {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "invalid", "diagnostics": "no"}]}
    answer = read_answer("t.json", post, 400, outcome)
    assert (answer.ok, answer.failures, answer.retry) == (0, [Failure("t.json", "transaction", "400", "no")], True)
    done = read_answer("t.json", post, 200, {"resourceType": "Bundle", "type": "transaction-response", "entry": [{}]})
    assert (done.ok, done.failures, done.retry) == (1, [], False)

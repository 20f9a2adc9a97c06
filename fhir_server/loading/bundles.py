"""What to post for one input file (http://hl7.org/fhir/R4/http.html#transaction).

* a ``transaction`` or ``batch`` Bundle is posted as it is (one request); a transaction without a
  ``Bundle.identifier`` gets one derived from the file's bytes, so the server applies it once
  however often it is sent;
* the resources of a ``collection``, ``searchset`` or ``history`` Bundle, the lines of an ndjson
  file (http://hl7.org/fhir/R4/nd-json.html) and a single resource file are posted as ``batch``
  Bundles of at most ``batch_size`` entries: ``PUT Type/id`` when the resource has an id (so a
  replay is idempotent), ``POST Type`` when it has none;
* a ``document`` or ``message`` Bundle is itself a resource, stored as one Bundle.

Lines or files that are not FHIR JSON become :class:`Rejected` items, reported and not posted.
"""

from __future__ import annotations

import bisect
import hashlib
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

Spans = Sequence[tuple[int, int]]

_AS_IS = {"transaction", "batch"}
_CONTAINERS = {"collection", "searchset", "history"}


@dataclass
class Post:
    """One request: a Bundle, where each of its entries came from (``line 12``...), the items it carries."""

    bundle: dict[str, Any]
    locations: list[str]
    span: tuple[int, int]  # the file's items [start, end) it carries (journaled once answered)
    atomic: bool = False  # a transaction: all or nothing

    @property
    def size(self) -> int:
        return len(self.locations)


@dataclass
class Rejected:
    """Input the loader could not turn into a request (not JSON, not a resource)."""

    location: str
    reason: str


@dataclass
class Plan:
    posts: list[Post] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)

    @property
    def resources(self) -> int:
        return sum(p.size for p in self.posts)


def plan_file(data: bytes, kind: str, batch_size: int = 500, done: Spans = ()) -> Plan:
    """The requests for a file's bytes (``kind`` is ``json`` or ``ndjson``), leaving out the items
    whose index is in one of the ``done`` spans (answered in an earlier run)."""
    done = merge_spans(done)
    if kind == "ndjson":
        return _plan_ndjson(data, batch_size, done)
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as bad:
        return Plan(rejected=[Rejected("file", f"not valid JSON: {bad}")])
    if not _is_resource(value):
        return Plan(rejected=[Rejected("file", "not a FHIR resource: a JSON object with a resourceType")])
    bundle_type = value.get("type") if value["resourceType"] == "Bundle" else None
    if bundle_type in _AS_IS:
        if bundle_type == "transaction" and not isinstance(value.get("identifier"), dict):
            value["identifier"] = content_identifier(data)
        locations = [f"entry {i}" for i in range(len(value.get("entry") or ()))]
        post = Post(value, locations, (0, max(len(locations), 1)), atomic=bundle_type == "transaction")
        return Plan([] if _covered(0, done) else [post])
    if bundle_type in _CONTAINERS:
        return Plan(list(_batches(_contained(value), batch_size, done)))
    return Plan(list(_batches([("file", value)], batch_size, done)))


def content_identifier(data: bytes) -> dict[str, str]:
    """A ``Bundle.identifier`` for a transaction file that has none: a UUID derived from the file's
    bytes, so a replay of the same file is recognised by the server and applied once
    (:mod:`fhir_server.interactions.replay`)."""
    name = hashlib.sha256(data).hexdigest()
    return {"system": "urn:ietf:rfc:3986", "value": f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, f'fhir-server-load:{name}')}"}


def _plan_ndjson(data: bytes, batch_size: int, done: Spans) -> Plan:
    items: list[tuple[str, dict[str, Any]]] = []
    rejected: list[Rejected] = []
    for number, line in enumerate(data.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = orjson.loads(line)
        except orjson.JSONDecodeError as bad:
            rejected.append(Rejected(f"line {number}", f"not valid JSON: {bad}"))
            continue
        if _is_resource(value):
            items.append((f"line {number}", value))
        else:
            rejected.append(Rejected(f"line {number}", "not a FHIR resource: a JSON object with a resourceType"))
    return Plan(list(_batches(items, batch_size, done)), rejected)


def _contained(bundle: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The resources of a collection/searchset/history Bundle (not a searchset's OperationOutcome)."""
    out = []
    for index, entry in enumerate(bundle.get("entry") or ()):
        if not isinstance(entry, dict) or not _is_resource(entry.get("resource")):
            continue
        if (entry.get("search") or {}).get("mode") == "outcome":
            continue
        out.append((f"entry {index}", entry["resource"]))
    return out


def _batches(items: list[tuple[str, dict[str, Any]]], size: int, done: Spans) -> Iterator[Post]:
    """Batch Bundles of consecutive items not yet done; each Post's span covers exactly its items."""
    size = max(size, 1)
    run: list[int] = []
    for index in range(len(items) + 1):
        if index < len(items) and not _covered(index, done) and len(run) < size and (not run or run[-1] == index - 1):
            run.append(index)
            continue
        if run:
            chunk = [items[i] for i in run]
            bundle = {"resourceType": "Bundle", "type": "batch", "entry": [batch_entry(r) for _, r in chunk]}
            yield Post(bundle, [where for where, _ in chunk], (run[0], run[-1] + 1))
            run = []
        if index < len(items) and not _covered(index, done):
            run.append(index)


def merge_spans(spans: Spans) -> list[tuple[int, int]]:
    """``spans`` sorted and merged: overlapping or touching spans become one."""
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def _covered(index: int, done: Spans) -> bool:
    """Whether ``index`` lies in one of the sorted, merged ``done`` spans."""
    at = bisect.bisect_right(done, (index, float("inf"))) - 1
    return at >= 0 and done[at][0] <= index < done[at][1]


def batch_entry(resource: dict[str, Any]) -> dict[str, Any]:
    """``PUT Type/id`` for a resource with an id (idempotent), else ``POST Type``."""
    resource_type = resource["resourceType"]
    resource_id = resource.get("id")
    if isinstance(resource_id, str) and resource_id:
        return {"resource": resource, "request": {"method": "PUT", "url": f"{resource_type}/{resource_id}"}}
    return {"resource": resource, "request": {"method": "POST", "url": resource_type}}


def _is_resource(value: Any) -> bool:
    return isinstance(value, dict) and isinstance(value.get("resourceType"), str) and bool(value["resourceType"])

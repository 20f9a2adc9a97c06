"""Content negotiation: ``_format``, ``Accept``, ``Content-Type`` and ``_pretty``.

http://hl7.org/fhir/R4/http.html#mime-type: JSON is served as ``application/fhir+json``; the
XML format is not offered, so asking for it is a clear 406 (response) or 415 (request body).
"""

from __future__ import annotations

import orjson

from fhir_server import errors

FHIR_JSON = "application/fhir+json; charset=utf-8"
_JSON_TYPES = {"application/fhir+json", "application/json", "application/json+fhir", "json", "text/json"}
_XML_TYPES = {"application/fhir+xml", "application/xml", "application/xml+fhir", "xml", "text/xml", "html", "text/html"}
_ANY = {"*/*", "application/*"}
_NDJSON_TYPES = {"application/fhir+ndjson", "application/ndjson", "ndjson"}  # Bulk Data output files
PATCH_TYPES = {"application/json-patch+json", "application/merge-patch+json"}


def check_acceptable(format_param: str | None, accept: str | None) -> None:
    """406 unless the client can take JSON (``_format`` overrides ``Accept``)."""
    if format_param is not None:
        wanted = format_param.split(";", 1)[0].strip().lower()
        if wanted in _JSON_TYPES or wanted in _NDJSON_TYPES:
            return
        raise errors.not_acceptable(f"_format={format_param} is not supported: this server speaks FHIR JSON only")
    if not accept:
        return
    offered = [part.split(";", 1)[0].strip().lower() for part in accept.split(",")]
    if any(media in _JSON_TYPES or media in _ANY or media in _NDJSON_TYPES for media in offered):
        return
    raise errors.not_acceptable(f"Accept: {accept} is not supported: this server speaks FHIR JSON only")


def check_body_type(content_type: str, *, patch: bool = False) -> None:
    """415 for a body that is not FHIR JSON (or, for PATCH, a supported patch format)."""
    if not content_type or content_type in _JSON_TYPES:
        return
    if patch and content_type in PATCH_TYPES:
        return
    if content_type in _XML_TYPES:
        raise errors.unsupported_media_type("XML bodies are not supported: send application/fhir+json")
    raise errors.unsupported_media_type(f"Content-Type {content_type} is not supported: send application/fhir+json")


def pretty(body: bytes) -> bytes:
    """``_pretty=true``: the same JSON, indented."""
    return orjson.dumps(orjson.loads(body), option=orjson.OPT_INDENT_2)


def parse_json(body: bytes, max_depth: int) -> object:
    """Parse a request body; bad or too deeply nested JSON is a 400, never a 500."""
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as bad:
        raise errors.bad_request(f"The body is not valid JSON: {bad}", code="structure") from None
    if _may_nest_deeper(body, max_depth) and _deeper_than(value, max_depth):
        raise errors.bad_request(f"The body nests JSON deeper than {max_depth} levels", code="structure")
    return value


_COUNTED = 65536  # bodies up to this size are first checked by counting brackets


def _may_nest_deeper(body: bytes, limit: int) -> bool:
    """False when ``body`` cannot nest deeper than ``limit``: every object or array of the parsed
    value starts with a ``{`` or ``[`` of its own, so their count bounds the depth. Two byte counts
    in C settle most small bodies (a 3 KB Patient has about 60) without walking the parsed value."""
    return len(body) > _COUNTED or body.count(b"{") + body.count(b"[") > limit


def _deeper_than(value: object, limit: int) -> bool:
    """True when ``value`` nests objects/arrays more than ``limit`` levels.

    orjson refuses to write values nested deeper than :data:`_DUMPS_DEPTH` levels, so writing
    ``value`` inside ``_DUMPS_DEPTH - limit`` arrays succeeds exactly when ``value`` nests at most
    ``limit`` levels: a pass in C, about 4 times faster than walking the value in Python. When
    orjson refuses for another reason (a value it does not write), or has no such limit, the walk
    (:func:`_walk_deeper_than`) decides.
    """
    if _DUMPS_DEPTH is not None and 0 <= limit < _DUMPS_DEPTH:
        wrapped = value
        for _ in range(_DUMPS_DEPTH - limit):
            wrapped = [wrapped]
        try:
            orjson.dumps(wrapped)
        except orjson.JSONEncodeError:
            pass
        else:
            return False
    return _walk_deeper_than(value, limit)


def _walk_deeper_than(value: object, limit: int) -> bool:
    """:func:`_deeper_than` by walking the value level by level (breadth first, no recursion): the
    walk stops at ``limit`` levels, far below Python's recursion limit, and only dicts and lists
    are visited."""
    kind = type(value)
    if kind is not dict and kind is not list:
        return False
    level = [value]
    depth = 1
    while level:
        if depth > limit:
            return True
        depth += 1
        deeper: list = []
        add = deeper.append
        for node in level:
            for child in node.values() if type(node) is dict else node:  # type: ignore[attr-defined]
                child_kind = type(child)
                if child_kind is dict or child_kind is list:
                    add(child)
        level = deeper
    return False


def _nested_lists(depth: int) -> list:
    value: list = []
    for _ in range(depth - 1):
        value = [value]
    return value


def _writes(depth: int) -> bool:
    try:
        orjson.dumps(_nested_lists(depth))
    except orjson.JSONEncodeError:
        return False
    return True


def _dumps_depth() -> int | None:
    """The deepest nesting ``orjson.dumps`` writes (254 levels since orjson 3.11.5, which added the
    limit), found once by bisection on nested arrays; None when it writes 1,025 levels, one more
    than ``orjson.loads`` reads (then there is no limit to use)."""
    if _writes(1025):
        return None
    low, high = 1, 1025  # writes low levels, refuses high
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (middle, high) if _writes(middle) else (low, middle)
    return low


_DUMPS_DEPTH = _dumps_depth()

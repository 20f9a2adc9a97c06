"""PATCH as a pure function: the patched copy of a resource (http://hl7.org/fhir/R4/http.html#patch).

The request's media type chooses the patch format:

- ``application/json-patch+json``: JSON Patch (RFC 6902), applied by ``jsonpatch``;
- ``application/merge-patch+json``: JSON Merge Patch (RFC 7386), ``null`` deletes;
- ``application/fhir+json`` (or legacy ``application/json+fhir``) and ``application/json``: by the
  body: a ``Parameters`` resource is FHIRPath Patch (http://hl7.org/fhir/R4/fhirpatch.html), an
  array is JSON Patch, any other object is a merge patch (what fhirpy sends for partial updates).

Errors (http://hl7.org/fhir/R4/http.html#patch): another media type → 415; a body that is
not JSON or not a patch document of its format → 400; a patch that cannot be applied (JSON Patch
``test`` failure, a path that does not exist, a FHIRPath path selecting several elements, ...) →
422. A patch may never change ``resourceType`` or ``id`` (422).
"""

from __future__ import annotations

import copy
import re
from typing import Any

import jsonpatch
import jsonpointer
import orjson

from fhir_server import errors
from fhir_server.interactions.fhirpath_patch import apply_fhirpath_patch

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
FHIR_JSON = ("application/fhir+json", "application/json+fhir", "application/json")
_JSON_PATCH_OPS = {
    "add": ("value",),
    "remove": (),
    "replace": ("value",),
    "move": ("from",),
    "copy": ("from",),
    "test": ("value",),
}
_POINTER = re.compile(r"(/([^~/]|~[01])*)*")


def apply_patch(resource: dict[str, Any], content_type: str, body: bytes) -> dict[str, Any]:
    """A NEW resource: ``resource`` (never mutated) patched by ``body`` of media type ``content_type``."""
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if media_type != JSON_PATCH and media_type != MERGE_PATCH and media_type not in FHIR_JSON:
        raise errors.unsupported_media_type(
            f"PATCH does not accept {media_type or 'a body without Content-Type'}: use "
            f"{JSON_PATCH}, {MERGE_PATCH}, or application/fhir+json with a FHIRPath Patch Parameters"
        )
    document = _parse(body)
    if media_type == JSON_PATCH or (media_type in FHIR_JSON and isinstance(document, list)):
        patched = json_patch(resource, document)
    elif media_type == MERGE_PATCH or not _is_parameters(document, resource):
        patched = merge_patch(resource, document)
    else:
        patched = apply_fhirpath_patch(_deep_copy(resource), document)
    _check_identity(resource, patched)
    return patched


def _parse(body: bytes) -> Any:
    if not body or not body.strip():
        raise errors.bad_request("PATCH needs a body", code="required")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise errors.bad_request(f"PATCH body is not valid JSON: {exc}", code="structure") from None


def _is_parameters(document: Any, resource: dict[str, Any]) -> bool:
    return (
        isinstance(document, dict)
        and document.get("resourceType") == "Parameters"
        and resource.get("resourceType") != "Parameters"
    )


def _deep_copy(value: Any) -> Any:
    try:
        return orjson.loads(orjson.dumps(value))
    except (TypeError, orjson.JSONEncodeError):
        return copy.deepcopy(value)


def _check_identity(original: dict[str, Any], patched: Any) -> None:
    if not isinstance(patched, dict):
        raise errors.unprocessable("the patch would replace the resource with a non-object", code="business-rule")
    for key in ("resourceType", "id"):
        if patched.get(key) != original.get(key):
            raise errors.unprocessable(f"a patch cannot change the resource's {key}", key, code="business-rule")


# -- JSON Patch (RFC 6902) -------------------------------------------------------------------------


def json_patch(resource: dict[str, Any], operations: Any) -> Any:
    """RFC 6902: 400 for a malformed document, 422 when an operation cannot be applied."""
    _check_json_patch(operations)
    document: Any = _deep_copy(resource)
    for i, operation in enumerate(operations):
        where = f"JSON Patch operation {i} ({operation['op']} {operation['path']})"
        try:
            document = jsonpatch.JsonPatch([operation]).apply(document, in_place=True)
        except jsonpatch.JsonPatchTestFailed:
            raise errors.unprocessable(f"{where}: the value differs from the tested value") from None
        except jsonpatch.InvalidJsonPatch as exc:
            raise errors.bad_request(f"{where} is invalid: {exc}") from None
        except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException, LookupError, TypeError, ValueError):
            raise errors.unprocessable(
                f"{where} cannot be applied: its location does not exist in the resource"
            ) from None
    return document


def _check_json_patch(operations: Any) -> None:
    if not isinstance(operations, list):
        raise errors.bad_request("a JSON Patch document must be an array of operations")
    for i, op in enumerate(operations):
        if not isinstance(op, dict) or op.get("op") not in _JSON_PATCH_OPS:
            raise errors.bad_request(f"JSON Patch operation {i} needs an 'op' among {', '.join(_JSON_PATCH_OPS)}")
        for member in ("path", *_JSON_PATCH_OPS[op["op"]]):
            if member not in op:
                raise errors.bad_request(f"JSON Patch operation {i} ({op['op']}) lacks {member!r}")
        for member in ("path", "from"):
            if member in op and not (isinstance(op[member], str) and _POINTER.fullmatch(op[member])):
                raise errors.bad_request(f"JSON Patch operation {i}: {member} {op[member]!r} is not a JSON Pointer")


# -- JSON Merge Patch (RFC 7386) -------------------------------------------------------------------


def merge_patch(resource: dict[str, Any], patch: Any) -> Any:
    """RFC 7386 on a deep copy of ``resource``: objects merge, ``null`` deletes, others replace."""
    if not isinstance(patch, dict):
        raise errors.bad_request("a merge patch must be a JSON object")
    return _merge(_deep_copy(resource), patch)


def _merge(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return patch
    if not isinstance(target, dict):
        target = {}
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        else:
            target[key] = _merge(target.get(key), value)
    return target

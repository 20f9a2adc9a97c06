"""FHIRPath Patch: a ``Parameters`` resource of operations (http://hl7.org/fhir/R4/fhirpatch.html).

Each ``Parameters.parameter`` is named ``operation`` and has the parts ``type`` (add | insert |
delete | replace | move), ``path``, and per type ``name``, ``value``, ``index``, ``source``,
``destination``. ``value`` is a ``value[x]`` (its JSON as is), a ``resource``, or nested ``part``s
for an anonymous (backbone) type. The element definitions of
``fhir_server.spec.summary`` say whether an element repeats (the JSON value is an array) and how
a choice name such as ``value`` becomes ``valueQuantity``.

Rules applied (from the spec's table): ``add`` appends to a repeating element or sets an absent
single one; ``insert``/``move`` work on the list named by ``path`` with 0-based indexes; ``delete``
of a path that selects nothing does nothing; every other path must select exactly one element.
Objects left empty by a delete are removed too (JSON has no empty elements). Malformed operations
answer 400; operations that cannot be applied answer 422.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fhir_server import errors
from fhir_server.interactions.fhirpath_patch_paths import (
    Node,
    child_type,
    evaluate,
    json_keys,
    locate,
    parse_path,
)
from fhir_server.spec.summary import TypeInfo, type_info

_PARTS = ("type", "path", "name", "value", "index", "source", "destination")
_REQUIRED = {
    "add": ("path", "name", "value"),
    "insert": ("path", "value", "index"),
    "delete": ("path",),
    "replace": ("path", "value"),
    "move": ("path", "source", "destination"),
}


@dataclass(frozen=True)
class Operation:
    number: int
    type: str
    path: str
    name: str | None
    value: dict[str, Any] | None  # the raw ``value`` part
    index: int | None
    source: int | None
    destination: int | None

    @property
    def where(self) -> str:
        return f"Parameters.parameter[{self.number}]"


def apply_fhirpath_patch(resource: dict[str, Any], parameters: dict[str, Any]) -> dict[str, Any]:
    """Apply every operation of ``parameters`` to ``resource`` IN PLACE (pass a private copy)."""
    for operation in parse_operations(parameters):
        _APPLY[operation.type](resource, operation)
    return resource


# -- reading the Parameters ------------------------------------------------------------------------


def parse_operations(parameters: dict[str, Any]) -> list[Operation]:
    params = parameters.get("parameter", [])
    if not isinstance(params, list):
        raise errors.bad_request("Parameters.parameter must be an array", "Parameters.parameter")
    return [_operation(i, p) for i, p in enumerate(params)]


def _operation(number: int, param: Any) -> Operation:
    where = f"Parameters.parameter[{number}]"
    if not isinstance(param, dict) or param.get("name") != "operation":
        raise errors.bad_request("each FHIRPath Patch parameter must be named 'operation'", where)
    parts: dict[str, dict[str, Any]] = {}
    raw_parts = param.get("part")
    if not isinstance(raw_parts, list):
        raise errors.bad_request("a FHIRPath Patch operation needs its parts", where)
    for j, part in enumerate(raw_parts):
        name = part.get("name") if isinstance(part, dict) else None
        if name not in _PARTS or name in parts:
            raise errors.bad_request(f"unknown or repeated operation part {name!r}", f"{where}.part[{j}]")
        parts[name] = part
    kind = _string(parts, "type", where)
    if kind not in _REQUIRED:
        raise errors.bad_request(f"unknown FHIRPath Patch operation type {kind!r}", where)
    missing = [p for p in _REQUIRED[kind] if p not in parts]
    if missing:
        raise errors.bad_request(f"{kind} operation lacks part(s): {', '.join(missing)}", where)
    return Operation(
        number=number,
        type=kind,
        path=_string(parts, "path", where),
        name=_string(parts, "name", where) if "name" in parts else None,
        value=parts.get("value"),
        index=_integer(parts, "index", where),
        source=_integer(parts, "source", where),
        destination=_integer(parts, "destination", where),
    )


def _primitive(part: dict[str, Any]) -> Any:
    for key, value in part.items():
        if key.startswith("value"):
            return value
    return None


def _string(parts: dict[str, dict[str, Any]], name: str, where: str) -> str:
    value = _primitive(parts.get(name, {}))
    if not isinstance(value, str) or not value.strip():
        raise errors.bad_request(f"operation part {name!r} needs a string value", where)
    return value


def _integer(parts: dict[str, dict[str, Any]], name: str, where: str) -> int | None:
    if name not in parts:
        return None
    value = _primitive(parts[name])
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise errors.bad_request(f"operation part {name!r} needs a non-negative integer value", where)
    return value


def _suffix(part: dict[str, Any]) -> str | None:
    """The type suffix of a part's ``value[x]`` (``Quantity`` for valueQuantity); None if none."""
    for key in part:
        if key.startswith("value") and len(key) > 5:
            return key[5:]
    return None


def _value(part: dict[str, Any], type_key: str | None, where: str) -> Any:
    """The JSON of a ``value`` part; ``type_key`` types the object built from nested parts."""
    for key, value in part.items():
        if key.startswith("value") and len(key) > 5:
            if value is None:
                raise errors.bad_request(f"operation value part has a null {key}", where)
            return value
    if isinstance(part.get("resource"), dict):
        return part["resource"]
    if isinstance(part.get("part"), list):
        return _anonymous(part["part"], type_key, where)
    raise errors.bad_request("operation value part has no value[x], resource or part", where)


def _anonymous(parts: list[Any], type_key: str | None, where: str) -> dict[str, Any]:
    """An object of a backbone type, built from its parts (repeating elements become arrays)."""
    info = type_info(type_key) if type_key else None
    built: dict[str, Any] = {}
    for part in parts:
        name = part.get("name") if isinstance(part, dict) else None
        if not isinstance(name, str):
            raise errors.bad_request("each part of an anonymous value needs a name", where)
        suffix = _suffix(part)
        key = name + suffix if info is not None and name in info.choices and suffix else name
        value = _value(part, info.children.get(key) if info else None, where)
        if info is not None and key in info.repeating:
            built.setdefault(key, []).append(value)
        elif key in built:
            if info is not None:
                raise errors.bad_request(f"{type_key}.{key} does not repeat", where)
            built[key] = (built[key] if isinstance(built[key], list) else [built[key]]) + [value]
        else:
            built[key] = value
    return built


# -- operations ------------------------------------------------------------------------------------


def _add(resource: dict[str, Any], op: Operation) -> None:
    node = _single(resource, op, "adding")
    if not isinstance(node.value, dict):
        raise _cannot(op, f"{op.path} is a primitive: add needs an element with children")
    info = type_info(node.type) if node.type else None
    assert op.name is not None and op.value is not None
    key = op.name
    if info is not None:
        key = _choice_key(info, key, _suffix(op.value), op)
        if key not in info.elements:
            raise _cannot(op, f"{node.type} has no element {op.name!r}")
    value = _value(op.value, info.children.get(key) if info else None, op.where)
    target = node.value
    existing = target.get(key)
    repeating = key in info.repeating if info is not None else isinstance(existing, list)
    if repeating:
        items = existing if isinstance(existing, list) else []
        _set_list(target, key, [*items, value], len(items), lambda companion: companion.append(None))
    elif existing is not None or (info is not None and _other_choice_present(info, op.name, target)):
        raise _cannot(op, f"{op.path}.{op.name} already exists and does not repeat: use replace")
    else:
        target[key] = value


def _insert(resource: dict[str, Any], op: Operation) -> None:
    container, key, items = _collection(resource, op, "inserting")
    assert op.index is not None and op.value is not None
    if op.index > len(items):
        raise _cannot(op, f"index {op.index} is beyond the {len(items)} element(s) of {op.path}")
    value = _value(op.value, child_type(container, key, None), op.where)
    original = len(items)
    items.insert(op.index, value)
    _set_list(container.value, key, items, original, lambda c: c.insert(op.index, None))


def _delete(resource: dict[str, Any], op: Operation) -> None:
    nodes = locate(resource, op.path)
    if not nodes:
        return
    if len(nodes) > 1:
        raise _ambiguous(op, len(nodes))
    if nodes[0].parent is None:
        raise _cannot(op, "delete cannot remove the resource itself")
    _remove(nodes[0])


def _replace(resource: dict[str, Any], op: Operation) -> None:
    node = _single(resource, op, "replacing")
    if node.parent is None or node.key is None:
        raise _cannot(op, "replace cannot replace the resource itself")
    assert op.value is not None
    container = node.parent.value
    if node.index is not None:
        container[node.key][node.index] = _value(op.value, node.type, op.where)
        return
    key = node.key
    info = type_info(node.parent.type) if node.parent.type else None
    suffix = _suffix(op.value)
    if info is not None and suffix and info.base_name(key) != key:
        key = _choice_key(info, info.base_name(key), suffix, op)
    value = _value(op.value, info.children.get(key) if info else node.type, op.where)
    if key != node.key:
        del container[node.key]
        container.pop("_" + node.key, None)
    container[key] = value


def _move(resource: dict[str, Any], op: Operation) -> None:
    container, key, items = _collection(resource, op, "moving")
    assert op.source is not None and op.destination is not None
    if op.source >= len(items) or op.destination >= len(items):
        raise _cannot(op, f"source/destination must be below the {len(items)} element(s) of {op.path}")
    items.insert(op.destination, items.pop(op.source))
    _set_list(container.value, key, items, len(items), lambda c: c.insert(op.destination, c.pop(op.source)))


_APPLY = {"add": _add, "insert": _insert, "delete": _delete, "replace": _replace, "move": _move}


# -- helpers ---------------------------------------------------------------------------------------


def _single(resource: dict[str, Any], op: Operation, verb: str) -> Node:
    nodes = locate(resource, op.path)
    if not nodes:
        raise _cannot(op, f"No content found at {op.path} when {verb}")
    if len(nodes) > 1:
        raise _ambiguous(op, len(nodes))
    return nodes[0]


def _collection(resource: dict[str, Any], op: Operation, verb: str) -> tuple[Node, str, list[Any]]:
    """The single object holding the list ``path`` names, the list's key, and a copy of the list."""
    steps = parse_path(op.path)
    if steps[-1].kind != "child":
        raise _cannot(op, f"{op.path} must name a list element for {verb}", code="not-supported")
    containers = evaluate(resource, steps[:-1])
    if not containers:
        raise _cannot(op, f"No content found at {op.path} when {verb}")
    if len(containers) > 1:
        raise _ambiguous(op, len(containers))
    container = containers[0]
    name = steps[-1].arg
    keys = json_keys(container, name)
    key = keys[0] if keys else name
    info = type_info(container.type) if container.type else None
    if info is not None and key not in info.repeating:
        raise _cannot(op, f"{op.path} is not a repeating element")
    items = container.value.get(key, []) if isinstance(container.value, dict) else None
    if not isinstance(items, list):
        raise _cannot(op, f"{op.path} is not a list")
    return container, key, list(items)


def _choice_key(info: TypeInfo, name: str, suffix: str | None, op: Operation) -> str:
    if name not in info.choices:
        return name
    key = name + (suffix or "")
    if key not in info.choices[name]:
        raise _cannot(op, f"{name!r} cannot take a value of type {suffix or 'anonymous'}")
    return key


def _other_choice_present(info: TypeInfo, name: str | None, target: dict[str, Any]) -> bool:
    return name in info.choices and any(k in target for k in info.choices[name])


def _set_list(container: dict[str, Any], key: str, items: list[Any], original: int, change: Any) -> None:
    """Store ``items``, applying ``change`` to the primitive list's ``_key`` array too, if aligned."""
    container[key] = items
    companion = container.get("_" + key)
    if isinstance(companion, list) and len(companion) == original:
        companion = list(companion)
        change(companion)
        container["_" + key] = companion


def _remove(node: Node) -> None:
    """Remove ``node`` from its parent, then any object or list that this leaves empty."""
    assert node.parent is not None and node.key is not None
    container = node.parent.value
    key = node.key
    if node.index is None:
        del container[key]
        container.pop("_" + key, None)
    else:
        items = container[key] = [v for i, v in enumerate(container[key]) if i != node.index]
        companion = container.get("_" + key)
        if isinstance(companion, list):
            companion = [v for i, v in enumerate(companion) if i != node.index]
            if any(v is not None for v in companion) and items:
                container["_" + key] = companion
            else:
                container.pop("_" + key)
        if not items:
            del container[key]
    if not container and node.parent.parent is not None:
        _remove(node.parent)


def _cannot(op: Operation, diagnostics: str, code: str = "processing") -> errors.FhirError:
    return errors.unprocessable(diagnostics, op.path, code=code)


def _ambiguous(op: Operation, count: int) -> errors.FhirError:
    return _cannot(op, f"{op.path} matches {count} elements; FHIRPath Patch needs exactly one")

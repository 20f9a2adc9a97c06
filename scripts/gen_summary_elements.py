"""Generate ``fhir_server/spec/data/summary_elements.json`` from the official R4 StructureDefinitions.

For every concrete resource type, every complex datatype and every backbone element inside them
(keyed by its element path, e.g. ``Patient.contact``), the file lists the JSON names of the direct
child elements, with the flags needed by ``_summary`` / ``_elements``
(http://hl7.org/fhir/R4/search.html#summary) and by FHIRPath Patch
(http://hl7.org/fhir/R4/fhirpatch.html):

- ``summary``: ``ElementDefinition.isSummary`` is true;
- ``mandatory``: ``min >= 1``;
- ``modifier``: ``isModifier`` is true;
- ``repeating``: ``max`` is not ``"1"`` (the JSON value is an array);
- ``choices``: ``value[x]``-style base name -> its concrete JSON names (``valueQuantity``, ...);
- ``children``: JSON name -> type key of a non-primitive child (a complex datatype name, a backbone
  path such as ``Patient.contact``, or ``Resource`` for an inline resource).

Choice elements are expanded to concrete JSON names in every list. Run from the repository root:
``.venv/bin/python scripts/gen_summary_elements.py``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fhir_server.spec.official_package import require_package_dir  # noqa: E402

OUT = ROOT / "fhir_server" / "spec" / "data" / "summary_elements.json"
BUNDLES = ("Bundle-types.json", "Bundle-resources.json")


def _structure_definitions(package: Path) -> list[dict[str, Any]]:
    """Concrete resources and complex datatypes (no profiles, no abstract bases)."""
    found = []
    for name in BUNDLES:
        bundle = orjson.loads((package / name).read_bytes())
        for entry in bundle["entry"]:
            sd = entry["resource"]
            if sd.get("resourceType") != "StructureDefinition" or sd.get("abstract"):
                continue
            if sd["kind"] not in ("resource", "complex-type") or sd.get("derivation") == "constraint":
                continue
            found.append(sd)
    return found


def _is_primitive(code: str) -> bool:
    return code[:1].islower() or code.startswith("http://hl7.org/fhirpath/")


def _json_names(element: dict[str, Any]) -> list[tuple[str, str | None]]:
    """(JSON name, type code) pairs for one element; ``value[x]`` expands to one pair per type."""
    last = element["path"].rsplit(".", 1)[1]
    types = [t["code"] for t in element.get("type", [])]
    if last.endswith("[x]"):
        base = last[:-3]
        return [(base + code[0].upper() + code[1:], code) for code in types]
    return [(last, types[0] if types else None)]


def _new_entry(kind: str, backbone: bool) -> dict[str, Any]:
    return {
        "kind": kind,
        "backbone": backbone,
        "elements": [],
        "summary": [],
        "mandatory": [],
        "modifier": [],
        "repeating": [],
        "choices": {},
        "children": {},
    }


def _add_structure(sd: dict[str, Any], types: dict[str, dict[str, Any]]) -> None:
    elements = sd["snapshot"]["element"]
    parents = {el["path"].rsplit(".", 1)[0] for el in elements if "." in el["path"]}
    kind = sd["kind"]
    types[sd["type"]] = _new_entry(kind, backbone=False)
    for el in elements:
        path = el["path"]
        if "." not in path:
            continue
        parent = path.rsplit(".", 1)[0]
        entry = types.setdefault(parent, _new_entry(kind, backbone=True))
        names = _json_names(el)
        last = path.rsplit(".", 1)[1]
        if last.endswith("[x]"):
            entry["choices"][last[:-3]] = [n for n, _ in names]
        for json_name, code in names:
            entry["elements"].append(json_name)
            if el.get("isSummary"):
                entry["summary"].append(json_name)
            if el.get("min", 0) >= 1:
                entry["mandatory"].append(json_name)
            if el.get("isModifier"):
                entry["modifier"].append(json_name)
            if el.get("max", "1") not in ("0", "1"):
                entry["repeating"].append(json_name)
            child = _child_type(el, code, parents)
            if child is not None:
                entry["children"][json_name] = child


def _child_type(el: dict[str, Any], code: str | None, parents: set[str]) -> str | None:
    if "contentReference" in el:
        return el["contentReference"].lstrip("#")
    if code is None or _is_primitive(code):
        return None
    if code in ("BackboneElement", "Element") and el["path"] in parents:
        return el["path"]
    return code


def build(package: Path) -> dict[str, Any]:
    types: dict[str, dict[str, Any]] = {}
    for sd in _structure_definitions(package):
        _add_structure(sd, types)
    for key, entry in types.items():
        for name, child in entry["children"].items():
            if child not in types and child != "Resource":
                raise SystemExit(f"{key}.{name}: unknown child type {child}")
        for flag in ("elements", "summary", "mandatory", "modifier", "repeating"):
            entry[flag] = sorted(set(entry[flag]))
    return {
        "source": "hl7.fhir.r4.examples@4.0.1 StructureDefinitions (Bundle-types.json, Bundle-resources.json)",
        "types": dict(sorted(types.items())),
    }


def main() -> None:
    data = build(require_package_dir())
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_bytes(orjson.dumps(data, option=orjson.OPT_SORT_KEYS) + b"\n")
    print(f"wrote {OUT} ({len(data['types'])} types)")


if __name__ == "__main__":
    main()

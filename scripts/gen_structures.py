"""Generate ``fhir_server/spec/data/structures.json`` from the official R4 4.0.1 definitions.

Reads the StructureDefinitions (``Bundle-resources.json``, ``Bundle-types.json``) and the
ValueSets / CodeSystems (``Bundle-valuesets.json``, ``Bundle-v3-valuesets.json``) of the
official package (see :mod:`fhir_server.spec.official_package`) and writes, for the structural
validator (http://hl7.org/fhir/R4/json.html, http://hl7.org/fhir/R4/elementdefinition.html):

``resources``
    the concrete resource types;
``primitives``
    the primitive datatypes (http://hl7.org/fhir/R4/datatypes.html#primitive);
``types``
    one element table per resource type, complex datatype and BackboneElement path
    (``Patient``, ``HumanName``, ``Patient.contact``, ...). Each row is
    ``[json name, type, min, is_array, choice_base, value_set_index]`` where ``type`` is a
    primitive name, a complex datatype name, a backbone path (a table key containing a dot) or
    ``"Resource"`` (``Element`` is kept: it describes the ``_name`` object of a primitive,
    http://hl7.org/fhir/R4/json.html#primitive); ``value[x]`` choices are expanded to one row per concrete type
    (``valueQuantity`` ...) with ``choice_base`` ``"value"``; ``contentReference`` ``#Path``
    rows point to the referenced backbone table;
``valuesets``
    the value sets of ``required`` bindings on ``code`` / ``Coding`` / ``CodeableConcept``
    elements that can be enumerated from the package: ``[url, complete, {system: [codes]}]``,
    where ``complete`` is 1 when every include could be enumerated (so a bare ``code`` can be
    checked) and the map holds each fully enumerable system.

Usage: ``.venv/bin/python scripts/gen_structures.py``
"""

from __future__ import annotations

import gzip
import sys
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fhir_server.spec.official_package import require_package_dir  # noqa: E402

OUT = ROOT / "fhir_server" / "spec" / "data" / "structures.json"
FHIR_TYPE_EXT = "http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type"
CODED = {"code", "Coding", "CodeableConcept"}
_HIERARCHY_OPS = ("is-a", "descendent-of")


def _bundle(pkg: Path, name: str) -> list[dict]:
    return [e["resource"] for e in orjson.loads((pkg / name).read_bytes())["entry"]]


def _upper_first(code: str) -> str:
    return code[0].upper() + code[1:]


def _type_code(el_type: dict) -> str:
    """The FHIR type of one ``ElementDefinition.type``; ``System.String`` ids/urls map to FHIR types."""
    code = el_type["code"]
    if code.startswith("http://hl7.org/fhirpath/System."):
        for ext in el_type.get("extension", ()):
            if ext["url"] == FHIR_TYPE_EXT:
                return ext["valueUrl"]
        return "string"
    return code


class ValueSets:
    """Enumerates ValueSet contents from compose (whole CodeSystems, listed concepts, is-a filters)."""

    def __init__(self, resources: list[dict]) -> None:
        self.vs = {r["url"]: r for r in resources if r["resourceType"] == "ValueSet"}
        self.cs = {r["url"]: r for r in resources if r["resourceType"] == "CodeSystem"}
        self._cache: dict[str, tuple[bool, dict[str, set[str]]] | None] = {}

    def _all_codes(self, system: str) -> set[str] | None:
        cs = self.cs.get(system)
        if cs is None or cs.get("content") != "complete":
            return None
        out: set[str] = set()
        stack = list(cs.get("concept", ()))
        while stack:
            c = stack.pop()
            out.add(c["code"])
            stack.extend(c.get("concept", ()))
        return out

    def _descendants(self, system: str, code: str, include_self: bool) -> set[str] | None:
        cs = self.cs.get(system)
        if cs is None or cs.get("content") != "complete":
            return None
        stack = list(cs.get("concept", ()))
        while stack:
            c = stack.pop()
            if c["code"] == code:
                out: set[str] = {code} if include_self else set()
                sub = list(c.get("concept", ()))
                while sub:
                    s = sub.pop()
                    out.add(s["code"])
                    sub.extend(s.get("concept", ()))
                return out
            stack.extend(c.get("concept", ()))
        return None

    def _include(self, inc: dict) -> tuple[bool, dict[str, set[str]]]:
        """(fully enumerable?, {system: codes}) for one compose.include / exclude."""
        if inc.get("valueSet"):
            if inc.get("system") or len(inc["valueSet"]) != 1:
                return False, {}
            found = self.expand(inc["valueSet"][0])
            return (found[0], found[1]) if found else (False, {})
        system = inc.get("system")
        if not system:
            return False, {}
        if inc.get("concept"):
            return True, {system: {c["code"] for c in inc["concept"]}}
        filters = inc.get("filter", ())
        if not filters:
            codes = self._all_codes(system)
        elif len(filters) == 1 and filters[0]["property"] == "concept" and filters[0]["op"] in _HIERARCHY_OPS:
            codes = self._descendants(system, filters[0]["value"], filters[0]["op"] == "is-a")
        else:
            codes = None
        return (True, {system: codes}) if codes is not None else (False, {})

    def expand(self, url: str) -> tuple[bool, dict[str, set[str]]] | None:
        """(complete, {system: codes}) or None when nothing at all can be enumerated."""
        url = url.split("|", 1)[0]
        if url in self._cache:
            return self._cache[url]
        self._cache[url] = None  # cycle guard
        vs = self.vs.get(url)
        compose = vs.get("compose") if vs else None
        if not compose:
            return None
        complete = True
        systems: dict[str, set[str]] = {}
        bad_systems: set[str] = set()
        for inc in compose.get("include", ()):
            ok, found = self._include(inc)
            if not ok:
                complete = False
                if inc.get("system"):
                    bad_systems.add(inc["system"])
            for system, codes in found.items():
                systems.setdefault(system, set()).update(codes)
        for exc in compose.get("exclude", ()):
            ok, found = self._include(exc)
            if not ok:  # cannot subtract: nothing from that system can be trusted
                complete = False
                if exc.get("system"):
                    bad_systems.add(exc["system"])
                continue
            for system, codes in found.items():
                if system in systems:
                    systems[system] -= codes
        for system in bad_systems:
            systems.pop(system, None)
        result = (complete, systems) if systems else None
        self._cache[url] = result
        return result


class Tables:
    """Flattens snapshots into element tables keyed by type name or backbone path."""

    def __init__(self, valuesets: ValueSets) -> None:
        self.tables: dict[str, list[list]] = {}
        self.valuesets = valuesets
        self.vs_index: dict[str, int] = {}
        self.vs_rows: list[list] = []

    def _binding(self, el: dict, type_code: str) -> int | None:
        binding = el.get("binding")
        if not binding or binding.get("strength") != "required" or type_code not in CODED:
            return None
        url = binding.get("valueSet", "").split("|", 1)[0]
        if not url:
            return None
        if url not in self.vs_index:
            found = self.valuesets.expand(url)
            if found is None or (type_code == "code" and not found[0]):
                return None
            complete, systems = found
            self.vs_index[url] = len(self.vs_rows)
            self.vs_rows.append([url, int(complete), {s: sorted(c) for s, c in sorted(systems.items())}])
        index = self.vs_index[url]
        if type_code == "code" and not self.vs_rows[index][1]:
            return None
        return index

    def add(self, sd: dict) -> None:
        elements = sd["snapshot"]["element"]
        root = elements[0]["path"]
        tables: dict[str, list[list]] = {root: []}
        for el in elements[1:]:
            path = el["path"]
            parent, _, name = path.rpartition(".")
            if parent not in tables:
                raise SystemExit(f"{path}: parent {parent} seen before its table")
            is_array = int(el["max"] != "1")
            if el["max"] == "0":
                continue
            row_min = int(el["min"])
            if "contentReference" in el:
                target = el["contentReference"].lstrip("#")
                tables[parent].append([name, target, row_min, is_array, None, None])
                continue
            types = [_type_code(t) for t in el["type"]]
            if path == root + ".id" and sd["kind"] == "resource":
                types = ["id"]  # Resource.id is an id (http://hl7.org/fhir/R4/resource.html#id)
            if name.endswith("[x]"):
                base = name[:-3]
                for code in types:
                    row = [base + _upper_first(code), code, row_min, is_array, base, self._binding(el, code)]
                    tables[parent].append(row)
                continue
            (code,) = types
            if code in ("BackboneElement", "Element") and any(e["path"].startswith(path + ".") for e in elements):
                tables[path] = []
                code = path
            tables[parent].append([name, code, row_min, is_array, None, self._binding(el, code)])
        self.tables.update(tables)


def generate(pkg: Path) -> dict:
    structure_defs = [
        r
        for r in _bundle(pkg, "Bundle-resources.json") + _bundle(pkg, "Bundle-types.json")
        if r["resourceType"] == "StructureDefinition"
    ]
    valuesets = ValueSets(_bundle(pkg, "Bundle-valuesets.json") + _bundle(pkg, "Bundle-v3-valuesets.json"))
    tables = Tables(valuesets)
    resources, primitives = [], []
    for sd in structure_defs:
        if sd.get("derivation") == "constraint" or sd["kind"] == "logical":
            continue
        if sd["kind"] == "primitive-type":
            primitives.append(sd["id"])
            continue
        if sd["kind"] == "resource" and not sd.get("abstract"):
            resources.append(sd["id"])
        if sd["id"] in ("BackboneElement", "Resource", "DomainResource"):
            continue  # abstract; their elements are repeated in every snapshot deriving from them
        tables.add(sd)
    for rows in tables.tables.values():
        for row in rows:
            target = row[1]
            if target not in tables.tables and target not in primitives and target != "Resource":
                raise SystemExit(f"unresolved type {target}")
    return {
        "fhirVersion": "4.0.1",
        "resources": sorted(resources),
        "primitives": sorted(primitives),
        "types": dict(sorted(tables.tables.items())),
        "valuesets": tables.vs_rows,
    }


def main() -> None:
    data = generate(require_package_dir())
    raw = orjson.dumps(data)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    gz = OUT.with_suffix(".json.gz")
    if len(raw) > 1_000_000:
        gz.write_bytes(gzip.compress(raw, 9, mtime=0))
        OUT.unlink(missing_ok=True)
        print(f"wrote {gz} ({gz.stat().st_size} bytes, {len(raw)} raw)")
    else:
        OUT.write_bytes(raw)
        gz.unlink(missing_ok=True)
        print(f"wrote {OUT} ({len(raw)} bytes)")
    rows = sum(len(r) for r in data["types"].values())
    counts = (len(data["resources"]), len(data["types"]), rows, len(data["valuesets"]))
    print("%d resources, %d tables, %d rows, %d value sets" % counts)


if __name__ == "__main__":
    main()

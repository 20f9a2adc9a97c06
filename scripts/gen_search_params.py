"""Generate ``fhir_server/spec/data/search_parameters.json`` and ``compartment_patient.json``.

Reads HL7's official R4 4.0.1 package (``Bundle-searchParams.json``, ``Bundle-resources.json``,
``Bundle-types.json``) and writes, per resource type, every search parameter
(http://hl7.org/fhir/R4/searchparameter-registry.html) with its expression already reduced to the
union members that apply to that base type (``Patient.name | Practitioner.name`` becomes
``Patient.name`` under Patient), its targets, the modifiers and prefixes this server accepts, and
resolved composite components. It also lists the names of all choice elements (``value[x]``...)
so the expression compiler can find ``valueQuantity`` for ``value``.

Run: ``.venv/bin/python scripts/gen_search_params.py``
"""

from __future__ import annotations

import sys
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fhir_server.spec.official_package import require_package_dir  # noqa: E402
from fhir_server.spec.resource_types import RESOURCE_TYPES  # noqa: E402
from fhir_server.spec.search_parameters import parts_for  # noqa: E402

OUT = ROOT / "fhir_server" / "spec" / "data"
ALL_PREFIXES = ["eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap"]

MODIFIERS = {
    "string": ["missing", "exact", "contains"],
    "token": ["missing", "text", "not", "in", "not-in"],
    "reference": ["missing", "identifier"],
    "date": ["missing"],
    "number": ["missing"],
    "quantity": ["missing"],
    "uri": ["missing", "below", "above"],
    "composite": ["missing"],
    "special": ["missing"],
}


def is_identifier_param(code: str, parts: list[str]) -> bool:
    return code == "identifier" or all(p.endswith(".identifier") for p in parts)


def definition(sp: dict, base: str, by_url: dict[str, dict]) -> dict | None:
    expression = sp.get("expression")
    parts = parts_for(expression, base) if expression else []
    if expression and not parts:
        return None
    kind = sp["type"]
    modifiers = list(MODIFIERS[kind])
    if kind == "token" and is_identifier_param(sp["code"], parts):
        modifiers.append("of-type")
    out = {
        "url": sp["url"],
        "type": kind,
        "expression": " | ".join(parts) if parts else None,
        "target": sorted(sp.get("target", [])),
        "modifier": modifiers,
        "comparator": sp.get("comparator") or (ALL_PREFIXES if kind in ("date", "number", "quantity") else []),
    }
    if kind == "composite":
        out["component"] = [
            {
                "code": by_url[c["definition"]]["code"],
                "type": by_url[c["definition"]]["type"],
                "expression": c["expression"],
                "definition": c["definition"],
            }
            for c in sp["component"]
        ]
    return out


def choice_elements(bundles: list[dict]) -> list[str]:
    """Names of every choice element (``Observation.value[x]`` gives ``value``)."""
    names = set()
    for bundle in bundles:
        for entry in bundle["entry"]:
            res = entry["resource"]
            if res["resourceType"] != "StructureDefinition":
                continue
            for el in res.get("snapshot", {}).get("element", []):
                if el["path"].endswith("[x]"):
                    names.add(el["path"].rsplit(".", 1)[-1][:-3])
    return sorted(names)


def patient_compartment(resources: dict) -> dict[str, list[str]]:
    for entry in resources["entry"]:
        res = entry["resource"]
        if res["resourceType"] == "CompartmentDefinition" and res.get("code") == "Patient":
            return {r["code"]: r["param"] for r in res["resource"] if r.get("param")}
    raise SystemExit("no Patient CompartmentDefinition in Bundle-resources.json")


def main() -> None:
    pkg = require_package_dir()
    params = orjson.loads((pkg / "Bundle-searchParams.json").read_bytes())
    resources = orjson.loads((pkg / "Bundle-resources.json").read_bytes())
    types = orjson.loads((pkg / "Bundle-types.json").read_bytes())
    sps = [e["resource"] for e in params["entry"]]
    by_url = {sp["url"]: sp for sp in sps}
    common: dict[str, dict] = {}
    domain: dict[str, dict] = {}
    per_type: dict[str, dict[str, dict]] = {t: {} for t in sorted(RESOURCE_TYPES)}
    for sp in sps:
        for base in sp["base"]:
            target = common if base == "Resource" else domain if base == "DomainResource" else per_type.get(base)
            if target is None:
                continue
            found = definition(sp, base, by_url)
            if found is not None:
                target[sp["code"]] = found
    data = {
        "fhirVersion": "4.0.1",
        "count": len(sps),
        "choiceElements": choice_elements([resources, types]),
        "resourceCommon": common,
        "domainResourceCommon": domain,
        "types": {t: dict(sorted(v.items())) for t, v in per_type.items()},
    }
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "search_parameters.json").write_bytes(orjson.dumps(data, option=orjson.OPT_INDENT_2))
    comp = patient_compartment(resources)
    (OUT / "compartment_patient.json").write_bytes(
        orjson.dumps(dict(sorted(comp.items())), option=orjson.OPT_INDENT_2)
    )
    total = sum(len(v) for v in per_type.values()) + len(common) + len(domain)
    print(f"{len(sps)} SearchParameters -> {total} (type, code) definitions; {len(comp)} compartment types")


if __name__ == "__main__":
    main()

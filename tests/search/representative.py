"""One representative query value per search parameter type, modifier and prefix.

Used to check that everything the CapabilityStatement lists is accepted, and that every filter
the translator emits is served by an index (http://hl7.org/fhir/R4/search.html#ptypes).
"""

from __future__ import annotations

from fhir_server.search.values import PREFIXES
from fhir_server.spec.search_parameters import SearchParam

VALUE_SET = "http://example.org/fhir/ValueSet/rep"
BASE_VALUE = {
    "string": "ab",
    "token": "http://example.org/sys|c1",
    "reference": "x1",
    "date": "2020-01",
    "number": "1.5",
    "quantity": "1.5|http://unitsofmeasure.org|mg",
    "uri": "http://example.org/a/b",
    "special": "42.25|-83.69|5|km",
}
MODIFIER_VALUE = {
    "missing": "true",
    "exact": "Ab",
    "contains": "b",
    "text": "ab",
    "not": "http://example.org/sys|c1",
    "in": VALUE_SET,
    "not-in": VALUE_SET,
    "of-type": "http://terminology.hl7.org/CodeSystem/v2-0203|MR|123",
    "identifier": "http://example.org/ids|123",
    "below": "http://example.org/a",
    "above": "http://example.org/a/b/c",
}


def value(param: SearchParam) -> str:
    """The base form of a value of ``param`` (composites: one value per component)."""
    if param.type == "composite":
        return "$".join(BASE_VALUE[c.type] for c in param.component)
    return BASE_VALUE[param.type]


def queries(param: SearchParam) -> list[tuple[str, str]]:
    """(name, value) for the base form, every modifier, every reference target type and every
    prefix of ``param``."""
    out = [(param.code, value(param))]
    modifiers = ("missing", "not") if param.code == "_id" else param.modifier  # _id: a token of one system-less code
    out += [(f"{param.code}:{mod}", MODIFIER_VALUE[mod]) for mod in modifiers if mod in MODIFIER_VALUE]
    if param.type == "reference":
        out += [(f"{param.code}:{target}", "x1") for target in param.target]
        out.append((param.code, "Patient/x1") if not param.target or "Patient" in param.target else (param.code, f"{param.target[0]}/x1"))
        out.append((param.code, "http://elsewhere.example/fhir/Patient/x1"))
    if param.type in ("date", "number", "quantity"):
        out += [(param.code, prefix + value(param)) for prefix in PREFIXES if not param.comparator or prefix in param.comparator]
    if param.type == "quantity":
        out += [(param.code, "1.5"), (param.code, "1.5||mg")]
    if param.type == "token":
        out += [(param.code, "c1"), (param.code, "|c1"), (param.code, "http://example.org/sys|")]
    return out

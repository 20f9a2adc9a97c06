"""Every official R4 example resource passes structural validation (Bundles with all their entries).

The examples are the ``<Type>-<id>.json`` files of the official package ``hl7.fhir.r4.examples``
whose ``resourceType`` is ``<Type>``. A few of them really break the R4 rules; they are listed in
:data:`KNOWN_INVALID` with the issues they must raise, and were checked by hand against the
StructureDefinitions.
"""

from __future__ import annotations

import re
from pathlib import Path

import orjson
import pytest

from fhir_server.spec.official_package import package_dir
from fhir_server.spec.structures import structures
from fhir_server.validation import resource_issues

_INDEX = re.compile(r"\[\d+\]")

# file -> the (issue code, expression without indexes) pairs it raises; every one verified.
KNOWN_INVALID: dict[str, set[tuple[str, str]]] = {
    # ImplementationGuide.name and .status are 1..1; the package's own IG resource has neither.
    "ImplementationGuide-fhir.json": {
        ("required", "ImplementationGuide.name"),
        ("required", "ImplementationGuide.status"),
    },
    # Questionnaire.item.linkId is 1..1; the display items nested under the groups of qs1 have none.
    "Questionnaire-qs1.json": {
        ("required", "Questionnaire.item.item.linkId"),
        ("required", "Questionnaire.item.item.item.linkId"),
        ("required", "Questionnaire.item.item.item.item.linkId"),
    },
    # SearchParameter.base is 1..*; these generated extension search parameters have no base.
    **{
        f"SearchParameter-{stem}.json": {("required", "SearchParameter.base")}
        for stem in (
            "codesystem-extensions-CodeSystem-author",
            "codesystem-extensions-CodeSystem-effective",
            "codesystem-extensions-CodeSystem-end",
            "codesystem-extensions-CodeSystem-keyword",
            "codesystem-extensions-CodeSystem-workflow",
            "valueset-extensions-ValueSet-author",
            "valueset-extensions-ValueSet-effective",
            "valueset-extensions-ValueSet-end",
            "valueset-extensions-ValueSet-keyword",
            "valueset-extensions-ValueSet-workflow",
        )
    },
    # Its id has 67 characters; an id is at most 64 (http://hl7.org/fhir/R4/datatypes.html#id).
    "SearchParameter-questionnaireresponse-extensions-QuestionnaireResponse-item-subject.json": {
        ("value", "SearchParameter.id"),
    },
}


@pytest.fixture(scope="module")
def official_examples() -> list[tuple[str, dict]]:
    found = package_dir()
    if found is None:
        pytest.skip("the official R4 package hl7.fhir.r4.examples@4.0.1 cannot be fetched (no npm or no registry)")
    return list(_examples(found))


def _examples(pkg: Path):
    resource_types = structures().resource_types
    for path in sorted(pkg.glob("*-*.json")):
        resource_type = path.name.split("-", 1)[0]
        if resource_type not in resource_types:
            continue
        resource = orjson.loads(path.read_bytes())
        if resource.get("resourceType") == resource_type:
            yield path.name, resource


def test_there_are_examples_of_most_resource_types(official_examples: list[tuple[str, dict]]) -> None:
    types = {resource["resourceType"] for _, resource in official_examples}
    assert len(official_examples) > 2800
    assert len(types) >= 140
    bundle_entries = sum(len(r.get("entry", ())) for _, r in official_examples if r["resourceType"] == "Bundle")
    assert bundle_entries > 5000


def test_every_official_example_is_structurally_valid(official_examples: list[tuple[str, dict]]) -> None:
    failures = {}
    for name, resource in official_examples:
        issues = resource_issues(resource)
        if issues:
            failures[name] = {(issue.code, _INDEX.sub("", issue.expression[0])) for issue in issues}
    assert failures == KNOWN_INVALID

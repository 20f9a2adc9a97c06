"""Structural validation of R4 resources in their JSON form.

``validate_resource(resource)`` raises :class:`fhir_server.errors.FhirError` (400) listing every
issue found (up to :data:`~fhir_server.validation.issues.MAX_ISSUES`), checking the element
tables generated from the official StructureDefinitions: element names, cardinality, JSON
arrays, choice types, primitive formats (http://hl7.org/fhir/R4/datatypes.html), primitive
extensions, empty / null values (http://hl7.org/fhir/R4/json.html), extensions (ext-1),
contained / Bundle / Parameters resources, and required bindings to enumerable value sets.

FHIRPath invariants (``ElementDefinition.constraint``) other than ext-1 and dom-2 are not checked.
"""

from __future__ import annotations

from typing import Any

from fhir_server.errors import Issue, invalid_resource
from fhir_server.validation.issues import MAX_ISSUES, TooManyIssues
from fhir_server.validation.structure import Links, check_resource, load

__all__ = ["MAX_ISSUES", "Links", "load", "resource_issues", "validate_resource"]


def resource_issues(resource: Any, links: Links | None = None) -> list[Issue]:
    """Every structural issue of ``resource`` (at most ``MAX_ISSUES``); empty when it is valid.

    ``links``, when given, receives the place of every element that may link to another Bundle
    entry (``Reference.reference``, uri, url, canonical, oid, uuid, the narrative): ``(object,
    key)`` or ``(array, index)``, for :meth:`~fhir_server.interactions.references.ReferenceRewriter.rewrite_links`."""
    issues: list[Issue] = []
    load()
    try:
        check_resource(resource, None, issues, False, links)
    except TooManyIssues:
        pass
    except RecursionError:
        too_deep = "The resource is nested too deeply to be validated."
        issues.append(Issue("structure", too_deep, expression=("resourceType",)))
    return issues


def validate_resource(resource: Any, links: Links | None = None) -> None:
    """Raise a 400 :class:`~fhir_server.errors.FhirError` listing all issues unless ``resource`` is
    valid R4; ``links`` as for :func:`resource_issues`."""
    issues = resource_issues(resource, links)
    if issues:
        raise invalid_resource(issues)

"""Rewriting the references inside a Bundle's resources (http://hl7.org/fhir/R4/http.html#trules).

A transaction's entries name each other by ``fullUrl`` (``urn:uuid:``, ``urn:oid:`` or an absolute
URL); the server assigns the real ids and "SHALL replace all matching links in the bundle, whether
they are found in the resource ids, resource references, elements of type uri, url, oid, uuid, and
``<a href="">`` & ``<img src="">`` in the narrative". :class:`ReferenceRewriter` applies these
rules: a ``reference`` becomes the relative ``Type/id``; another link (uri, url, narrative link)
equal to a fullUrl becomes the absolute URL of the resource on this server. Relative references
resolve against the fullUrl of the resource they are in
(http://hl7.org/fhir/R4/bundle.html#references). The places come from the walk that validates a
resource to create or update (:meth:`~ReferenceRewriter.rewrite_links`: exactly the elements of
those types, contained resources and extensions included); a patch document, which is not
validated as a resource, is walked whole (:meth:`~ReferenceRewriter.rewrite`: every string).

Conditional references (``Patient?identifier=s|v``, http://hl7.org/fhir/R4/http.html#trules) are
collected by the walk and resolved afterwards by one search each: exactly one match, else 412.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl

from fhir_server import errors
from fhir_server.context import RequestContext
from fhir_server.interactions.backend import Backend
from fhir_server.interactions.search import find_matches
from fhir_server.spec.resource_types import is_resource_type

_URNS = ("urn:uuid:", "urn:oid:")
_NARRATIVE_LINK = re.compile(r'((?:href|src)\s*=\s*")([^"]+)(")')
_RESTFUL = re.compile(r"^(?P<base>https?://.+?)/(?P<type>[A-Z][A-Za-z]+)/(?P<id>[A-Za-z0-9\-.]{1,64})$")


def restful_base(full_url: str | None) -> str | None:
    """The service base of an absolute RESTful ``fullUrl`` (``http://x/fhir/Patient/1`` → ``http://x/fhir``)."""
    found = _RESTFUL.match(full_url or "")
    return found.group("base") if found else None


class ReferenceRewriter:
    """Rewrites links to bundle entries in place; collects conditional references for :meth:`resolve`.

    ``targets`` maps each fullUrl to the ``Type/id`` the server gave it. ``strict`` makes a
    ``urn:uuid:``/``urn:oid:`` reference that names no entry a 400 (its diagnostics end with ``hint``).
    """

    def __init__(self, targets: dict[str, str], server_base: str, *, strict: bool = True, hint: str = "") -> None:
        self.targets = targets
        self.server_base = server_base
        self.strict = strict
        self.hint = hint
        self.relative = any(not key.startswith(_URNS) for key in targets)
        self.pending: list[tuple[Any, Any, str]] = []
        self.resolved: dict[str, str] = {}
        self._base = server_base

    def rewrite(self, resource: Any, full_url: str | None = None) -> None:
        """Rewrite every link in ``resource`` (in place); ``full_url`` is the entry's own fullUrl."""
        self._base = restful_base(full_url) or self.server_base
        if type(resource) is dict:
            self._dict(resource)

    def rewrite_links(self, links: list[tuple[Any, Any]], full_url: str | None = None) -> None:
        """Rewrite the links at the places validation found (``validate_resource(resource, links)``:
        ``(object, key)`` or ``(array, index)``), by the rules of :meth:`rewrite`; ``full_url`` is
        the entry's own fullUrl. Only the elements that can hold a link are looked at, where
        :meth:`rewrite` looks at every string."""
        self._base = restful_base(full_url) or self.server_base
        for holder, key in links:
            value = holder[key]
            if type(value) is str:
                self._string(holder, key, value)

    def _string(self, holder: Any, key: Any, value: str) -> None:
        """The rules for one string, ``holder[key]`` (an array's item by its position): a
        ``reference``, another link equal to a fullUrl, the narrative."""
        if key == "reference":
            self._reference(holder, key, value)
        elif value in self.targets:
            holder[key] = self._absolute(self.targets[value])
        elif key == "div" and self.targets:
            holder[key] = _NARRATIVE_LINK.sub(self._narrative_link, value)

    def _dict(self, node: dict[str, Any]) -> None:
        for key, value in node.items():
            kind = type(value)
            if kind is str:
                self._string(node, key, value)
            elif kind is dict:
                self._dict(value)
            elif kind is list:
                self._list(value)

    def _list(self, node: list[Any]) -> None:
        for position, item in enumerate(node):
            kind = type(item)
            if kind is dict:
                self._dict(item)
            elif kind is str:
                self._string(node, position, item)
            elif kind is list:
                self._list(item)

    def _reference(self, node: dict[str, Any], key: str, value: str) -> None:
        found = self.targets.get(value)
        if found is not None:
            node[key] = found
        elif value.startswith(_URNS):
            if self.strict:
                raise errors.bad_request(f"The reference {value!r} does not match the fullUrl of any entry in the Bundle{self.hint}")
        elif "?" in value and not value.startswith("#"):
            self.pending.append((node, key, value))
        elif self.relative and "://" not in value and not value.startswith("#"):
            found = self.targets.get(f"{self._base}/{value}")
            if found is not None:
                node[key] = found

    def _absolute(self, target: str) -> str:
        return f"{self.server_base}/{target}"

    def _narrative_link(self, match: re.Match[str]) -> str:
        found = self.targets.get(match.group(2))
        return match.group(0) if found is None else f"{match.group(1)}{self._absolute(found)}{match.group(3)}"

    async def resolve(self, backend: Backend, ctx: RequestContext) -> None:
        """Resolve the conditional references collected so far: each to its single match."""
        pending, self.pending = self.pending, []
        for node, key, value in pending:
            if value not in self.resolved:
                self.resolved[value] = await resolve_conditional(backend, ctx, value)
            node[key] = self.resolved[value]


async def resolve_conditional(backend: Backend, ctx: RequestContext, reference: str) -> str:
    """``Type?criteria`` → ``Type/id`` of its only match; no match or several is 412, nonsense 400."""
    resource_type, _, query = reference.partition("?")
    if not is_resource_type(resource_type):
        raise errors.bad_request(f"The conditional reference {reference!r} does not start with a resource type")
    criteria = parse_qsl(query, keep_blank_values=True)
    if not criteria:
        raise errors.bad_request(f"The conditional reference {reference!r} has no search criteria")
    matches = await find_matches(backend, ctx, resource_type, criteria, 2)
    if len(matches) != 1:
        count = "no resource" if not matches else "more than one resource"
        raise errors.precondition_failed(f"The conditional reference {reference!r} matches {count}; it must match exactly one")
    return f"{resource_type}/{matches[0].id}"

"""The spec's element tables, compiled into the rows the walker reads in its hot loop.

Each row is one tuple ``(mode, is_array, choice_base, check, valueset, table)`` so the walker
unpacks it in a single step; ``mode`` says which branch handles the value:
``STRING`` (string / markdown: any non-empty JSON string, no call needed), ``TOKEN``
(code: a printable string without spaces is valid with no call, anything else goes to ``check``), ``PRIMITIVE`` (``check`` from :mod:`~fhir_server.validation.primitives`),
``LINK`` (a primitive that may hold a link to another Bundle entry, see below; ``check`` as
``PRIMITIVE``), ``COMPLEX`` (``table`` is the nested :class:`Compiled`) or ``RESOURCE``. Modes up
to ``PRIMITIVE`` are the primitive types.

The ``LINK`` elements are those a transaction rewrites when they name another entry's fullUrl
(http://hl7.org/fhir/R4/http.html#trules): ``Reference.reference``, the elements of type uri,
url, canonical, oid and uuid, and the narrative's xhtml. The walker hands their places to the
caller that asks for them (:func:`~fhir_server.validation.resource_links`), so a Bundle's
references are found by the walk that validates it, not by a second walk.
"""

from __future__ import annotations

from fhir_server.spec.structures import COMPLEX as SPEC_COMPLEX
from fhir_server.spec.structures import PRIMITIVE as SPEC_PRIMITIVE
from fhir_server.spec.structures import Table, structures
from fhir_server.validation.primitives import CHECKERS

STRING = 0
TOKEN = 1
LINK = 2
PRIMITIVE = 3
COMPLEX = 4
RESOURCE = 5

_PLAIN_STRINGS = frozenset({"string", "markdown"})  # xhtml is a LINK (the narrative)
_TOKENS = frozenset({"code"})  # valid when printable and without spaces
_LINKS = frozenset({"uri", "url", "canonical", "oid", "uuid", "xhtml"})


class Compiled:
    """One element table in walker form."""

    __slots__ = ("name", "rows", "required", "required_choices", "is_resource", "is_extension")

    def __init__(self, table: Table) -> None:
        self.name = table.name
        self.rows: dict[str, tuple] = {}
        self.required = table.required
        self.required_choices = table.required_choices
        self.is_resource = table.is_resource
        self.is_extension = table.is_extension


def compile_tables() -> dict[str, Compiled]:
    """Compiled tables for every spec table, keyed like the spec's."""
    spec = structures().tables
    compiled = {name: Compiled(table) for name, table in spec.items()}
    for name, table in spec.items():
        rows = compiled[name].rows
        for key, el in table.elements.items():
            if el.kind == SPEC_PRIMITIVE:
                if el.type in _LINKS or (name == "Reference" and key == "reference"):
                    mode = LINK
                elif el.type in _PLAIN_STRINGS and el.valueset is None:
                    mode = STRING
                else:
                    mode = TOKEN if el.type in _TOKENS else PRIMITIVE
                rows[key] = (mode, el.is_array, el.choice_base, CHECKERS[el.type], el.valueset, None)
            elif el.kind == SPEC_COMPLEX:
                rows[key] = (COMPLEX, el.is_array, el.choice_base, None, el.valueset, compiled[el.type])
            else:
                rows[key] = (RESOURCE, el.is_array, el.choice_base, None, None, None)
    return compiled

"""The typed result of parsing a search query (http://hl7.org/fhir/R4/search.html).

A :class:`ParsedSearch` is a conjunction: every :class:`Clause`, :class:`Chain` and :class:`Has`
must hold (repeated parameters = AND); the ``values`` of one clause are alternatives (comma = OR).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Union

from fhir_server.spec.search_parameters import SearchParam


@dataclass(frozen=True)
class StringValue:
    text: str


@dataclass(frozen=True)
class TokenValue:
    """``code`` (system None, has_system False), ``|code`` (system None, has_system True),
    ``system|code``, ``system|`` (code None)."""

    system: str | None
    code: str | None
    has_system: bool = False


@dataclass(frozen=True)
class OfTypeValue:
    """``:of-type`` value ``type-system|type-code|identifier-value``."""

    type_system: str
    type_code: str
    value: str


@dataclass(frozen=True)
class ReferenceValue:
    """``id``, ``Type/id``, an absolute URL, or a canonical ``url|version``.

    ``type``/``id`` are set for local references; ``url`` (and ``version``) for absolute ones.
    """

    type: str | None = None
    id: str | None = None
    url: str | None = None
    version: str | None = None


@dataclass(frozen=True)
class DateValue:
    prefix: str
    lo: datetime
    hi: datetime
    text: str


@dataclass(frozen=True)
class NumberValue:
    prefix: str
    value: Decimal
    lo: float  # implicit precision range [lo, hi)
    hi: float


@dataclass(frozen=True)
class QuantityValue:
    prefix: str
    value: Decimal
    lo: float
    hi: float
    system: str | None = None
    code: str | None = None  # with system: Quantity.code; without: code or unit


@dataclass(frozen=True)
class UriValue:
    uri: str


@dataclass(frozen=True)
class NearValue:
    """``near=lat|long|distance|unit`` with the distance converted to kilometres."""

    lat: float
    lon: float
    distance_km: float


@dataclass(frozen=True)
class CompositeValue:
    parts: tuple["Value", ...]  # one typed value per component, in component order


Value = Union[
    StringValue, TokenValue, OfTypeValue, ReferenceValue, DateValue, NumberValue, QuantityValue,
    UriValue, NearValue, CompositeValue,
]  # fmt: skip


@dataclass(frozen=True)
class Clause:
    """One parameter occurrence: ``values`` are ORed. ``missing`` set for ``:missing``.

    ``modifier`` is the modifier as written (``exact``, ``not``, ``Patient``...); for reference
    parameters a resource-type modifier is also put in ``target_type``. ``stored_as``: the
    parameters whose index entries answer this one when it is not stored itself (Observation's
    ``combo-code``: ``code`` and ``component-code``); empty when it is.
    """

    param: SearchParam
    modifier: str | None = None
    values: tuple[Value, ...] = ()
    missing: bool | None = None
    target_type: str | None = None
    stored_as: tuple[str, ...] = ()

    @property
    def code(self) -> str:
        return self.param.code


@dataclass
class Chain:
    """``param[:Type].<inner>``: resources whose reference ``param`` points at a resource of one of
    the keys of ``inner`` that matches that inner search."""

    param: SearchParam
    inner: dict[str, "ParsedSearch"]


@dataclass
class Has:
    """``_has:<source_type>:<ref_param>:<inner>`` (reverse chain)."""

    source_type: str
    ref_param: SearchParam
    inner: "ParsedSearch"


@dataclass(frozen=True)
class SortKey:
    code: str
    descending: bool = False
    param: SearchParam | None = None


@dataclass(frozen=True)
class Include:
    """``_include`` / ``_revinclude`` = ``source_type:param[:target_type]`` (``*`` = every reference
    parameter); ``iterate`` for ``:iterate`` (or R3's ``:recurse``)."""

    source_type: str
    param: str
    target_type: str | None = None
    iterate: bool = False
    reverse: bool = False


@dataclass
class ParsedSearch:
    resource_type: str | None
    clauses: list[Clause] = field(default_factory=list)
    chains: list[Chain] = field(default_factory=list)
    has: list[Has] = field(default_factory=list)
    count: int | None = None
    sort: list[SortKey] = field(default_factory=list)
    include: list[Include] = field(default_factory=list)
    revinclude: list[Include] = field(default_factory=list)
    summary: str | None = None
    elements: list[str] = field(default_factory=list)
    total: str | None = None
    contained: str | None = None
    contained_type: str | None = None
    types: list[str] = field(default_factory=list)
    ignored: list[tuple[str, str]] = field(default_factory=list)
    other: dict[str, str] = field(default_factory=dict)  # _format, _pretty: for the API layer
    per_type: dict[str, "ParsedSearch"] = field(default_factory=dict)  # system search with _type: criteria per type

"""Extraction plans: every search parameter of a resource type, compiled into one shared program.

:func:`fhir_server.search.index.extract_index` must evaluate ~40 FHIRPath expressions per
resource (http://hl7.org/fhir/R4/search.html); many share their paths. On Observation the eight
composite parameters each select ``code`` and ``value[x]`` again, ``value-quantity``,
``combo-value-quantity`` and ``code-value-quantity`` convert the same ``valueQuantity``. A
:class:`TypePlan` removes that repetition without changing a single entry:

* every path (as the step keys of :func:`~fhir_server.search.fhirpath.compile_part`) becomes a
  *slot* of one prefix tree, so each prefix (``value``, ``value.as(Quantity)``...) is walked once
  per resource, parents before children, and choice elements are looked up once per dict;
* components of composites are paths of the same tree: on the resource itself they read the
  slots already evaluated, on other elements (``Observation.component``) they are evaluated
  lazily, once per element and path;
* a conversion (node → entry bodies) used by several parameters or components is computed once
  and copied (with its ``p``) for each; one used once is filled in place, as before.

:mod:`fhir_server.search.index_codegen` turns a plan into one Python function; :class:`Run`
holds what that function delegates: shared conversions, composites, paths below elements. The
result equals :func:`fhir_server.search.index.extract_index_plain`, the straightforward extractor
(one compiled chain per parameter), in values and order: tests compare the two on all official
examples.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

from fhir_server.search import index_values as iv
from fhir_server.search.fhirpath import (
    AGGREGATES, Node, StepKey, as_types, compile_part, fhirpathpy_extractor, is_choice_element, make_step,
)
from fhir_server.search.normalize import DT_MIN, NUM_MAX, NUM_MIN
from fhir_server.spec.search_parameters import SearchParam, split_union
from fhir_server.spec.structures import structures

Convert = Callable[[Node], list[dict]]
_EMPTY: list[Node] = []  # shared, never mutated
SKIPPED_FOR_SORT = (NUM_MIN, NUM_MAX, DT_MIN)


def _reference_bodies(node: Node) -> list[dict]:
    return iv.reference_entries(node)[0]


CONVERTERS: dict[str, Convert] = {
    "string": iv.string_entries,
    "token": iv.token_entries,
    "date": iv.date_entries,
    "number": iv.number_entries,
    "quantity": iv.quantity_entries,
    "uri": iv.uri_entries,
    "reference": _reference_bodies,
}
FIELD_OF_TYPE = {
    "string": "_str", "token": "_tok", "reference": "_ref", "date": "_dt", "number": "_num",
    "quantity": "_qty", "uri": "_uri", "composite": "_cmp", "special": "_geo",
}  # fmt: skip
SORT_KEY = {"string": "v", "token": "c", "date": "lo", "number": "lo", "quantity": "lo", "uri": "v", "reference": "r"}


def converter_of(param: SearchParam) -> Convert | None:
    """The node → entry bodies function of a (non-composite) parameter."""
    return iv.phonetic_entries if param.url in iv.PHONETIC_URLS else CONVERTERS.get(param.type)


# -- the prefix tree ---------------------------------------------------------------------------------
FIELD, AS, OTHER = range(3)
"""Step kinds: the generated code does ``FIELD`` and ``AS`` steps on a single node in line."""


class _Tree:
    """Unique paths (tuples of step keys) → slots; a slot's parent always has a smaller number."""

    def __init__(self) -> None:
        self.slots: dict[tuple, int] = {(): 0}
        self.parent: list[int] = [0]
        self.keys: list[StepKey | None] = [None]

    def add(self, keys: tuple) -> int:
        slot = self.slots.get(keys)
        if slot is None:
            parent = self.add(keys[:-1])
            slot = self.slots[keys] = len(self.parent)
            self.parent.append(parent)
            self.keys.append(keys[-1])
        return slot

    def add_part(self, part: str, relative: bool, resource_type: str | None) -> int:
        """The slot of one union member; one fhirpathpy cannot compile hangs off the root."""
        keys = compile_part(part, resource_type)
        return self.add(keys if keys is not None else (("fhirpathpy", part, relative),))

    def add_expression(self, expression: str, resource_type: str | None) -> tuple[int, ...]:
        return tuple(self.add_part(part, resource_type is None, resource_type) for part in split_union(expression))

    def depth_first(self) -> list[int]:
        """The slots in depth-first order (each subtree contiguous, after its root)."""
        children: list[list[int]] = [[] for _ in self.parent]
        for slot in range(1, len(self.parent)):
            children[self.parent[slot]].append(slot)
        order, stack = [], [0]
        while stack:
            slot = stack.pop()
            order.append(slot)
            stack.extend(reversed(children[slot]))
        return order


class _Slot:
    """One slot of a plan (numbered depth first): its parent slot and its step."""

    __slots__ = ("parent", "key", "kind", "name", "arg", "step", "aggregate")

    def __init__(self, parent: int, key: StepKey) -> None:
        self.parent = parent
        self.key = key
        self.aggregate = key in AGGREGATES
        self.step = _fhirpathpy_step(key) if key[0] == "fhirpathpy" else make_step(key)
        self.kind, self.name, self.arg = OTHER, None, None
        if key[0] == "field":
            self.kind, self.name, self.arg = FIELD, key[1], is_choice_element(key[1])
        elif key[0] == "as":
            self.kind, self.name, self.arg = AS, key[1], as_types(key[1])


def _fhirpathpy_step(key: StepKey) -> Callable[[list[Node]], list[Node]]:
    extract = fhirpathpy_extractor(key[1], key[2])
    return lambda nodes: [n for node in nodes for n in extract(node[0])]


# -- what each parameter reads -------------------------------------------------------------------
class _Component:
    """One component of a composite; equal ones (same type and paths) are one object per plan."""

    __slots__ = ("number", "convert", "token", "parts", "memo")

    def __init__(self, number: int, kind: str, parts: tuple[int, ...]) -> None:
        self.number = number
        self.convert = CONVERTERS.get(kind)
        self.token = kind == "token"  # a text-only CodeableConcept cannot match a component's system|code
        self.parts = parts
        self.memo: tuple[int | None, ...] = ()


OWN, PLAIN, REFERENCE, COMPOSITE, SPECIAL = range(5)
"""How a parameter is extracted: ``OWN`` is a plain parameter of one path whose conversion no
other parameter shares (converted in line, ``p`` set in place); ``PLAIN`` ones go through
:meth:`Run.plain`, composites through :meth:`Run.composites`."""


class _Param:
    __slots__ = ("code", "kind", "mode", "single", "field", "sort_key", "parts", "convert", "memo", "own",
                 "components", "keys")

    def __init__(self, param: SearchParam, kind: str, parts: tuple[int, ...]) -> None:
        self.code = param.code
        self.kind = kind  # "plain" | "reference" | "composite" | "special"
        self.field = FIELD_OF_TYPE[param.type]
        self.sort_key = SORT_KEY.get(param.type)
        self.parts = parts
        self.single = parts[0] if len(parts) == 1 else -1  # the one slot, else -1
        self.mode = {"reference": REFERENCE, "composite": COMPOSITE, "special": SPECIAL}.get(kind, PLAIN)
        self.convert = converter_of(param)
        self.memo: tuple[int | None, ...] = ()  # per part: the shared conversion's number, or None
        self.own: tuple[bool, ...] = ()  # per part: converted for this parameter alone (filled in place)
        self.components: list[_Component] = []
        self.keys: tuple[str, ...] = ()  # "c0", "c1"...


class TypePlan:
    """The compiled extraction of one resource type's indexed parameters (in registry order)."""

    def __init__(self, resource_type: str, params: list[SearchParam]) -> None:
        self.resource_type = resource_type
        tree = _Tree()
        self.params: list[_Param] = []
        components: dict[tuple, _Component] = {}
        for param in params:
            base = param.base if param.base not in ("Resource", "DomainResource") else "Resource"
            parts = tree.add_expression(param.expression or "", base)
            kind = {"reference": "reference", "composite": "composite", "special": "special"}.get(param.type, "plain")
            compiled = _Param(param, kind, parts)
            for comp in param.component:
                comp_parts = tree.add_expression(comp.expression, None)
                key = (comp.type, comp_parts)
                if key not in components:
                    components[key] = _Component(len(components), comp.type, comp_parts)
                compiled.components.append(components[key])
            compiled.keys = tuple(f"c{i}" for i in range(len(compiled.components)))
            self.params.append(compiled)
        official = {param.code for param in params if not param.custom}
        self.derived = derived_params(self.params, official)
        """Parameters not extracted: code → the codes whose entries are its entries."""
        self.derived_sort = tuple((code, members) for code, members in self.derived.items()
                                  if next(p for p in self.params if p.code == code).sort_key)
        self.params = [param for param in self.params if param.code not in self.derived]
        self.components = list(components.values())
        self._number_depth_first(tree)
        self._share_conversions()

    def _number_depth_first(self, tree: _Tree) -> None:
        """Renumber the slots depth first (each subtree after its root), as the generated code reads them."""
        order = tree.depth_first()
        new = {old: i for i, old in enumerate(order)}
        slots: list[_Slot | None] = [None]
        for old in order[1:]:
            slots.append(_Slot(new[tree.parent[old]], tree.keys[old]))  # type: ignore[arg-type]
        for param in self.params:
            param.parts = tuple(new[s] for s in param.parts)
            param.single = param.parts[0] if len(param.parts) == 1 else -1
        for comp in self.components:
            comp.parts = tuple(new[s] for s in comp.parts)
        self.slots = slots
        self._resolve_choices()
        self.parent = tuple(0 if s is None else s.parent for s in slots)
        self.step = tuple(None if s is None else s.step for s in slots)
        self.aggregate = tuple(False if s is None else s.aggregate for s in slots)

    def _resolve_choices(self) -> None:
        """Where the type of a field's holder is known from the R4 element tables (field steps
        from the resource through complex elements, ``as(Type)``), its field is a choice there or
        not: ``Meta.source`` is a uri, so an absent ``source`` is absent, and its ``source[x]``
        variants (a choice in other types) are not looked for. Elsewhere a field is taken as a
        choice when it is one anywhere in R4 (:func:`~fhir_server.search.fhirpath.is_choice_element`)."""
        tables = structures().tables
        types: list[str | None] = [self.resource_type] + [None] * (len(self.slots) - 1)
        for number in range(1, len(self.slots)):  # a parent's number is smaller than its children's
            slot = self.slots[number]
            holder = tables.get(types[slot.parent] or "")  # type: ignore[union-attr]
            if holder is None:
                continue
            if slot.kind == FIELD:  # type: ignore[union-attr]
                if slot.name not in holder.choices:  # type: ignore[union-attr]
                    slot.arg = False  # type: ignore[union-attr]
                    element = holder.elements.get(slot.name)  # type: ignore[union-attr, arg-type]
                    types[number] = element.type if element is not None and element.table is not None else None
            elif slot.kind == AS and slot.name in tables:  # type: ignore[union-attr]
                types[number] = slot.name  # type: ignore[union-attr]

    def _share_conversions(self) -> None:
        """Number the (converter, slot) pairs read by more than one parameter or root component."""
        uses: dict[tuple[Any, int], int] = {}
        for param in self.params:
            if param.kind == "plain":
                for slot in param.parts:
                    uses[(param.convert, slot)] = uses.get((param.convert, slot), 0) + 1
            elif param.kind == "composite" and 0 in param.parts:
                for comp in param.components:
                    if comp.convert is not None:
                        for slot in comp.parts:
                            uses[(comp.convert, slot)] = uses.get((comp.convert, slot), 0) + 1
        numbers: dict[tuple[Any, int], int] = {}
        for pair, count in uses.items():
            if count > 1:
                numbers[pair] = len(numbers)
        self.shared = len(numbers)
        for param in self.params:
            if param.kind == "plain":
                param.memo = tuple(numbers.get((param.convert, slot)) for slot in param.parts)
                param.own = tuple(number is None for number in param.memo)
                if param.single >= 0 and param.own[0]:
                    param.mode = OWN
        for comp in self.components:
            comp.memo = tuple(numbers.get((comp.convert, slot)) for slot in comp.parts)


def derived_params(params: list[_Param], official: set[str]) -> dict[str, tuple[str, ...]]:
    """The parameters whose entries would be exactly the entries of other parameters of the type,
    ``p`` aside: code → those parameters' codes (in registry order).

    R4 defines such unions: Observation's ``combo-code`` is ``Observation.code |
    Observation.component.code``, the paths of ``code`` and ``component-code``;
    ``combo-code-value-quantity`` is ``code-value-quantity`` on the resource and
    ``component-code-value-quantity`` on each component. Their entries are not stored (a third of
    an Observation's): a search on one matches the entries of its members (``p`` in the members'
    codes, :mod:`fhir_server.search.translate`), which is the same set of resources; its sort
    values are the smallest and largest of its members' (:func:`derived_sort_values`).

    A parameter is derived when it reads two or more slots and the parameters of the same kind,
    index field, conversion and components that read only some of its slots (each fewer than it
    does, themselves stored) together read all of them. Only official R4 parameters take part:
    a custom SearchParameter never changes what is stored for another parameter (documents
    written before it would lack entries until ``$reindex``).
    """
    derived: dict[str, tuple[str, ...]] = {}
    stored: list[_Param] = []
    for param in sorted(params, key=lambda p: len(p.parts)):  # stable: registry order within a size
        if param.code in official and param.kind in ("plain", "composite") and len(param.parts) > 1:
            slots = set(param.parts)
            members = [
                q for q in stored
                if q.code in official and q.kind == param.kind and q.field == param.field and q.convert is param.convert
                and q.components == param.components and len(q.parts) < len(slots) and slots.issuperset(q.parts)
            ]
            if members and slots == {slot for q in members for slot in q.parts}:
                order = {q.code: n for n, q in enumerate(params)}
                derived[param.code] = tuple(sorted((q.code for q in members), key=order.__getitem__))
                continue
        stored.append(param)
    return derived


def derived_sort_values(derived: tuple[tuple[str, tuple[str, ...]], ...], low: dict[str, Any], high: dict[str, Any]) -> None:
    """The sort values of derived parameters (:func:`derived_params`): the smallest of their
    members' smallest values, the largest of their largest (what :func:`sort_values` gives on
    the union of the members' entries)."""
    for code, members in derived:
        lows = [low[m] for m in members if m in low]
        if lows:
            low[code] = min(lows)
            high[code] = max(high[m] for m in members if m in high)


def _concat(vals: list[list[Node]], parts: tuple[int, ...]) -> list[Node]:
    out: list[Node] = []
    for slot in parts:
        out.extend(vals[slot])
    return out


class Run:
    """The state of one extraction: slot values and shared conversions."""

    __slots__ = ("plan", "resource", "vals", "converted", "root", "relative")

    def __init__(self, plan: TypePlan, resource: dict, vals: list[list[Node]]) -> None:
        self.plan = plan
        self.resource = resource
        self.vals = vals
        self.converted: list[list[dict] | None] = [None] * plan.shared
        self.root: list[list[dict] | None] = [None] * len(plan.components)  # component values on the resource
        self.relative: dict[tuple[int, int], Any] = {}  # (id(element), slot or -1 - component) → nodes/values

    def _bodies(self, convert: Convert, slot: int, number: int | None) -> list[dict]:
        """Pristine (shared) bodies of one slot's nodes; callers copy before adding ``p``."""
        if number is not None:
            done = self.converted[number]
            if done is not None:
                return done
        bodies = [body for node in self.vals[slot] for body in convert(node)]
        if number is not None:
            self.converted[number] = bodies
        return bodies

    def plain(self, param: _Param) -> list[dict]:
        code, convert, vals = param.code, param.convert, self.vals
        entries: list[dict] = []
        for slot, number, own in zip(param.parts, param.memo, param.own):
            if not vals[slot]:
                continue
            if own:
                for node in vals[slot]:
                    for body in convert(node):  # type: ignore[misc]
                        body["p"] = code
                        entries.append(body)
            else:
                for body in self._bodies(convert, slot, number):  # type: ignore[arg-type]
                    entries.append({**body, "p": code})
        return entries

    # -- composites ------------------------------------------------------------------------------
    def composites(self, param: _Param, nodes: list[Node] | None = None) -> list[dict]:
        """The entries of a composite for its ``nodes`` (by default, all it selects)."""
        entries: list[dict] = []
        resource, keys, code = self.resource, param.keys, param.code
        for node in _concat(self.vals, param.parts) if nodes is None else nodes:
            value = node[0]
            per_component = []
            for comp in param.components:
                values = self.root_values(comp) if value is resource else self._element_values(comp, value)
                if not values:
                    break
                per_component.append(values)
            else:
                if all(len(values) == 1 for values in per_component):
                    entry: dict[str, Any] = {"p": code}
                    for key, values in zip(keys, per_component):
                        entry[key] = values[0]
                    entries.append(entry)
                    continue
                entries.extend(combinations(code, keys, per_component))
        return entries

    def root_values(self, comp: _Component) -> list[dict]:
        """The values of a component on the resource itself (once per extraction)."""
        values = self.root[comp.number]
        if values is not None:
            return values
        convert = comp.convert
        values = []
        if convert is not None:
            for slot, number in zip(comp.parts, comp.memo):
                if self.vals[slot]:
                    values.extend(self._bodies(convert, slot, number))
            if comp.token:
                values = [v for v in values if v["c"] is not None]
        self.root[comp.number] = values
        return values

    def _element_values(self, comp: _Component, value: Any) -> list[dict]:
        key = (id(value), -1 - comp.number)
        found = self.relative.get(key)
        if found is None:
            convert = comp.convert
            found = []
            if convert is not None:
                for slot in comp.parts:
                    for node in self._element_nodes(value, slot):
                        found.extend(convert(node))
                if comp.token:
                    found = [v for v in found if v["c"] is not None]
            self.relative[key] = found
        return found

    def _element_nodes(self, value: Any, slot: int) -> list[Node]:
        """The nodes of path ``slot`` evaluated from ``value`` (an element of the resource)."""
        if slot == 0:
            return [(value, None)]
        key = (id(value), slot)
        found = self.relative.get(key)
        if found is None:
            plan = self.plan
            nodes = self._element_nodes(value, plan.parent[slot])
            found = plan.step[slot](nodes) if nodes or plan.aggregate[slot] else _EMPTY  # type: ignore[misc]
            self.relative[key] = found
        return found


def combinations(code: str, keys: tuple[str, ...], per_component: list[list[dict]]) -> list[dict]:
    """A composite's entries for one element: every combination of its components' values."""
    labelled = [[(key, v) for v in values] for key, values in zip(keys, per_component)]
    entries = []
    for combo in itertools.product(*labelled):
        entry: dict[str, Any] = {"p": code}
        entry.update(combo)
        entries.append(entry)
    return entries


def reference_param_entries(code: str, nodes: list[Node], out: dict) -> list[dict]:
    """``_ref`` entries of a reference parameter; Reference.identifier goes to ``_tok`` at once."""
    entries = []
    for node in nodes:
        refs, toks = iv.reference_entries(node)
        for body in refs:
            body["p"] = code
            entries.append(body)
        for body in toks:
            body["p"] = code
            out.setdefault("_tok", []).append(body)
    return entries


def sort_values(code: str, key: str, entries: list[dict], low: dict[str, Any], high: dict[str, Any]) -> None:
    """The smallest and largest value of ``key`` among ``entries``: ``_sort=code`` orders by the
    smallest, ``_sort=-code`` by the largest (http://hl7.org/fhir/R4/search.html#sort).
    Infinite bounds of open ranges are skipped."""
    smallest = largest = None
    for e in entries:
        v = e.get(key)
        if v is None or (type(v) is not str and v in SKIPPED_FOR_SORT):
            continue
        if smallest is None or v < smallest:
            smallest = v
        if largest is None or v > largest:
            largest = v
    if smallest is not None:
        low[code] = smallest
        high[code] = largest

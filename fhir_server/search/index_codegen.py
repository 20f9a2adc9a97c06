"""A :class:`~fhir_server.search.index_plan.TypePlan` compiled to one Python function per type.

Interpreting a plan (a loop over slots that unpacks each slot's description and dispatches on
its kind, then the same over parameters) costs as much as the work itself on a resource where
most of the ~40 parameters of its type are absent. Generating the function's source instead
(once per type and registry version, like the plan) leaves only the work: one local variable per
slot, each field step a ``dict.get`` in line, an absent element's whole subtree skipped by one
``if``, each parameter a few straight lines with its code, converter and index field as
constants, and the composites on the resource itself as nested ``if``s over their components'
values (made once per extraction and shared by the composites that have them).

The generated function gives what the straightforward extractor gives, in the same order (the
tests compare both on every official example); parameters that share conversions and
composites go through the plan's :class:`~fhir_server.search.index_plan.Run`. A resource that is
not exactly a ``dict`` takes the straightforward extractor.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable
from types import CodeType
from typing import Any

from fhir_server.search import index_values as iv
from fhir_server.search.fhirpath import children
from fhir_server.search.index_plan import (
    AS, COMPOSITE, FIELD, OWN, PLAIN, REFERENCE, SKIPPED_FOR_SORT, Run, TypePlan, combinations,
    derived_sort_values, reference_param_entries, sort_values,
)

Extract = Callable[[dict], dict[str, Any]]
_EMPTY: list = []


def compile_plan(plan: TypePlan, fallback: Extract) -> Extract:
    """The plan as one generated function (its source is kept as ``extract.source``); a resource
    that is not exactly a ``dict`` goes to ``fallback``."""
    writer = _Writer(plan)
    source = writer.source()
    namespace: dict[str, Any] = {
        "E": _EMPTY, "NONES": itertools.repeat(None), "CHILDREN": children, "STEP": plan.step, "PLAN": plan,
        "PARAM": tuple(plan.params), "COMP": tuple(plan.components), "RUN": Run, "REF": reference_param_entries,
        "COMBINATIONS": combinations, "SORTV": sort_values, "SKIP": SKIPPED_FOR_SORT, "GEO": iv.geo_value,
        "DERIVED_SORT": derived_sort_values,
        "FALLBACK": fallback, "W": tuple(slot.arg if slot is not None and slot.kind == AS else None for slot in plan.slots),
    }
    for number, convert in enumerate(writer.converters):
        namespace[f"C{number}"] = convert
    exec(_compiled(source, plan.resource_type), namespace)  # noqa: S102
    extract = namespace["extract"]
    extract.source = source
    return extract


@functools.lru_cache(maxsize=512)
def _compiled(source: str, resource_type: str) -> CodeType:
    """``compile`` (the slow part, ~5 ms a type) once per distinct source: when a custom
    SearchParameter changes the registry, only the types whose code changed compile again."""
    return compile(source, f"<index extraction of {resource_type}>", "exec")


def _converters(plan: TypePlan) -> list[Any]:
    found: list[Any] = []
    for param in plan.params:
        if param.mode == OWN and param.convert not in found:
            found.append(param.convert)
    return found


class _Writer:
    """Writes the source of one plan's function."""

    def __init__(self, plan: TypePlan) -> None:
        self.plan = plan
        self.lines: list[str] = []
        self.children: list[list[int]] = [[] for _ in plan.slots]
        for number in range(1, len(plan.slots)):
            self.children[plan.slots[number].parent].append(number)  # type: ignore[union-attr]
        self.converters = _converters(plan)  # the generated code's C0, C1, ...
        self.converter = {id(c): n for n, c in enumerate(self.converters)}

    def source(self) -> str:
        w = self.write
        w(0, "def extract(resource):")
        w(1, "if type(resource) is not dict:")
        w(2, "return FALLBACK(resource)")
        w(1, "s0 = [(resource, None)]")
        self.block(0, 1, True)
        w(1, "run = None")
        w(1, "out = {}")
        w(1, "sort = {}")
        w(1, "sortd = {}")
        for number, param in enumerate(self.plan.params):
            self.param(number, param)
        w(1, "if sort:")
        for code, members in self.plan.derived_sort:
            self.derived_sort(code, members)
        w(2, "out['_sort'] = sort")
        w(2, "out['_sortd'] = sortd")
        w(1, "return out")
        return "\n".join(self.lines) + "\n"

    def write(self, depth: int, line: str) -> None:
        self.lines.append("    " * depth + line)

    # -- slots ---------------------------------------------------------------------------------
    def descendants(self, slot: int) -> list[int]:
        out = []
        for child in self.children[slot]:
            out.append(child)
            out.extend(self.descendants(child))
        return out

    def block(self, parent: int, depth: int, filled: bool) -> None:
        """Every slot below ``parent``; ``filled``: ``s<parent>`` is known not to be empty."""
        kids = self.children[parent]
        self.kids(parent, kids, depth, filled)
        for kid in kids:
            below = self.descendants(kid)
            if not below:
                continue
            if any(self.plan.slots[d].aggregate for d in below):  # type: ignore[union-attr]
                self.block(kid, depth, False)  # an aggregate runs on an empty input too: no skipping
                continue
            self.write(depth, f"if s{kid}:")
            self.block(kid, depth + 1, True)
            self.write(depth, "else:")
            self.write(depth + 1, " = ".join(f"s{d}" for d in below) + " = E")

    def kids(self, parent: int, kids: list[int], depth: int, filled: bool) -> None:
        """The values of the slots right below ``parent``: field and type-filter steps on a single
        node in line (``x``: the node's dict, ``t``: its type), anything else by its step."""
        w, slots = self.write, self.plan.slots
        for kid in kids:
            if slots[kid].aggregate:  # type: ignore[union-attr]
                w(depth, f"s{kid} = STEP[{kid}](s{parent})")
        rest = [k for k in kids if not slots[k].aggregate]  # type: ignore[union-attr]
        if not rest:
            return
        if not filled:
            w(depth, f"if not s{parent}:")
            w(depth + 1, " = ".join(f"s{k}" for k in rest) + " = E")
            w(depth, "else:")
            depth += 1
        fields = [k for k in rest if slots[k].kind == FIELD]  # type: ignore[union-attr]
        types = [k for k in rest if slots[k].kind == AS]  # type: ignore[union-attr]
        others = [k for k in rest if k not in fields and k not in types]
        if parent == 0:  # the resource: one node, a dict
            for kid in fields:
                self.field("resource", kid, depth)
            for kid in types + others:
                w(depth, f"s{kid} = STEP[{kid}](s0)")
            return
        w(depth, f"if len(s{parent}) == 1:")
        if fields:
            w(depth + 1, f"x = s{parent}[0][0]")
            w(depth + 1, "if type(x) is dict or isinstance(x, dict):")
            for kid in fields:
                self.field("x", kid, depth + 2)
            w(depth + 1, "else:")
            w(depth + 2, " = ".join(f"s{k}" for k in fields) + " = E")
        if types:
            w(depth + 1, f"t = s{parent}[0][1]")
            for kid in types:
                name = slots[kid].name  # type: ignore[union-attr]
                w(depth + 1, f"s{kid} = [(s{parent}[0][0], {name!r})] if t is None else (s{parent} if t in W[{kid}] else E)")
        for kid in others:
            w(depth + 1, f"s{kid} = STEP[{kid}](s{parent})")
        w(depth, "else:")
        for kid in rest:
            w(depth + 1, f"s{kid} = STEP[{kid}](s{parent})")

    def field(self, holder: str, number: int, depth: int) -> None:
        """``s<number>``: its field of the dict ``holder`` (the variants of a choice element)."""
        w = self.write
        slot = self.plan.slots[number]
        name = slot.name  # type: ignore[union-attr]
        w(depth, f"v = {holder}.get({name!r})")
        w(depth, "if v is not None:")
        w(depth + 1, f"s{number} = list(zip(v, NONES)) if isinstance(v, list) else [(v, None)]")
        w(depth, "else:")
        w(depth + 1, f"s{number} = CHILDREN({holder}, {name!r}, True)" if slot.arg else f"s{number} = E")  # type: ignore[union-attr]

    def run(self, depth: int) -> None:
        """``run``, the plan's :class:`Run` for this resource, made on first use."""
        self.write(depth, "if run is None:")
        self.write(depth + 1, "run = RUN(PLAN, resource, [" + ", ".join(f"s{i}" for i in range(len(self.plan.slots))) + "])")

    def composite_on_resource(self, number: int, param: Any, depth: int) -> None:
        """A composite's entries on the resource itself: each component's values (made once per
        extraction, shared by the composites that have it), then one entry per combination."""
        w = self.write
        names = [f"k{i}" for i in range(len(param.components))]
        for name, comp in zip(names, param.components):
            w(depth, f"{name} = run.root_values(COMP[{comp.number}])")
            w(depth, f"if {name}:")
            depth += 1
        if names:
            w(depth, "if " + " and ".join(f"len({name}) == 1" for name in names) + ":")
        members = "".join(f", {key!r}: {name}[0]" for key, name in zip(param.keys, names))
        w(depth + bool(names), f"entries.append({{'p': {param.code!r}{members}}})")
        if names:
            w(depth, "else:")
            w(depth + 1, f"entries.extend(COMBINATIONS({param.code!r}, PARAM[{number}].keys, [{', '.join(names)}]))")

    def derived_sort(self, code: str, members: tuple[str, ...]) -> None:
        """The sort values of a parameter not stored itself (``derived_sort_values``), in line for
        the usual two members: each present member's value, the smaller and the larger of two."""
        w = self.write
        if len(members) != 2:
            w(2, f"DERIVED_SORT((({code!r}, {members!r}),), sort, sortd)")
            return
        a, b = (repr(m) for m in members)
        w(2, f"if {a} in sort:")
        w(3, f"if {b} in sort:")
        w(4, f"sort[{code!r}] = min(sort[{a}], sort[{b}])")
        w(4, f"sortd[{code!r}] = max(sortd[{a}], sortd[{b}])")
        w(3, "else:")
        w(4, f"sort[{code!r}] = sort[{a}]")
        w(4, f"sortd[{code!r}] = sortd[{a}]")
        w(2, f"elif {b} in sort:")
        w(3, f"sort[{code!r}] = sort[{b}]")
        w(3, f"sortd[{code!r}] = sortd[{b}]")

    # -- parameters ----------------------------------------------------------------------------
    def param(self, number: int, param: Any) -> None:
        w = self.write
        parts = param.parts
        nodes = f"s{parts[0]}" if len(parts) == 1 else "(" + " + ".join(f"s{p}" for p in parts) + ")"
        w(1, f"# {param.code!r}")
        w(1, "if " + " or ".join(f"s{p}" for p in parts) + ":")
        code = repr(param.code)
        if param.mode == OWN:
            w(2, "entries = []")
            w(2, f"for node in s{parts[0]}:")
            w(3, f"for body in C{self.converter[id(param.convert)]}(node):")
            w(4, f"body['p'] = {code}")
            w(4, "entries.append(body)")
        elif param.mode == REFERENCE:
            w(2, f"entries = REF({code}, {nodes}, out)")
        elif param.mode == PLAIN:
            self.run(2)
            w(2, f"entries = run.plain(PARAM[{number}])")
        elif param.mode == COMPOSITE:
            self.run(2)
            w(2, "entries = []")
            for part in parts:
                if part == 0:
                    self.composite_on_resource(number, param, 2)
                else:
                    w(2, f"if s{part}:")
                    w(3, f"entries.extend(run.composites(PARAM[{number}], s{part}))")
        else:  # special: near (Location.position)
            w(2, f"geo = next((g for g in map(GEO, {nodes}) if g), None)")
            w(2, "if geo:")
            w(3, "out['_geo'] = geo")
            return
        w(2, "if entries:")
        field = repr(param.field)
        if param.field == "_str":
            w(3, "if len(entries) > 1:")
            w(4, "entries = list({(e['v'], e['x']): e for e in entries}.values())")
        w(3, f"f = out.get({field})")
        w(3, "if f is None:")
        w(4, f"out[{field}] = entries")
        w(3, "else:")
        w(4, "f.extend(entries)")
        if param.sort_key:
            key = repr(param.sort_key)
            w(3, "if len(entries) == 1:")
            w(4, f"v = entries[0].get({key})")
            w(4, "if v is not None and (type(v) is str or v not in SKIP):")
            w(5, f"sort[{code}] = sortd[{code}] = v")
            w(3, "else:")
            w(4, f"SORTV({code}, {key}, entries, sort, sortd)")

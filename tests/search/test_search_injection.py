"""No user input reaches a MongoDB key or an unescaped regex, and no query string makes anything
but a 400 (http://hl7.org/fhir/R4/search.html#errors): property tests over arbitrary queries.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from fhir_server.errors import FhirError
from fhir_server.search.parse import parse_search
from fhir_server.search.plan import translate
from fhir_server.search.translate import Context
from fhir_server.spec.search_parameters import params_for

FIELDS = {"_str", "_tok", "_ref", "_dt", "_num", "_qty", "_uri", "_cmp", "_geo", "_id", "ts", "_geo.lat", "_geo.lon"}
ENTRY_KEYS = {"p", "v", "x", "s", "c", "t", "ys", "yc", "r", "i", "cv", "lo", "hi"}
OPERATORS = {"$elemMatch", "$in", "$nin", "$or", "$and", "$nor", "$regex", "$gt", "$gte", "$lt", "$lte", "$exists"}
CONTEXT = Context(expand=lambda url: [("http://s", "c")], now=datetime(2024, 1, 1))
NAMES = sorted(params_for("Observation")) + ["subject:Patient.name", "_has:Observation:patient:code", "code:text",
                                              "value-quantity", "code-value-quantity", "date", "subject:identifier"]  # fmt: skip
NASTY = st.lists(st.sampled_from(list("ab$.|,\\:*()[]^{}?+ 1-9eE/") + ["$where", "$gt", ".*", "Patient/", "ge2020", "http://"]),
                 max_size=12).map("".join)


def keys_ok(node: Any, inside_entry: bool = False) -> list[str]:
    bad = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key in OPERATORS:
                bad += keys_ok(value, inside_entry or key == "$elemMatch")
            elif inside_entry:
                if key.split(".")[-1] not in ENTRY_KEYS or not re.fullmatch(r"(c\d+\.)?[a-z]+", key):
                    bad.append(key)
                bad += keys_ok(value, True)
            elif key in FIELDS:
                bad += keys_ok(value, False)
            else:
                bad.append(key)
    elif isinstance(node, list):
        for item in node:
            bad += keys_ok(item, inside_entry)
    return bad


def regexes(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$regex"]] if "$regex" in node else []
        return found + [r for v in node.values() for r in regexes(v)]
    if isinstance(node, list):
        return [r for v in node for r in regexes(v)]
    return []


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(st.one_of(st.sampled_from(NAMES), NASTY), NASTY), min_size=1, max_size=3))
def test_any_query_is_a_plan_or_a_400_and_keys_stay_ours(params):
    try:
        plan = translate(parse_search("Observation", params, lenient=True), CONTEXT)
    except FhirError as error:
        assert error.status == 400
        return
    assert keys_ok(plan.filter) == []
    for inner in [t for ch in plan.chains for t in ch.targets.values()] + [h.plan for h in plan.has]:
        assert keys_ok(inner.filter) == []
    for pattern in regexes(plan.filter):
        body = pattern.removeprefix("^")
        # an escaped literal: every regex metacharacter is preceded by a backslash
        assert re.fullmatch(r"(\\.|[^\\.^$*+?{}\[\]|()])*", body), pattern


def test_a_nul_in_a_string_value_becomes_an_escape_both_engines_accept():
    import re as regex

    from fhir_server.search.conditions import regex_literal, starts_with

    assert starts_with("a\x00b") == {"$regex": "^a\\x00b"}
    assert "\x00" not in regex_literal("a\x00b")
    assert regex.match(starts_with("a\x00b")["$regex"], "a\x00bc")

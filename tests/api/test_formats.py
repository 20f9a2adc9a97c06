"""The JSON depth limit (pure logic): orjson's write-back check and the walk agree with the definition."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from fhir_server.api import formats
from fhir_server.api.formats import _deeper_than, _walk_deeper_than

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=3),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=2), inner, max_size=3),
    max_leaves=30,
)


def depth(value: object) -> int:
    """Levels of nested objects/arrays (a scalar is 0, ``{}`` is 1)."""
    if isinstance(value, dict):
        return 1 + max((depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((depth(v) for v in value), default=0)
    return 0


@given(json_values, st.integers(min_value=0, max_value=8))
def test_deeper_than_agrees_with_the_definition(value, limit):
    assert _deeper_than(value, limit) == _walk_deeper_than(value, limit) == (depth(value) > limit)


@st.composite
def deep_values(draw):
    """Objects and arrays nested 55 to 75 levels (around the default limit of 64), with siblings."""
    value = draw(json_values)
    for _ in range(draw(st.integers(min_value=55, max_value=75))):
        sibling = draw(json_values)
        value = draw(st.sampled_from([[value], [sibling, value], {"a": value}, {"s": sibling, "v": value}]))
    return value


@given(deep_values(), st.sampled_from([63, 64, 65]))
def test_deeper_than_agrees_with_the_definition_around_the_default_limit(value, limit):
    assert _deeper_than(value, limit) == _walk_deeper_than(value, limit) == (depth(value) > limit)


def test_the_write_back_check_knows_orjson_s_depth_limit():
    found = formats._DUMPS_DEPTH
    if found is None:  # an orjson that writes any depth: the walk alone is used
        assert formats._writes(1025)
    else:
        assert formats._writes(found) and not formats._writes(found + 1)


def test_a_value_orjson_will_not_write_is_left_to_the_walk():
    too_big = 2 ** 70  # orjson.dumps refuses integers over 64 bits
    assert not _deeper_than([[too_big]], 2) and _deeper_than([[[too_big]]], 2)

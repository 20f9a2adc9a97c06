"""The JSON depth limit (pure logic)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from fhir_server.api.formats import _deeper_than

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
    assert _deeper_than(value, limit) == (depth(value) > limit)

"""The MongoDB compound indexes every resource-type collection needs for search.

The index fields use the attribute pattern (see :mod:`fhir_server.search.index`): each array
holds ``{p: <parameter code>, ...}`` entries, so these few indexes serve every parameter of every
type, custom ones included (MongoDB allows 64 indexes per collection). ``_id`` and ``ts`` (for
``_lastUpdated`` and ``_sort=_lastUpdated``) are indexed by the storage layer.
"""

from __future__ import annotations

INDEX_KEYS: list[list[tuple[str, int]]] = [
    [("_str.p", 1), ("_str.v", 1)],
    [("_str.p", 1), ("_str.x", 1)],
    [("_tok.p", 1), ("_tok.c", 1), ("_tok.s", 1)],
    [("_tok.p", 1), ("_tok.s", 1)],
    [("_tok.p", 1), ("_tok.t", 1)],
    [("_ref.p", 1), ("_ref.r", 1)],
    [("_ref.p", 1), ("_ref.i", 1)],
    [("_dt.p", 1), ("_dt.lo", 1), ("_dt.hi", 1)],
    [("_dt.p", 1), ("_dt.hi", 1)],
    [("_num.p", 1), ("_num.lo", 1), ("_num.hi", 1)],
    [("_num.p", 1), ("_num.hi", 1)],
    [("_qty.p", 1), ("_qty.c", 1), ("_qty.lo", 1), ("_qty.hi", 1)],
    [("_qty.p", 1), ("_qty.lo", 1), ("_qty.hi", 1)],
    [("_qty.p", 1), ("_qty.hi", 1)],
    [("_uri.p", 1), ("_uri.v", 1)],
    [("_cmp.p", 1), ("_cmp.c0.c", 1)],
    [("_cmp.p", 1), ("_cmp.c0.r", 1)],
    [("_geo.lat", 1), ("_geo.lon", 1)],
]
"""Compound indexes every resource-type collection needs (besides ``_id`` and ``ts``)."""

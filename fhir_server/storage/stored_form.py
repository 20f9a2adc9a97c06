"""Documents handed to the store already in the form MongoDB stores them.

PyMongo encodes a document to BSON when it is sent, so what the caller does with its dict
afterwards never reaches the database. The embedded engine keeps Python objects instead, so it
copies each document it is given, converting datetimes to what BSON keeps (naive UTC at
millisecond precision). For a bulk load that copy is about a sixth of the server's CPU.

A :class:`StoredForm` document is its builder's promise that the copy is not needed: it holds only
``str`` keys, dicts, lists (no tuples), ``str``/``int``/``float``/``bool``/``None``/``bytes`` and
naive UTC datetimes at millisecond precision, and nobody changes it, or anything in it, once it is
handed to a write. The embedded engine then keeps its members as they are; PyMongo encodes it like
any dict. The test suite checks the promise on every write
(:data:`fhir_server.storage.embedded.CHECK_STORED_FORM`).
"""

from __future__ import annotations

from datetime import datetime


class StoredForm(dict):
    """A document in stored form, handed over to the store (see the module's docstring)."""

    __slots__ = ()


def stored_time(ts: datetime) -> datetime:
    """``ts`` as a stored document holds it: naive UTC at millisecond precision (BSON dates are UTC
    milliseconds). One already in that form is returned as it is (datetimes are immutable).

    The last conversion is remembered: a version's time goes into its current document and its
    history document, and the versions written in one millisecond share one time. The naive
    datetime is built with positional arguments: ``datetime.replace`` parses keyword arguments,
    several times slower."""
    global _last
    if _last[0] is ts:
        return _last[1]
    if ts.tzinfo is None and not ts.microsecond % 1000:
        return ts
    utc = ts if ts.tzinfo is None else ts - ts.utcoffset()  # type: ignore[operator]
    stored = datetime(utc.year, utc.month, utc.day, utc.hour, utc.minute, utc.second, utc.microsecond // 1000 * 1000)
    _last = (ts, stored)
    return stored


_last: tuple[datetime | None, datetime] = (None, datetime(1970, 1, 1))

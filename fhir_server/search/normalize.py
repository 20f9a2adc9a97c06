"""Value normalisation shared by index extraction and query translation.

- String folding for http://hl7.org/fhir/R4/search.html#string (case- and accent-insensitive,
  whitespace collapsed).
- Implicit ranges of dates of any precision (http://hl7.org/fhir/R4/search.html#date): a date
  ``2020-01`` is ``[2020-01-01T00:00:00, 2020-01-31T23:59:59.999]``. All datetimes are naive UTC
  at millisecond precision, the form MongoDB stores (BSON dates are UTC milliseconds), so
  extracted index values are stored as they are and queries compare with the same values on
  every engine. A dateTime or date without timezone is taken as UTC: the spec says "server local
  time", and this server's local time is UTC by definition.
- Phonetic codes (American Soundex) of the words of a name, for the ``phonetic`` parameters.
- Implicit ranges of decimals from their significant digits (http://hl7.org/fhir/R4/search.html#number):
  ``100`` is ``[99.5, 100.5)``, ``100.00`` is ``[99.995, 100.005)``, ``1e2`` is ``[50, 150)``.
"""

from __future__ import annotations

import calendar
import re
import unicodedata
from datetime import datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from functools import lru_cache

DT_MIN = datetime(1, 1, 1)
DT_MAX = datetime(9999, 12, 31, 23, 59, 59, 999000)
NUM_MIN = float("-inf")
NUM_MAX = float("inf")

_DATE_RE = re.compile(
    r"^(?P<y>\d{4})(?:-(?P<m>\d{2})(?:-(?P<d>\d{2})"
    r"(?:T(?P<H>\d{2}):(?P<M>\d{2})(?::(?P<S>\d{2})(?:\.(?P<f>\d+))?)?"
    r"(?P<tz>Z|[+-]\d{2}:\d{2})?)?)?)?$"
)
_NUMBER_RE = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
_ONE_MS = timedelta(milliseconds=1)


@lru_cache(maxsize=65536)
def fold(text: str) -> str:
    """Lower-case, strip accents (NFKD minus combining marks), collapse whitespace."""
    if text.isascii():
        return " ".join(text.lower().split())
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(stripped.casefold().split())


def date_range(text: str) -> tuple[datetime, datetime] | None:
    """The implicit UTC range ``[lo, hi]`` of a FHIR date/dateTime/instant, or None when invalid."""
    found = _DATE_RE.match(text)
    if found is None:
        return None
    try:
        return _range(found)
    except (ValueError, OverflowError):
        return None


@lru_cache(maxsize=65536)
def _cached_range(text: str) -> tuple[datetime, datetime] | None:
    return date_range(text)


def date_range_cached(text: str) -> tuple[datetime, datetime] | None:
    """:func:`date_range` memoised (index extraction meets the same dates again and again)."""
    return _cached_range(text)


def _range(m: re.Match) -> tuple[datetime, datetime]:
    y = int(m["y"])
    if m["m"] is None:
        return datetime(y, 1, 1), datetime(y, 12, 31, 23, 59, 59, 999000)
    mo = int(m["m"])
    if m["d"] is None:
        last = calendar.monthrange(y, mo)[1]
        return datetime(y, mo, 1), datetime(y, mo, last, 23, 59, 59, 999000)
    d = int(m["d"])
    if m["H"] is None:
        return datetime(y, mo, d), datetime(y, mo, d, 23, 59, 59, 999000)
    hh, mm = int(m["H"]), int(m["M"])
    if hh == 24 and mm == 0 and not m["S"]:
        raise ValueError("24:00")
    if m["S"] is None:
        lo = datetime(y, mo, d, hh, mm)
        hi = lo + timedelta(minutes=1) - _ONE_MS
    else:
        ss = int(m["S"])
        frac = m["f"]
        if frac is None:
            lo = datetime(y, mo, d, hh, mm, ss)
            hi = lo + timedelta(seconds=1) - _ONE_MS
        else:
            digits = frac[:3]  # finer fractions are below what BSON stores
            lo = datetime(y, mo, d, hh, mm, ss, int(digits.ljust(3, "0")) * 1000)
            hi = lo + timedelta(milliseconds=10 ** (3 - len(digits))) - _ONE_MS
    tz = m["tz"]
    if tz and tz != "Z":
        sign = 1 if tz[0] == "+" else -1
        offset = timedelta(hours=int(tz[1:3]), minutes=int(tz[4:6])) * sign
        lo, hi = _shift(lo, -offset), _shift(hi, -offset)
    return lo, hi


def _shift(value: datetime, delta: timedelta) -> datetime:
    try:
        return value + delta
    except OverflowError:
        return DT_MIN if delta < timedelta(0) else DT_MAX


def to_utc_naive(value: datetime) -> datetime:
    """A datetime as naive UTC (aware ones converted, naive ones taken as UTC)."""
    if value.tzinfo is None:
        return value
    return value.astimezone(timezone.utc).replace(tzinfo=None)


def parse_decimal(text: str) -> Decimal | None:
    """A FHIR decimal (also accepting an exponent, as search values may) or None."""
    if not _NUMBER_RE.match(text):
        return None
    try:
        return Decimal(text)
    except InvalidOperation:
        return None


def decimal_range(value: Decimal) -> tuple[float, float]:
    """The implicit range ``[lo, hi)`` of a decimal from its significant digits."""
    exponent = value.as_tuple().exponent
    if not isinstance(exponent, int):
        return float(value), float(value)
    half = Decimal(5).scaleb(exponent - 1)
    return float(value - half), float(value + half)


def number_value(value: object) -> float | None:
    """A JSON number (int, float, Decimal) as float; None for anything else (bools included)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float, Decimal)):
        return float(value)
    return None


_SOUNDEX = {**dict.fromkeys("bfpv", "1"), **dict.fromkeys("cgjkqsxz", "2"), **dict.fromkeys("dt", "3"), "l": "4",
            **dict.fromkeys("mn", "5"), "r": "6"}  # fmt: skip
_WORD_RE = re.compile(r"[a-z]+")


def soundex(word: str) -> str:
    """American Soundex of a folded (lower-case ASCII) word: ``smith`` and ``smyth`` are ``s530``."""
    first, codes, previous = word[0], [], _SOUNDEX.get(word[0], "")
    for ch in word[1:]:
        code = _SOUNDEX.get(ch, "")
        if code and code != previous:
            codes.append(code)
        if ch not in "hw":  # h and w do not separate letters with the same code
            previous = code
    return (first + "".join(codes) + "000")[:4]


@lru_cache(maxsize=65536)
def phonetic_codes(text: str) -> tuple[str, ...]:
    """The Soundex codes of the words of ``text`` (folded first), without repeats, in order."""
    return tuple(dict.fromkeys(soundex(w) for w in _WORD_RE.findall(fold(text))))

"""The server's clock: UTC, to the millisecond MongoDB stores."""

from __future__ import annotations

import time
from datetime import datetime, timezone

from hypothesis import given
from hypothesis import strategies as st

from fhir_server.storage.repository import utc_now
from fhir_server.storage.stored_form import stored_time


def test_utc_now_is_aware_utc_at_millisecond_precision_and_never_goes_back():
    seen = []
    for _ in range(2000):
        before = datetime.now(timezone.utc)
        now = utc_now()
        assert now.tzinfo is timezone.utc and now.microsecond % 1000 == 0
        assert before.replace(microsecond=before.microsecond // 1000 * 1000) <= now <= datetime.now(timezone.utc)
        seen.append(now)
    assert seen == sorted(seen)


def test_writes_of_one_millisecond_share_their_timestamp():
    for _ in range(1000):  # until two readings fall within one millisecond
        start = time.time_ns() // 1_000_000
        first, second = utc_now(), utc_now()
        if time.time_ns() // 1_000_000 == start:
            break
    else:
        raise AssertionError("no two readings within one millisecond in 1,000 tries")
    assert first is second


@given(st.datetimes(min_value=datetime(1970, 1, 2), timezones=st.none() | st.timezones()))
def test_stored_time_is_naive_utc_truncated_to_the_millisecond(moment):
    utc = moment.astimezone(timezone.utc) if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
    expected = utc.replace(tzinfo=None, microsecond=utc.microsecond // 1000 * 1000)
    stored = stored_time(moment)
    assert (stored, stored.tzinfo) == (expected, None)
    assert stored_time(moment) is stored  # asked again: the remembered conversion
    assert stored_time(stored) is stored  # already in stored form: itself


def test_stored_time_of_the_clock_is_its_own_instant_without_zone():
    now = utc_now()
    assert stored_time(now) == now.replace(tzinfo=None)

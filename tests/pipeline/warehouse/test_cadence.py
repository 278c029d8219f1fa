"""Publication cadence: when a release is due and which periods it may report."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from pipeline.policy import Cadence
from pipeline.warehouse.cadence import closed, next_publication, period_end, scheduled


def utc(*a):
    return datetime(*a, tzinfo=timezone.utc)


@pytest.mark.parametrize("now,every,day,published,cutoff", [
    (utc(2026, 11, 27), "month", 1, utc(2026, 11, 1), utc(2026, 11, 1)),
    (utc(2026, 11, 1), "month", 1, utc(2026, 11, 1), utc(2026, 11, 1)),
    (utc(2026, 11, 14, 23), "month", 15, utc(2026, 10, 15), utc(2026, 10, 1)),
    (utc(2026, 11, 15), "month", 15, utc(2026, 11, 15), utc(2026, 11, 1)),
    (utc(2026, 1, 3), "month", 5, utc(2025, 12, 5), utc(2025, 12, 1)),
    (utc(2026, 11, 27), "quarter", 1, utc(2026, 10, 1), utc(2026, 10, 1)),
    (utc(2026, 1, 2), "quarter", 7, utc(2025, 10, 7), utc(2025, 10, 1)),
])
def test_the_latest_scheduled_publication_and_its_cutoff(now, every, day, published, cutoff):
    assert scheduled(now, Cadence(every=every, day=day)) == (published, cutoff)


def test_next_publication():
    assert next_publication(utc(2026, 11, 27), Cadence(every="month", day=3)) == utc(2026, 12, 3)
    assert next_publication(utc(2026, 12, 2), Cadence(every="month", day=3)) == utc(2026, 12, 3)
    assert next_publication(utc(2026, 11, 27), Cadence(every="quarter", day=1)) == utc(2027, 1, 1)


def test_only_closed_periods_are_reported():
    assert period_end("2026-Q3") == utc(2026, 10, 1) and period_end("2026-Q4") == utc(2027, 1, 1)
    assert period_end("2026-12") == utc(2027, 1, 1) and period_end("all") is None
    periods = ["2026-Q3", "2026-Q4", "2026-10", "2026-11", "all"]
    assert closed(periods, utc(2026, 11, 1)) == ["2026-Q3", "2026-10", "all"]
    assert closed(periods, None) == periods


def test_a_cadence_day_past_28_is_refused():
    with pytest.raises(ValueError):
        Cadence(every="month", day=31)

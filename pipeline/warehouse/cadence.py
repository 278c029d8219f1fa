"""When the warehouse publishes, and which data a release may use.

Nightly runs keep ingesting; the research warehouse changes only on the policy's cadence
(`publication.cadence`: every month or quarter, on a given day). A release reports closed
periods only: it uses events before its *cutoff*, the start of the month (or quarter) in
which it is published, and drops any table row whose period ends after the cutoff. Between
two scheduled publications the current release does not change, so one person added, erased
or withdrawn between two nightly runs changes nothing a researcher can see; at the next
publication the cross-release gate (`gate.py`) decides what may change.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone


def period_start(when: datetime, every: str) -> datetime:
    """Start (UTC midnight) of the month or quarter containing `when`."""
    when = when.astimezone(timezone.utc)
    month = when.month if every == "month" else 3 * ((when.month - 1) // 3) + 1
    return datetime(when.year, month, 1, tzinfo=timezone.utc)


def _previous(start: datetime, every: str) -> datetime:
    step = 1 if every == "month" else 3
    month, year = start.month - step, start.year
    if month < 1:
        month, year = month + 12, year - 1
    return start.replace(year=year, month=month)


def _next(start: datetime, every: str) -> datetime:
    step = 1 if every == "month" else 3
    month, year = start.month + step, start.year
    if month > 12:
        month, year = month - 12, year + 1
    return start.replace(year=year, month=month)


def scheduled(now: datetime, cadence) -> tuple[datetime, datetime]:
    """(date of the latest scheduled publication at or before `now`, its cutoff)."""
    start = period_start(now, cadence.every)
    if now < start.replace(day=cadence.day):
        start = _previous(start, cadence.every)
    return start.replace(day=cadence.day), start


def next_publication(now: datetime, cadence) -> datetime:
    _, cutoff = scheduled(now, cadence)
    return _next(cutoff, cadence.every).replace(day=cadence.day)


def period_end(period: str) -> datetime | None:
    """End (exclusive) of a table period label: "2026-Q3" -> 2026-10-01, "2026-09" ->
    2026-10-01; None for "all"."""
    m = re.fullmatch(r"(\d{4})-Q([1-4])", period)
    if m:
        start = datetime(int(m[1]), 3 * int(m[2]) - 2, 1, tzinfo=timezone.utc)
        return _next(start, "quarter")
    m = re.fullmatch(r"(\d{4})-(\d{2})", period)
    if m:
        return _next(datetime(int(m[1]), int(m[2]), 1, tzinfo=timezone.utc), "month")
    return None


def closed(periods: list[str], cutoff: datetime | None) -> list[str]:
    """The periods that have closed by the cutoff ("all" always)."""
    if cutoff is None:
        return list(periods)
    return [p for p in periods if p is not None and ((end := period_end(p)) is None or end <= cutoff)]

"""Crisis oversight tables as spec tests: small hand-worked sessions in, expected values out."""

from __future__ import annotations

from datetime import datetime, timezone

import polars as pl

from pipeline.policy import load_policy
from pipeline.warehouse.safety import item9_assessments, safety_reconciliation, session_safety
from tests.conftest import POLICIES
from tests.pipeline.warehouse.safety_frames import at, frames, phq

PUB = load_policy(POLICIES).policy.publication


def by_session(f, targets=(15, 60)):
    rows = session_safety(f, {"a", "b", "c"}, targets)
    return {r["session_id"]: r for r in rows.iter_rows(named=True)}


def test_time_to_a_human_runs_from_each_flag_to_the_next_connection_in_its_session():
    f = frames(
        sessions=[("a", "s1", at(0), "m1"), ("b", "s2", at(0), "m1"), ("c", "s3", at(0), "m1")],
        flags=[("a", "s1", at(10), "high"), ("a", "s1", at(50), "imminent"),
               ("a", "s1", at(5), "moderate"),
               ("b", "s2", at(10), "high"), ("c", "s3", at(10), "low")],
        escalations=[("a", "s1", at(11), "offered"), ("a", "s1", at(12), "accepted"),
                     ("a", "s1", at(70), "connected"),  # 60 min after the first flag
                     ("b", "s2", at(11), "offered"), ("b", "s2", at(12), "declined"),
                     ("b", "s2", at(5), "connected")])  # before the flag: does not count
    s = by_session(f)
    a, b, c = s["s1"], s["s2"], s["s3"]
    assert a["minutes"] == 60 and a["high"] and not a["never_connected"]
    assert a["connected_within_60_min"] and not a["connected_within_15_min"]
    # per flag: the 10-minute flag waited 60, the 50-minute flag 20
    assert (a["flags_high"], a["flags_high_never_connected"], a["flags_connected_within_15_min"],
            a["flags_connected_within_60_min"]) == (2, 0, 0, 2)
    assert b["high"] and b["never_connected"] and b["esc_declined"] and b["minutes"] is None
    assert b["flags_high_never_connected"] == 1 and not b["no_offer"]
    assert not c["high"] and not c["never_connected"] and c["flag_low"] and c["flags_high"] == 0


def test_a_flag_with_no_offer_is_counted():
    f = frames(sessions=[("a", "s1", at(0), "m1")], flags=[("a", "s1", at(1), "high")])
    assert by_session(f)["s1"]["no_offer"]


def test_item9_is_matched_to_a_high_flag_within_24_hours_either_side():
    f = frames(
        sessions=[("a", "s1", at(0), "m1"), ("b", "s2", at(0), "m2"), ("c", "s3", at(0), "m2")],
        flags=[("a", "s1", at(60 * 23.9), "high"),      # 23.9 h after: matched
               ("b", "s2", at(-60 * 24.1), "imminent"),  # 24.1 h before: not
               ("c", "s3", at(10), "moderate")],         # not high: not
        assessments=[("a", "s1", at(1), "PHQ-9", phq(1)), ("b", "s2", at(1), "PHQ-9", phq(2)),
                     ("c", "s3", at(1), "PHQ-9", phq(3)), ("c", "s3", at(2), "PHQ-9", phq(0)),
                     ("c", None, at(3), "GAD-7", [1] * 7)])
    rows = {(r["subject"], r["items"][8]): r for r in item9_assessments(f, {"a", "b", "c"})
            .iter_rows(named=True)}
    assert len(rows) == 4  # PHQ-9 only
    assert not rows[("a", 1)]["missed"] and rows[("b", 2)]["missed"] and rows[("c", 3)]["missed"]
    assert not rows[("c", 0)]["item9"] and not rows[("c", 0)]["missed"]
    assert rows[("b", 2)]["model_version"] == "m2" and rows[("a", 1)]["period"] == "2026-09"


def test_reconciliation_counts_on_twelve_people():
    """12 people, one session each in September: 10 answer item 9 >= 1; 4 of them have a
    high flag beside it; every flagged session is offered help, 2 never connect."""
    sessions, flags, esc, assess = [], [], [], []
    for i in range(12):
        p, s = f"p{i}", f"s{i}"
        sessions.append((p, s, at(i), "m1"))
        assess.append((p, s, at(i + 1), "PHQ-9", phq(1 if i < 10 else 0)))
        if i < 4:
            flags.append((p, s, at(i + 2), "high"))
            esc.append((p, s, at(i + 3), "offered"))
            if i >= 2:
                esc.append((p, s, at(i + 10), "connected"))
    t = safety_reconciliation(frames(sessions, flags, esc, assess), {f"p{i}" for i in range(12)},
                              PUB, datetime(2026, 10, 1, tzinfo=timezone.utc))
    exact = t.contributors.filter(pl.col("dimension") == "overall").row(0, named=True)
    assert exact["people"] == 12
    released = t.frame.filter(pl.col("dimension") == "overall").row(0, named=True)
    # exact 12 / 10 / 6 / 4 / 0 / 2: released under the rules (1..7 suppressed, rounded to 5)
    assert released["assessments_phq9"] == 10
    # 10 of 12 would read 10 of 10 once rounded: 100% on fewer than 20 people
    assert released["assessments_item9_positive"] is None
    assert released["item9_positive_without_flag_24h"] is None  # 6 people: suppressed
    assert released["sessions_high_flag"] is None  # 4
    assert released["item9_missed_rate"] is None  # never from a suppressed count


def test_every_phq9_counts_in_the_item9_audit_even_without_a_session():
    """Review of issue 16: an onboarding PHQ-9 (before any session) and one naming a session
    missing from the log were silently dropped from the audit."""
    f = frames(sessions=[("a", "s1", at(0, days=1), "m1")],
               assessments=[("a", None, at(0), "PHQ-9", phq(2)),          # onboarding
                            ("a", "s-missing", at(0, days=2), "PHQ-9", phq(1)),
                            ("a", "s1", at(5, days=1), "PHQ-9", phq(3))])
    rows = item9_assessments(f, {"a"}).sort("occurred_at")
    assert rows["item9"].to_list() == [True, True, True] and rows["missed"].sum() == 3
    assert rows["model_version"].to_list() == ["not recorded", "m1", "m1"]

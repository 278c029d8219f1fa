"""Outcome definitions (NHS Talking Therapies) on small hand-made cases."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import polars as pl

from pipeline.warehouse.analytics import user_outcomes

T0 = datetime(2026, 9, 1, tzinfo=timezone.utc)
SCHEMA = {"subject": pl.String, "instrument": pl.String, "items": pl.List(pl.Int64),
          "occurred_at": pl.Datetime("us", "UTC")}


def items(total, n):
    out = [0] * n
    for i in range(total):
        out[i % n] += 1
    return out


def frame(rows):
    return pl.DataFrame(
        [(s, inst, items(score, 9 if inst == "PHQ-9" else 7), T0 + timedelta(days=d))
         for s, inst, score, d in rows], schema=SCHEMA, orient="row")


def outcome(rows):
    out = user_outcomes(frame(rows))
    return {r["subject"]: r for r in out.iter_rows(named=True)}


def test_recovery_and_reliable_improvement():
    o = outcome([("a", "PHQ-9", 15, 0), ("a", "PHQ-9", 7, 20),
                 ("a", "GAD-7", 10, 0), ("a", "GAD-7", 5, 20)])["a"]
    assert o["caseness"] and o["recovery"] and o["reliable_improvement"] and o["reliable_recovery"]
    assert not o["reliable_deterioration"]


def test_final_must_be_14_days_after_baseline():
    assert outcome([("a", "PHQ-9", 15, 0), ("a", "PHQ-9", 3, 13)]) == {}
    o = outcome([("a", "PHQ-9", 15, 0), ("a", "PHQ-9", 3, 14), ("a", "PHQ-9", 12, 30)])["a"]
    assert o["caseness"] and not o["recovery"]  # the last assessment >= 14 days counts


def test_not_at_caseness_cannot_recover_and_deterioration_blocks_improvement():
    o = outcome([("a", "PHQ-9", 5, 0), ("a", "PHQ-9", 2, 20)])["a"]
    assert not o["caseness"] and not o["recovery"]
    o = outcome([("b", "PHQ-9", 20, 0), ("b", "PHQ-9", 12, 20),
                 ("b", "GAD-7", 4, 0), ("b", "GAD-7", 9, 20)])["b"]
    assert o["reliable_deterioration"] and not o["reliable_improvement"]


def test_below_reliable_change_is_not_improvement():
    o = outcome([("a", "PHQ-9", 12, 0), ("a", "PHQ-9", 7, 20)])["a"]
    assert o["recovery"] and not o["reliable_improvement"] and not o["reliable_recovery"]


# -- boundary scores, as the definitions state them ---------------------------------------
def test_caseness_boundaries():
    assert not outcome([("a", "PHQ-9", 9, 0), ("a", "PHQ-9", 9, 20)])["a"]["caseness"]
    assert outcome([("a", "PHQ-9", 10, 0), ("a", "PHQ-9", 10, 20)])["a"]["caseness"]
    assert not outcome([("a", "GAD-7", 7, 0), ("a", "GAD-7", 7, 20)])["a"]["caseness"]
    assert outcome([("a", "GAD-7", 8, 0), ("a", "GAD-7", 8, 20)])["a"]["caseness"]


def test_recovery_needs_both_below_at_the_end():
    o = outcome([("a", "PHQ-9", 12, 0), ("a", "PHQ-9", 9, 20), ("a", "GAD-7", 9, 0), ("a", "GAD-7", 8, 20)])
    assert o["a"]["caseness"] and not o["a"]["recovery"]  # GAD-7 still at 8
    o = outcome([("a", "PHQ-9", 12, 0), ("a", "PHQ-9", 9, 20), ("a", "GAD-7", 9, 0), ("a", "GAD-7", 7, 20)])
    assert o["a"]["recovery"]


def test_reliable_change_boundaries():
    five = outcome([("a", "PHQ-9", 20, 0), ("a", "PHQ-9", 15, 20)])["a"]
    six = outcome([("a", "PHQ-9", 20, 0), ("a", "PHQ-9", 14, 20)])["a"]
    assert not five["reliable_improvement"] and six["reliable_improvement"]
    three = outcome([("a", "GAD-7", 15, 0), ("a", "GAD-7", 12, 20)])["a"]
    four = outcome([("a", "GAD-7", 15, 0), ("a", "GAD-7", 11, 20)])["a"]
    assert not three["reliable_improvement"] and four["reliable_improvement"]
    up6 = outcome([("a", "PHQ-9", 5, 0), ("a", "PHQ-9", 11, 20)])["a"]
    up5 = outcome([("a", "PHQ-9", 5, 0), ("a", "PHQ-9", 10, 20)])["a"]
    assert up6["reliable_deterioration"] and not up5["reliable_deterioration"]
    up4 = outcome([("a", "GAD-7", 2, 0), ("a", "GAD-7", 6, 20)])["a"]
    assert up4["reliable_deterioration"]


def test_reliable_recovery_and_score_change():
    o = outcome([("a", "PHQ-9", 16, 0), ("a", "PHQ-9", 9, 20)])["a"]
    assert o["recovery"] and o["reliable_improvement"] and o["reliable_recovery"]
    assert o["phq9_change"] == -7 and o["gad7_change"] is None

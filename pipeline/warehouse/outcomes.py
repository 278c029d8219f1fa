"""Clinical outcomes as NHS Talking Therapies defines them (docs/session-events.md, "Outcome
definitions"), per person; `analytics.outcomes_by_group` aggregates them.

A *contact* is a session. Every assessment belongs to one: the session it names
(`session_id`), else the person's latest session started at or before it. A *measured
contact* is one with both a PHQ-9 and a GAD-7 (the last of each in it). A person has
**finished treatment** when they have had at least two sessions and at least two measured
contacts; their first and last measured contacts are the paired scores. The measures:

- caseness: PHQ-9 >= 10 or GAD-7 >= 8 at the first measured contact;
- recovery: at caseness first, and PHQ-9 < 10 and GAD-7 < 8 at the last;
- reliable improvement: PHQ-9 fell by >= 6 or GAD-7 by >= 4, and neither rose reliably;
- reliable deterioration: PHQ-9 rose by >= 6 or GAD-7 by >= 4, and neither fell reliably;
- reliable recovery: recovery and reliable improvement.

Rates: recovery and reliable recovery over those at caseness; reliable improvement and
deterioration over everyone who finished treatment (as the national publications do).
"""

from __future__ import annotations

import polars as pl

CASENESS = {"PHQ-9": 10, "GAD-7": 8}
RELIABLE_CHANGE = {"PHQ-9": 6, "GAD-7": 4}
MIN_SESSIONS = 2
# measure -> denominator of its rate
OUTCOME_RATES = {"recovery": "caseness", "reliable_improvement": "finished_treatment",
                 "reliable_recovery": "caseness", "reliable_deterioration": "finished_treatment"}
OUTCOME_COUNTS = ("finished_treatment", "caseness", *OUTCOME_RATES)
_SHORT = {"PHQ-9": "phq9", "GAD-7": "gad7"}


def contacts(assessments: pl.DataFrame, sessions: pl.DataFrame, keep_all: bool = False
             ) -> pl.DataFrame:
    """Each assessment with the session (`contact`) it belongs to and its score (item sum);
    assessments before a person's first session belong to none and are dropped, unless
    `keep_all` (then `contact` is null; a `session_id` missing from the log falls back to
    the latest session before the assessment)."""
    a = assessments.with_columns(score=pl.col("items").list.sum())
    if "session_id" not in a.columns:
        a = a.with_columns(session_id=pl.lit(None, pl.String))
    starts = sessions.select("subject", pl.col("session_id").alias("contact"),
                             pl.col("occurred_at").alias("started")).sort("started")
    known = pl.col("session_id").is_in(starts["contact"].implode())
    if keep_all:
        a = a.with_columns(session_id=pl.when(known).then(pl.col("session_id")))
    named = a.filter(pl.col("session_id").is_not_null()).join(
        starts.select("subject", "contact"), left_on=["subject", "session_id"],
        right_on=["subject", "contact"], how="inner").with_columns(contact=pl.col("session_id"))
    loose = a.filter(pl.col("session_id").is_null()).sort("occurred_at").join_asof(
        starts, left_on="occurred_at", right_on="started", by="subject", strategy="backward",
        check_sortedness=False)
    cols = ["subject", "instrument", "items", "score", "occurred_at", "contact"]
    if not keep_all:
        loose = loose.filter(pl.col("contact").is_not_null())
    return pl.concat([named.select(cols), loose.select(cols)]).sort("occurred_at")


def user_outcomes(assessments: pl.DataFrame, sessions: pl.DataFrame) -> pl.DataFrame:
    """One row per person who finished treatment: first measured contact time (`baseline_at`)
    and every measure (booleans), with the PHQ-9 and GAD-7 changes (last minus first)."""
    c = contacts(assessments, sessions)
    scores = (c.group_by("subject", "contact", "instrument").agg(
        pl.col("score").last(), pl.col("occurred_at").last())
        .pivot(on="instrument", index=["subject", "contact"], values=["score", "occurred_at"]))
    for inst in CASENESS:
        for v, t in (("score", pl.Int64), ("occurred_at", pl.Datetime("us", "UTC"))):
            if f"{v}_{inst}" not in scores.columns:
                scores = scores.with_columns(pl.lit(None, t).alias(f"{v}_{inst}"))
    measured = (scores.filter(pl.col("score_PHQ-9").is_not_null() & pl.col("score_GAD-7").is_not_null())
                .with_columns(at=pl.max_horizontal("occurred_at_PHQ-9", "occurred_at_GAD-7"))
                .sort("at"))
    n_sessions = sessions.group_by("subject").agg(pl.col("session_id").n_unique().alias("sessions"))
    pairs = (measured.group_by("subject").agg(
        pl.len().alias("measured"), pl.col("at").first().alias("baseline_at"),
        *[pl.col(f"score_{i}").first().alias(f"s0_{_SHORT[i]}") for i in CASENESS],
        *[pl.col(f"score_{i}").last().alias(f"s1_{_SHORT[i]}") for i in CASENESS])
        .join(n_sessions, on="subject", how="inner")
        .filter((pl.col("sessions") >= MIN_SESSIONS) & (pl.col("measured") >= 2)))

    def at_caseness(v: str) -> pl.Expr:
        return ((pl.col(f"{v}_phq9") >= CASENESS["PHQ-9"])
                | (pl.col(f"{v}_gad7") >= CASENESS["GAD-7"]))

    change = {i: pl.col(f"s1_{i}") - pl.col(f"s0_{i}") for i in _SHORT.values()}
    fell = {i: change[i] <= -RELIABLE_CHANGE[k] for k, i in _SHORT.items()}
    rose = {i: change[i] >= RELIABLE_CHANGE[k] for k, i in _SHORT.items()}
    any_fell, any_rose = fell["phq9"] | fell["gad7"], rose["phq9"] | rose["gad7"]
    caseness = at_caseness("s0")
    recovered = caseness & ~at_caseness("s1")
    improved = any_fell & ~any_rose
    return pairs.select(
        "subject", "baseline_at",
        pl.lit(True).alias("finished_treatment"),
        caseness.alias("caseness"),
        recovered.alias("recovery"),
        improved.alias("reliable_improvement"),
        (recovered & improved).alias("reliable_recovery"),
        (any_rose & ~any_fell).alias("reliable_deterioration"),
        change["phq9"].alias("phq9_change"),
        change["gad7"].alias("gad7_change"),
    )

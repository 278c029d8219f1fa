"""Aggregate research tables from the (decrypted, in-memory) intake frames.

Only subjects whose data may be used for `research` enter. Outcome measures follow NHS
Talking Therapies definitions (docs/session-events.md): baseline = first assessment of an
instrument, final = last assessment at least 14 days later. Every count goes through
`disclosure_control` before it leaves this module.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from . import disclosure_control as dc
from .generalise import (age_band, deprivation_quintile, ethnicity_group, gender_group,
                         language_group, postcode_region)
from .policy import Publication

FOLLOW_UP_DAYS = 14
CASENESS = {"PHQ-9": 10, "GAD-7": 8}
RELIABLE_CHANGE = {"PHQ-9": 6, "GAD-7": 4}
OUTCOME_COUNTS = ("users", "caseness", "recovery", "reliable_improvement",
                  "reliable_recovery", "reliable_deterioration")
DIMENSIONS = ("overall", "age_band", "gender", "ethnicity", "deprivation_quintile", "region",
              "language", "channel", "model_version")


@dataclass(frozen=True)
class Table:
    name: str
    frame: pl.DataFrame
    comment: str
    columns: dict[str, str]


def latest_profile(profiles: pl.DataFrame) -> pl.DataFrame:
    """Later profile events override earlier ones field by field."""
    fields = [c for c in profiles.columns if c not in ("record_id", "subject", "event_type",
                                                       "occurred_at", "session_id")]
    return profiles.sort("occurred_at").group_by("subject").agg(
        [pl.col(f).drop_nulls().last() for f in fields]
    )


def user_outcomes(assessments: pl.DataFrame) -> pl.DataFrame:
    """One row per subject with a baseline and a final >= 14 days later (either instrument)."""
    a = assessments.with_columns(score=pl.col("items").list.sum()).sort("occurred_at")
    base = a.group_by(["subject", "instrument"]).agg(
        pl.col("occurred_at").first().alias("t0"), pl.col("score").first().alias("s0")
    )
    final = (
        a.join(base, on=["subject", "instrument"])
        .filter(pl.col("occurred_at") >= pl.col("t0") + pl.duration(days=FOLLOW_UP_DAYS))
        .group_by(["subject", "instrument"])
        .agg(pl.col("score").last().alias("s1"))
    )
    pairs = base.join(final, on=["subject", "instrument"], how="inner")
    wide = pairs.pivot(on="instrument", index="subject", values=["s0", "s1", "t0"])
    for inst in CASENESS:
        for v in ("s0", "s1", "t0"):
            col = f"{v}_{inst}"
            if col not in wide.columns:
                wide = wide.with_columns(pl.lit(None, dtype=pl.Int64 if v != "t0"
                                                else pl.Datetime("us", "UTC")).alias(col))

    def above(v: str, inst: str) -> pl.Expr:
        return (pl.col(f"{v}_{inst}") >= CASENESS[inst]).fill_null(False)

    def change(inst: str) -> pl.Expr:
        return pl.col(f"s1_{inst}") - pl.col(f"s0_{inst}")

    improve = ((change("PHQ-9") <= -RELIABLE_CHANGE["PHQ-9"]).fill_null(False)
               | (change("GAD-7") <= -RELIABLE_CHANGE["GAD-7"]).fill_null(False))
    worsen = ((change("PHQ-9") >= RELIABLE_CHANGE["PHQ-9"]).fill_null(False)
              | (change("GAD-7") >= RELIABLE_CHANGE["GAD-7"]).fill_null(False))
    caseness = above("s0", "PHQ-9") | above("s0", "GAD-7")
    recovered = caseness & ~(above("s1", "PHQ-9") | above("s1", "GAD-7"))
    return wide.select(
        "subject",
        pl.min_horizontal("t0_PHQ-9", "t0_GAD-7").alias("baseline_at"),
        caseness.alias("caseness"),
        recovered.alias("recovery"),
        (improve & ~worsen).alias("reliable_improvement"),
        (recovered & improve & ~worsen).alias("reliable_recovery"),
        worsen.alias("reliable_deterioration"),
    )


def _quarter(col: str) -> pl.Expr:
    return pl.format("{}-Q{}", pl.col(col).dt.year(), pl.col(col).dt.quarter())


def _controlled(frame: pl.DataFrame, counts: list[str], pub: Publication) -> pl.DataFrame:
    def release(v: int | None) -> int | None:
        return None if v is None else dc.publish_count(v, pub.suppression_threshold,
                                                       pub.rounding_base)
    return frame.with_columns(
        [pl.col(c).map_elements(release, return_dtype=pl.Int64) for c in counts]
    )


def outcomes_by_group(frames: dict[str, pl.DataFrame], subjects: set[str],
                      pub: Publication) -> Table:
    keep = pl.col("subject").is_in(list(subjects))
    outcomes = user_outcomes(frames["assessment"].filter(keep))
    profile = latest_profile(frames["profile"].filter(keep))
    first_channel = (frames["session_started"].filter(keep).sort("occurred_at")
                     .group_by("subject").agg(pl.col("channel").first(),
                                              pl.col("model_version").first()))
    users = (
        outcomes.join(profile, on="subject", how="left")
        .join(first_channel, on="subject", how="left")
        .with_columns(
            period=_quarter("baseline_at"),
            overall=pl.lit("all"),
            age_band=age_band(pl.col("baseline_at").dt.year() - pl.col("birth_year")),
            deprivation_quintile=deprivation_quintile(pl.col("deprivation_decile")),
            gender=gender_group(pl.col("gender")),
            ethnicity=ethnicity_group(pl.col("ethnicity")),
            region=postcode_region(pl.col("postcode")),
            language=language_group(pl.col("language")),
            channel=pl.col("channel").fill_null("not recorded"),
            model_version=pl.col("model_version").fill_null("not recorded"),
        )
    )
    parts = []
    for dim in DIMENSIONS:
        parts.append(
            users.group_by("period", pl.col(dim).alias("grp")).agg(
                pl.len().cast(pl.Int64).alias("users"),
                *[pl.col(m).sum().cast(pl.Int64) for m in OUTCOME_COUNTS[1:]],
            ).with_columns(dimension=pl.lit(dim))
        )
    schema = {"period": pl.String, "dimension": pl.String, "grp": pl.String,
              **{c: pl.Int64 for c in OUTCOME_COUNTS}}
    raw = pl.concat(parts).select(list(schema)) if parts else pl.DataFrame(schema=schema)
    small = pl.col("users") < pub.minimum_group_size
    raw = raw.with_columns([pl.when(small).then(None).otherwise(pl.col(c)).alias(c)
                            for c in OUTCOME_COUNTS])
    out = _controlled(raw, list(OUTCOME_COUNTS), pub).with_columns(
        recovery_rate=dc.released_rate(pl.col("recovery"), pl.col("caseness")),
        reliable_improvement_rate=dc.released_rate(pl.col("reliable_improvement"), pl.col("users")),
        reliable_deterioration_rate=dc.released_rate(pl.col("reliable_deterioration"), pl.col("users")),
    ).sort("period", "dimension", "grp")
    return Table(
        "outcomes_by_group", out,
        "PHQ-9/GAD-7 outcomes per period (quarter of baseline) and group, research-consented "
        f"users only. Counts 1-{pub.suppression_threshold} suppressed (NULL), others rounded "
        f"to {pub.rounding_base}; groups under {pub.minimum_group_size} users suppressed.",
        {
            "period": "Calendar quarter of the user's first (baseline) assessment",
            "dimension": "Grouping dimension: " + ", ".join(DIMENSIONS),
            "grp": "Group within the dimension",
            "users": "Users with a baseline and a final assessment >= 14 days later",
            "caseness": "Users at caseness at baseline (PHQ-9 >= 10 or GAD-7 >= 8)",
            "recovery": "At caseness at baseline and below both thresholds at the final assessment",
            "reliable_improvement": "PHQ-9 fell >= 6 or GAD-7 >= 4, and neither rose reliably",
            "reliable_recovery": "Recovery and reliable improvement",
            "reliable_deterioration": "PHQ-9 rose >= 6 or GAD-7 rose >= 4",
            "recovery_rate": "recovery / caseness, from the released counts",
            "reliable_improvement_rate": "reliable_improvement / users, from the released counts",
            "reliable_deterioration_rate": "reliable_deterioration / users, from released counts",
        },
    )


def sessions_by_month(frames: dict[str, pl.DataFrame], subjects: set[str],
                      pub: Publication) -> Table:
    s = frames["session_started"].filter(pl.col("subject").is_in(list(subjects)))
    raw = (
        s.group_by(pl.col("occurred_at").dt.strftime("%Y-%m").alias("period"), "channel")
        .agg(pl.col("session_id").n_unique().cast(pl.Int64).alias("sessions"),
             pl.col("subject").n_unique().cast(pl.Int64).alias("users"))
    )
    out = _controlled(raw, ["sessions", "users"], pub).sort("period", "channel")
    return Table(
        "sessions_by_month", out,
        "Sessions and distinct users per calendar month (UTC) and channel, research-consented "
        "users only, disclosure-controlled.",
        {"period": "Calendar month (UTC) of session start", "channel": "app, web, sms or voice",
         "sessions": "Sessions started", "users": "Distinct users who started a session"},
    )


def research_tables(frames: dict[str, pl.DataFrame], subjects: set[str],
                    pub: Publication) -> list[Table]:
    return [outcomes_by_group(frames, subjects, pub), sessions_by_month(frames, subjects, pub)]

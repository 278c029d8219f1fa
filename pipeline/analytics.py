"""Aggregate research tables from the (decrypted, in-memory) intake frames.

Only subjects whose data may be used for `research` enter the outcome, engagement and
safety tables; `consent_coverage` compares them with everyone, so readers can see who is
missing from the evidence. Outcome measures follow NHS Talking Therapies definitions
(docs/session-events.md): baseline = first assessment of an instrument, final = last
assessment at least 14 days later. Every table goes through `disclosure_control.protect`
before it leaves this module; rates and intervals are computed from the released counts.
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
DIMENSIONS = ("overall", "age_band", "gender", "ethnicity", "deprivation_quintile", "region",
              "language", "channel", "model_version")
# measure -> denominator of its rate
OUTCOME_RATES = {"recovery": "caseness", "reliable_improvement": "users",
                 "reliable_recovery": "caseness", "reliable_deterioration": "users"}
OUTCOME_COUNTS = ("users", "caseness", *OUTCOME_RATES)
RISK_LEVELS = ("low", "moderate", "high", "imminent")
ESCALATIONS = ("offered", "accepted", "connected")


@dataclass(frozen=True)
class Table:
    name: str
    frame: pl.DataFrame
    comment: str
    columns: dict[str, str]
    suppressed_cells: int = 0


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
        change("PHQ-9").alias("phq9_change"),
        change("GAD-7").alias("gad7_change"),
    )


def _quarter(col: str) -> pl.Expr:
    return pl.format("{}-Q{}", pl.col(col).dt.year(), pl.col(col).dt.quarter())


def user_groups(frames: dict[str, pl.DataFrame]) -> pl.DataFrame:
    """Every subject with a session: first session time and the generalised groups."""
    first = (frames["session_started"].sort("occurred_at").group_by("subject")
             .agg(pl.col("occurred_at").first().alias("first_session"),
                  pl.col("channel").first(), pl.col("model_version").first(),
                  pl.col("session_id").n_unique().alias("sessions")))
    profile = latest_profile(frames["profile"])
    return first.join(profile, on="subject", how="left").with_columns(
        overall=pl.lit("all"),
        age_band=age_band(pl.col("first_session").dt.year() - pl.col("birth_year")),
        gender=gender_group(pl.col("gender")),
        ethnicity=ethnicity_group(pl.col("ethnicity")),
        deprivation_quintile=deprivation_quintile(pl.col("deprivation_decile")),
        region=postcode_region(pl.col("postcode")),
        language=language_group(pl.col("language")),
        channel=pl.col("channel").fill_null("not recorded"),
        model_version=pl.col("model_version").fill_null("not recorded"),
    ).select("subject", "first_session", "sessions", *DIMENSIONS)


def _long(users: pl.DataFrame, aggs: list[pl.Expr], schema: dict) -> pl.DataFrame:
    """One row per (period, dimension, group) for every dimension, overall included."""
    parts = [users.group_by("period", pl.col(dim).alias("grp")).agg(aggs)
             .with_columns(dimension=pl.lit(dim)) for dim in DIMENSIONS]
    frame = pl.concat(parts, how="diagonal_relaxed") if users.height else pl.DataFrame(schema=schema)
    return frame.select(list(schema)).cast(schema)


def _with_rates(frame: pl.DataFrame, rates: dict[str, str]) -> pl.DataFrame:
    """Rate, 95% Wilson interval and ratio to the overall rate (same period), all computed
    from released counts and NULL whenever a count they rest on is suppressed."""
    out = frame
    for num, den in rates.items():
        rate = f"{num}_rate"
        out = out.with_columns(
            dc.released_rate(pl.col(num), pl.col(den)).alias(rate),
            dc.wilson(pl.col(num), pl.col(den), lower=True).alias(f"{rate}_lo"),
            dc.wilson(pl.col(num), pl.col(den), lower=False).alias(f"{rate}_hi"),
        )
        overall = (out.filter(pl.col("dimension") == "overall")
                   .select("period", pl.col(rate).alias("_overall")))
        out = (out.join(overall, on="period", how="left")
               .with_columns(pl.when(pl.col("_overall") > 0)
                             .then((pl.col(rate) / pl.col("_overall")).round(3))
                             .alias(f"{rate}_ratio"))
               .drop("_overall"))
    return out


def outcomes_by_group(frames: dict[str, pl.DataFrame], users: pl.DataFrame, pub: Publication) -> Table:
    outcomes = user_outcomes(frames["assessment"])
    data = outcomes.join(users.drop("first_session"), on="subject", how="inner").with_columns(
        period=_quarter("baseline_at"))
    schema = {"period": pl.String, "dimension": pl.String, "grp": pl.String,
              **{c: pl.Int64 for c in OUTCOME_COUNTS},
              "mean_phq9_change": pl.Float64, "mean_gad7_change": pl.Float64}
    raw = _long(data, [
        pl.len().alias("users"),
        *[pl.col(m).sum().alias(m) for m in OUTCOME_COUNTS[1:]],
        pl.col("phq9_change").mean().round(1).alias("mean_phq9_change"),
        pl.col("gad7_change").mean().round(1).alias("mean_gad7_change"),
    ], schema)
    released, n = dc.protect(raw, list(OUTCOME_COUNTS), pub,
                             dependent=["mean_phq9_change", "mean_gad7_change"])
    frame = _with_rates(released, OUTCOME_RATES).sort("period", "dimension", "grp")
    cols = {
        "period": "Calendar quarter of the user's first (baseline) assessment",
        "dimension": "Grouping dimension: " + ", ".join(DIMENSIONS),
        "grp": "Group within the dimension (age band at first session; controlled vocabularies)",
        "users": "Users with a baseline and a final assessment >= 14 days later",
        "caseness": "Users at caseness at baseline (PHQ-9 >= 10 or GAD-7 >= 8)",
        "recovery": "At caseness at baseline and below both thresholds at the final assessment",
        "reliable_improvement": "PHQ-9 fell >= 6 or GAD-7 fell >= 4, and neither rose reliably",
        "reliable_recovery": "Recovery and reliable improvement",
        "reliable_deterioration": "PHQ-9 rose >= 6 or GAD-7 rose >= 4",
        "mean_phq9_change": "Mean PHQ-9 change, final minus baseline (NULL with the group's counts)",
        "mean_gad7_change": "Mean GAD-7 change, final minus baseline (NULL with the group's counts)",
    }
    for num, den in OUTCOME_RATES.items():
        cols[f"{num}_rate"] = f"{num} / {den}, from the released counts"
        cols[f"{num}_rate_lo"] = f"Lower bound of the 95% Wilson interval of {num}_rate"
        cols[f"{num}_rate_hi"] = f"Upper bound of the 95% Wilson interval of {num}_rate"
        cols[f"{num}_rate_ratio"] = f"{num}_rate divided by the overall rate of the same period"
    return Table("outcomes_by_group", frame,
                 "PHQ-9/GAD-7 outcomes (NHS Talking Therapies definitions) per quarter and group, "
                 f"research-consented users. {dc.describe(pub)}", cols, n)


def engagement_by_group(users: pl.DataFrame, pub: Publication) -> Table:
    data = users.with_columns(period=_quarter("first_session"))
    schema = {"period": pl.String, "dimension": pl.String, "grp": pl.String, "users": pl.Int64,
              "sessions": pl.Int64, "one_session_only": pl.Int64,
              "median_sessions_per_user": pl.Float64}
    raw = _long(data, [
        pl.len().alias("users"), pl.col("sessions").sum().alias("sessions"),
        (pl.col("sessions") == 1).sum().alias("one_session_only"),
        pl.col("sessions").median().alias("median_sessions_per_user"),
    ], schema)
    released, n = dc.protect(raw, ["users", "sessions", "one_session_only"], pub,
                             dependent=["median_sessions_per_user"])
    frame = _with_rates(released, {"one_session_only": "users"}).sort("period", "dimension", "grp")
    cols = {
        "period": "Calendar quarter of the user's first session",
        "dimension": "Grouping dimension", "grp": "Group within the dimension",
        "users": "Users whose first session falls in the period",
        "sessions": "Sessions of those users (all time)",
        "one_session_only": "Users who never came back after their first session (drop-out)",
        "median_sessions_per_user": "Median sessions per user (NULL with the group's counts)",
        "one_session_only_rate": "Drop-out after one session, from the released counts",
        "one_session_only_rate_lo": "Lower bound of the 95% Wilson interval of the drop-out rate",
        "one_session_only_rate_hi": "Upper bound of the 95% Wilson interval of the drop-out rate",
        "one_session_only_rate_ratio": "Drop-out rate divided by the overall rate of the period",
    }
    return Table("engagement_by_group", frame,
                 f"Engagement per quarter and group, research-consented users. {dc.describe(pub)}",
                 cols, n)


def safety_escalation(frames: dict[str, pl.DataFrame], subjects: set[str], pub: Publication) -> Table:
    keep = pl.col("subject").is_in(list(subjects))
    sessions = frames["session_started"].filter(keep).select(
        "session_id", pl.col("occurred_at").dt.strftime("%Y-%m").alias("period"), "model_version")
    flags = frames["risk_flag"].filter(keep)
    esc = frames["escalation"].filter(keep)
    per_session = sessions
    for level in RISK_LEVELS:
        per_session = per_session.join(
            flags.filter(pl.col("level") == level).select("session_id").unique()
            .with_columns(pl.lit(True).alias(f"flag_{level}")), on="session_id", how="left")
    for action in ESCALATIONS:
        per_session = per_session.join(
            esc.filter(pl.col("action") == action).select("session_id").unique()
            .with_columns(pl.lit(True).alias(f"esc_{action}")), on="session_id", how="left")
    first_high = (flags.filter(pl.col("level").is_in(["high", "imminent"]))
                  .group_by("session_id").agg(pl.col("occurred_at").min().alias("t_flag")))
    connected = esc.filter(pl.col("action") == "connected").select("session_id", "occurred_at")
    delay = (first_high.join(connected, on="session_id", how="left")
             .filter(pl.col("occurred_at").is_null() | (pl.col("occurred_at") >= pl.col("t_flag")))
             .group_by("session_id")
             .agg(((pl.col("occurred_at").min() - pl.col("t_flag").first())
                   .dt.total_seconds() / 60).alias("minutes")))
    flags_cols = [f"flag_{lv}" for lv in RISK_LEVELS] + [f"esc_{a}" for a in ESCALATIONS]
    per_session = (per_session.join(delay, on="session_id", how="left")
                   .with_columns(pl.col(flags_cols).fill_null(False))
                   .with_columns(high=pl.col("flag_high") | pl.col("flag_imminent")))
    schema = {"period": pl.String, "model_version": pl.String, "sessions": pl.Int64,
              **{f"sessions_flag_{lv}": pl.Int64 for lv in RISK_LEVELS},
              **{f"sessions_escalation_{a}": pl.Int64 for a in ESCALATIONS},
              "sessions_high_flag": pl.Int64, "sessions_high_flag_no_connection": pl.Int64,
              "median_minutes_to_connection": pl.Float64, "p90_minutes_to_connection": pl.Float64}
    aggs = [pl.len().alias("sessions"),
            *[pl.col(f"flag_{lv}").sum().alias(f"sessions_flag_{lv}") for lv in RISK_LEVELS],
            *[pl.col(f"esc_{a}").sum().alias(f"sessions_escalation_{a}") for a in ESCALATIONS],
            pl.col("high").sum().alias("sessions_high_flag"),
            (pl.col("high") & pl.col("minutes").is_null()).sum().alias("sessions_high_flag_no_connection"),
            pl.col("minutes").median().round(1).alias("median_minutes_to_connection"),
            pl.col("minutes").quantile(0.9, "nearest").round(1).alias("p90_minutes_to_connection")]
    parts = [per_session.group_by("period", "model_version").agg(aggs),
             per_session.group_by("period").agg(aggs).with_columns(model_version=pl.lit("all"))]
    raw = (pl.concat(parts, how="diagonal_relaxed").select(list(schema)).cast(schema)
           if per_session.height else pl.DataFrame(schema=schema))
    counts = [c for c, t in schema.items() if t == pl.Int64]
    released, n = dc.protect(raw.rename({"model_version": "grp"}).with_columns(
        dimension=pl.when(pl.col("grp") == "all").then(pl.lit("overall")).otherwise(pl.lit("model_version"))),
        counts, pub, size_col="sessions",
        dependent=["median_minutes_to_connection", "p90_minutes_to_connection"],
        size_for_dependent="sessions_high_flag")
    frame = released.drop("dimension").rename({"grp": "model_version"}).sort("period", "model_version")
    cols = {"period": "Calendar month (UTC) of session start",
            "model_version": "AI model that served the session ('all' = every model)",
            "sessions": "Sessions started",
            **{f"sessions_flag_{lv}": f"Sessions with a {lv} risk flag" for lv in RISK_LEVELS},
            **{f"sessions_escalation_{a}": f"Sessions where escalation was {a}" for a in ESCALATIONS},
            "sessions_high_flag": "Sessions with a high or imminent risk flag",
            "sessions_high_flag_no_connection": "Of those, sessions with no human connection after the flag",
            "median_minutes_to_connection": "Median minutes from the first high/imminent flag to a human connection",
            "p90_minutes_to_connection": "90th percentile of those minutes"}
    return Table("safety_escalation", frame,
                 "Risk flags and escalation to a human per month and model version, research-"
                 f"consented users. {dc.describe(pub)} Times are NULL when fewer than "
                 f"{pub.minimum_group_size} sessions contribute.", cols, n)


def consent_coverage(users: pl.DataFrame, research: set[str], pub: Publication) -> Table:
    data = users.with_columns(period=pl.lit("all"),
                              research=pl.col("subject").is_in(list(research)))
    schema = {"period": pl.String, "dimension": pl.String, "grp": pl.String,
              "users": pl.Int64, "research_users": pl.Int64}
    raw = _long(data, [pl.len().alias("users"), pl.col("research").sum().alias("research_users")], schema)
    released, n = dc.protect(raw, ["users", "research_users"], pub)
    frame = (released.with_columns(
        research_share=dc.released_rate(pl.col("research_users"), pl.col("users")))
        .drop("period").sort("dimension", "grp"))
    return Table("consent_coverage", frame,
                 "Who is in the evidence: all users with a session, and those whose data may be "
                 f"used for research, per group. {dc.describe(pub)}",
                 {"dimension": "Grouping dimension", "grp": "Group within the dimension",
                  "users": "Users with at least one session",
                  "research_users": "Of those, users whose data may be used for research",
                  "research_share": "research_users / users, from the released counts"}, n)


def research_tables(frames: dict[str, pl.DataFrame], research: set[str], pub: Publication) -> list[Table]:
    users = user_groups(frames)
    consented = users.filter(pl.col("subject").is_in(list(research)))
    keep = pl.col("subject").is_in(list(research))
    return [
        outcomes_by_group({"assessment": frames["assessment"].filter(keep)}, consented, pub),
        engagement_by_group(consented, pub),
        safety_escalation(frames, research, pub),
        consent_coverage(users, research, pub),
    ]

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
from datetime import datetime

import polars as pl

from ..consent import latest_profile
from ..generalise import (age_band, deprivation_quintile, ethnicity_group, gender_group,
                          language_group, postcode_region)
from ..policy import Publication
from .cadence import closed
from . import disclosure_control as dc
from .labels import DIMENSIONS, NOT_RECORDED, model_version_label

FOLLOW_UP_DAYS = 14
CASENESS = {"PHQ-9": 10, "GAD-7": 8}
RELIABLE_CHANGE = {"PHQ-9": 6, "GAD-7": 4}
# measure -> denominator of its rate
OUTCOME_RATES = {"recovery": "caseness", "reliable_improvement": "users",
                 "reliable_recovery": "caseness", "reliable_deterioration": "users"}
OUTCOME_COUNTS = ("users", "caseness", *OUTCOME_RATES)
RISK_LEVELS = ("low", "moderate", "high", "imminent")
ESCALATIONS = ("offered", "accepted", "connected")


@dataclass(frozen=True)
class Table:
    """A released table (`frame`), its documentation, and what the disclosure rules need to
    re-verify it: `spec` (what each column is) and `contributors` (people behind each
    statistic, same keys; kept in memory, never published)."""

    name: str
    frame: pl.DataFrame
    comment: str
    columns: dict[str, str]
    suppressed_cells: int = 0
    spec: dc.Spec | None = None
    contributors: pl.DataFrame | None = None


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
    """Every subject with a session: first session time and the generalised groups (every
    label from a closed vocabulary, `labels.py`)."""
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
        channel=pl.col("channel").fill_null(NOT_RECORDED),
        model_version=model_version_label(pl.col("model_version")),
    ).select("subject", "first_session", "sessions", *DIMENSIONS)


def _people(col: str) -> pl.Expr:
    """Distinct people among the rows where boolean `col` holds."""
    return pl.col("subject").filter(pl.col(col)).n_unique()


def _percentile(col: str, q: float, name: str) -> list[pl.Expr]:
    """A percentile of `col` (nearest observed value) as `name`, and its two contributor
    sides: the distinct people with a value at or below it and at or above it."""
    value = pl.col(col).drop_nulls().quantile(q, "nearest")
    return [value.round(1).alias(name),
            pl.col("subject").filter(pl.col(col) <= value).n_unique().alias(name + dc.BELOW),
            pl.col("subject").filter(pl.col(col) >= value).n_unique().alias(name + dc.ABOVE)]


def _long(rows: pl.DataFrame, stats: dict[str, tuple[pl.Expr, pl.Expr | None]],
          extra: list[pl.Expr], schema: dict, dims=DIMENSIONS,
          cutoff: datetime | None = None) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Aggregate per (period, dimension, group) for every dimension, overall included, for
    the periods closed by `cutoff` only. `stats`: column -> (value, contributors)
    expressions; `extra`: contributor-only expressions (percentile sides). Returns (values,
    contributors)."""
    keys = ["period", "dimension", "grp"]
    aggs = [pl.col("subject").n_unique().alias(dc.ROW)]
    for name, (value, people) in stats.items():
        aggs.append(value.alias(name))
        if people is not None:
            aggs.append(people.alias(f"{name}@n"))
    aggs += extra
    if rows.height:
        frame = pl.concat([rows.group_by("period", pl.col(d).alias("grp")).agg(aggs)
                           .with_columns(dimension=pl.lit(d)) for d in dims], how="diagonal_relaxed")
        frame = frame.filter(pl.col("period").is_in(closed(frame["period"].unique().to_list(), cutoff)))
    else:  # nobody: an empty table with every column
        names = [dc.ROW, *stats, *(f"{n}@n" for n, (_, p) in stats.items() if p is not None),
                 *(e.meta.output_name() for e in extra)]
        frame = pl.DataFrame(schema={**dict.fromkeys(keys, pl.String),
                                     **{n: schema.get(n, pl.Int64) for n in names}})
    values = frame.select([pl.col(c).cast(t) if c in frame.columns else pl.lit(None, t).alias(c)
                           for c, t in schema.items()])
    people = [c for c in frame.columns if c == dc.ROW or c.endswith(("@n", dc.BELOW, dc.ABOVE))]
    contributors = frame.select(*keys, *people).rename(
        {c: c[:-2] for c in people if c.endswith("@n")})
    return values, contributors


def outcomes_by_group(frames: dict[str, pl.DataFrame], users: pl.DataFrame, pub: Publication,
                      cutoff: datetime | None = None) -> Table:
    outcomes = user_outcomes(frames["assessment"])
    data = outcomes.join(users.drop("first_session"), on="subject", how="inner").with_columns(
        period=_quarter("baseline_at"))
    schema = {"period": pl.String, "dimension": pl.String, "grp": pl.String,
              **{c: pl.Int64 for c in OUTCOME_COUNTS},
              "mean_phq9_change": pl.Float64, "mean_gad7_change": pl.Float64}
    stats = {"users": (pl.len(), pl.col("subject").n_unique()),
             **{m: (pl.col(m).sum(), _people(m)) for m in OUTCOME_COUNTS[1:]},
             "mean_phq9_change": (pl.col("phq9_change").mean().round(1),
                                  pl.col("subject").filter(pl.col("phq9_change").is_not_null()).n_unique()),
             "mean_gad7_change": (pl.col("gad7_change").mean().round(1),
                                  pl.col("subject").filter(pl.col("gad7_change").is_not_null()).n_unique())}
    values, contributors = _long(data, stats, [], schema, cutoff=cutoff)
    spec = dc.Spec(counts={"users": None, "caseness": "users", "recovery": "caseness",
                           "reliable_improvement": "users", "reliable_recovery": "caseness",
                           "reliable_deterioration": "users"},
                   size="users", group_sizes=("users", "caseness"),
                   means=("mean_phq9_change", "mean_gad7_change"),
                   rates={f"{num}_rate": (num, den) for num, den in OUTCOME_RATES.items()})
    released, n = dc.protect(values, contributors, spec, pub)
    frame = released.sort("period", "dimension", "grp")
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
        "mean_phq9_change": f"Mean PHQ-9 change, final minus baseline, over users with a PHQ-9 pair (NULL under {pub.minimum_group_size} such users)",
        "mean_gad7_change": f"Mean GAD-7 change, final minus baseline, over users with a GAD-7 pair (NULL under {pub.minimum_group_size} such users)",
    }
    for num, den in OUTCOME_RATES.items():
        cols[f"{num}_rate"] = f"{num} / {den}, from the released counts"
        cols[f"{num}_rate_lo"] = f"Lower bound of the 95% Wilson interval of {num}_rate"
        cols[f"{num}_rate_hi"] = f"Upper bound of the 95% Wilson interval of {num}_rate"
        cols[f"{num}_rate_ratio"] = f"{num}_rate divided by the overall rate of the same period"
    return Table("outcomes_by_group", frame,
                 "PHQ-9/GAD-7 outcomes (NHS Talking Therapies definitions) per quarter and group, "
                 f"research-consented users. {dc.describe(pub)}", cols, n, spec, contributors)


def engagement_by_group(users: pl.DataFrame, pub: Publication,
                        cutoff: datetime | None = None) -> Table:
    data = users.with_columns(period=_quarter("first_session"))
    schema = {"period": pl.String, "dimension": pl.String, "grp": pl.String, "users": pl.Int64,
              "sessions": pl.Int64, "one_session_only": pl.Int64,
              "median_sessions_per_user": pl.Float64}
    everyone = pl.col("subject").n_unique()
    stats = {"users": (pl.len(), everyone), "sessions": (pl.col("sessions").sum(), everyone),
             "one_session_only": ((pl.col("sessions") == 1).sum(),
                                  pl.col("subject").filter(pl.col("sessions") == 1).n_unique())}
    values, contributors = _long(data, stats,
                                 _percentile("sessions", 0.5, "median_sessions_per_user"), schema,
                                 cutoff=cutoff)
    spec = dc.Spec(counts={"users": None, "sessions": None, "one_session_only": "users"},
                   size="users", group_sizes=("users",),
                   percentiles={"median_sessions_per_user": 0.5},
                   rates={"one_session_only_rate": ("one_session_only", "users")})
    released, n = dc.protect(values, contributors, spec, pub)
    frame = released.sort("period", "dimension", "grp")
    cols = {
        "period": "Calendar quarter of the user's first session",
        "dimension": "Grouping dimension", "grp": "Group within the dimension",
        "users": "Users whose first session falls in the period",
        "sessions": "Sessions of those users (all time)",
        "one_session_only": "Users who never came back after their first session (drop-out)",
        "median_sessions_per_user": f"Median sessions per user (NULL unless {pub.minimum_group_size}+ users are at or below it and at or above it)",
        "one_session_only_rate": "Drop-out after one session, from the released counts",
        "one_session_only_rate_lo": "Lower bound of the 95% Wilson interval of the drop-out rate",
        "one_session_only_rate_hi": "Upper bound of the 95% Wilson interval of the drop-out rate",
        "one_session_only_rate_ratio": "Drop-out rate divided by the overall rate of the period",
    }
    return Table("engagement_by_group", frame,
                 f"Engagement per quarter and group, research-consented users. {dc.describe(pub)}",
                 cols, n, spec, contributors)


def safety_escalation(frames: dict[str, pl.DataFrame], subjects: set[str], pub: Publication,
                      cutoff: datetime | None = None) -> Table:
    keep = pl.col("subject").is_in(list(subjects))
    sessions = frames["session_started"].filter(keep).select(
        "session_id", "subject", pl.col("occurred_at").dt.strftime("%Y-%m").alias("period"),
        overall=pl.lit("all"), model_version=model_version_label(pl.col("model_version")))
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
                   .with_columns(high=pl.col("flag_high") | pl.col("flag_imminent"))
                   .with_columns(no_connection=pl.col("high") & pl.col("minutes").is_null()))
    counts = {"sessions": None,
              **{f"sessions_flag_{lv}": "sessions" for lv in RISK_LEVELS},
              **{f"sessions_escalation_{a}": "sessions" for a in ESCALATIONS},
              "sessions_high_flag": "sessions",
              "sessions_high_flag_no_connection": "sessions_high_flag"}
    schema = {"period": pl.String, "dimension": pl.String, "grp": pl.String,
              **{c: pl.Int64 for c in counts},
              "median_minutes_to_connection": pl.Float64, "p90_minutes_to_connection": pl.Float64}
    stats = {"sessions": (pl.len(), pl.col("subject").n_unique()),
             **{f"sessions_flag_{lv}": (pl.col(f"flag_{lv}").sum(), _people(f"flag_{lv}"))
                for lv in RISK_LEVELS},
             **{f"sessions_escalation_{a}": (pl.col(f"esc_{a}").sum(), _people(f"esc_{a}"))
                for a in ESCALATIONS},
             "sessions_high_flag": (pl.col("high").sum(), _people("high")),
             "sessions_high_flag_no_connection": (pl.col("no_connection").sum(),
                                                  _people("no_connection"))}
    extra = [*_percentile("minutes", 0.5, "median_minutes_to_connection"),
             *_percentile("minutes", 0.9, "p90_minutes_to_connection")]
    values, contributors = _long(per_session, stats, extra, schema,
                                 dims=("overall", "model_version"), cutoff=cutoff)
    spec = dc.Spec(counts=counts, size="sessions",
                   percentiles={"median_minutes_to_connection": 0.5,
                                "p90_minutes_to_connection": 0.9})
    released, n = dc.protect(values, contributors, spec, pub)
    frame = released.sort("period", "dimension", "grp")
    k = pub.minimum_group_size
    cols = {"period": "Calendar month (UTC) of session start",
            "dimension": "overall, or model_version (the AI model that served the session)",
            "grp": "'all' for overall, else the model version",
            "sessions": "Sessions started",
            **{f"sessions_flag_{lv}": f"Sessions with a {lv} risk flag" for lv in RISK_LEVELS},
            **{f"sessions_escalation_{a}": f"Sessions where escalation was {a}" for a in ESCALATIONS},
            "sessions_high_flag": "Sessions with a high or imminent risk flag",
            "sessions_high_flag_no_connection": "Of those, sessions with no human connection after the flag",
            "median_minutes_to_connection": f"Median minutes from the first high/imminent flag to a human connection, connected sessions only (NULL unless {k}+ people are at or below it and at or above it)",
            "p90_minutes_to_connection": f"90th percentile of those minutes, connected sessions only (NULL unless {k}+ people are at or below it and at or above it)"}
    return Table("safety_escalation", frame,
                 "Risk flags and escalation to a human per month, overall and by model version, "
                 f"research-consented users. {dc.describe(pub)} Counts are of sessions; their "
                 "people are counted too and must pass the same rules.", cols, n, spec, contributors)


def consent_coverage(users: pl.DataFrame, research: set[str], pub: Publication) -> Table:
    data = users.with_columns(period=pl.lit("all"),
                              research=pl.col("subject").is_in(list(research)))
    schema = {"period": pl.String, "dimension": pl.String, "grp": pl.String,
              "users": pl.Int64, "research_users": pl.Int64}
    stats = {"users": (pl.len(), pl.col("subject").n_unique()),
             "research_users": (pl.col("research").sum(), _people("research"))}
    values, contributors = _long(data, stats, [], schema)
    spec = dc.Spec(counts={"users": None, "research_users": "users"}, size="users",
                   group_sizes=("users", "research_users"),
                   rates={"research_share": ("research_users", "users")}, ratios=False)
    released, n = dc.protect(values, contributors, spec, pub)
    frame = released.drop("period").sort("dimension", "grp")
    k = pub.minimum_group_size
    return Table("consent_coverage", frame,
                 "Who is in the evidence: all users with a session, and those whose data may be "
                 f"used for research, per group. {dc.describe(pub)} Research users are a group "
                 f"size of the other tables, so they too need {k}+ people.",
                 {"dimension": "Grouping dimension", "grp": "Group within the dimension",
                  "users": "Users with at least one session",
                  "research_users": f"Of those, users whose data may be used for research (NULL under {k})",
                  "research_share": "research_users / users, from the released counts",
                  "research_share_lo": "Lower bound of the 95% Wilson interval of research_share",
                  "research_share_hi": "Upper bound of the 95% Wilson interval of research_share"},
                 n, spec, contributors)


def research_tables(frames: dict[str, pl.DataFrame], research: set[str], pub: Publication,
                    cutoff: datetime | None = None) -> list[Table]:
    """The research tables from events before `cutoff` (all when None), periods closed by
    it only, for the `research` population (consent_coverage: everyone, for comparison)."""
    if cutoff is not None:
        frames = {k: (f.filter(pl.col("occurred_at") < cutoff) if "occurred_at" in f.columns else f)
                  for k, f in frames.items()}
    users = user_groups(frames)
    consented = users.filter(pl.col("subject").is_in(list(research)))
    keep = pl.col("subject").is_in(list(research))
    return [
        outcomes_by_group({"assessment": frames["assessment"].filter(keep)}, consented, pub, cutoff),
        engagement_by_group(consented, pub, cutoff),
        safety_escalation(frames, research, pub, cutoff),
        consent_coverage(users, research, pub),
    ]

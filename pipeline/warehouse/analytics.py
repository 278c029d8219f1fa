"""Aggregate research tables from the (decrypted, in-memory) intake frames.

Only subjects whose data may be used for `research` enter the outcome, engagement and
safety tables; `consent_coverage` compares them with everyone, so readers can see who is
missing from the evidence and why. Outcome measures follow NHS Talking Therapies
definitions (`outcomes.py`, docs/session-events.md). Every table goes through
`disclosure_control.protect` before it leaves this package; rates and intervals are
computed from the released counts (shares in consent_coverage: from exact counts, released
rounded). The safety tables are in `safety.py`, consent coverage in `coverage.py`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import polars as pl

from ..consent import latest_profile
from ..generalise import (age_band, deprivation_quintile, ethnicity_group, gender_group,
                          language_group, postcode_region)
from ..policy import Policy, Publication
from .cadence import closed
from . import disclosure_control as dc
from .labels import CROSS_DIMENSIONS, CROSSES, DIMENSIONS, NOT_RECORDED, model_version_label
from .outcomes import OUTCOME_COUNTS, OUTCOME_RATES, user_outcomes

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
    ).with_columns(**{dc.cross(a, b): pl.concat_str([a, b], separator=dc.SEP)
                      for a, b in CROSSES}
    ).select("subject", "first_session", "sessions", *DIMENSIONS, *CROSS_DIMENSIONS)


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
    """Outcomes per baseline quarter, for every one-way dimension and every two-way
    breakdown (`labels.CROSSES`), protected together: a two-way slice adds up to its one-way
    cell, and secondary suppression follows those sums too. `outcomes_by_intersection` is
    a view of the two-way rows (publish.py)."""
    outcomes = user_outcomes(frames["assessment"], frames["session_started"])
    data = outcomes.join(users.drop("first_session"), on="subject", how="inner").with_columns(
        period=_quarter("baseline_at"))
    schema = {"period": pl.String, "dimension": pl.String, "grp": pl.String,
              **{c: pl.Int64 for c in OUTCOME_COUNTS},
              "mean_phq9_change": pl.Float64, "mean_gad7_change": pl.Float64}
    stats = {"finished_treatment": (pl.len(), pl.col("subject").n_unique()),
             **{m: (pl.col(m).sum(), _people(m)) for m in OUTCOME_COUNTS[1:]},
             "mean_phq9_change": (pl.col("phq9_change").mean().round(1),
                                  pl.col("subject").filter(pl.col("phq9_change").is_not_null()).n_unique()),
             "mean_gad7_change": (pl.col("gad7_change").mean().round(1),
                                  pl.col("subject").filter(pl.col("gad7_change").is_not_null()).n_unique())}
    values, contributors = _long(data, stats, [], schema, dims=(*DIMENSIONS, *CROSS_DIMENSIONS),
                                 cutoff=cutoff)
    spec = dc.Spec(counts={"finished_treatment": None, "caseness": "finished_treatment",
                           "recovery": "caseness", "reliable_improvement": "finished_treatment",
                           "reliable_recovery": "caseness",
                           "reliable_deterioration": "finished_treatment"},
                   size="finished_treatment", group_sizes=("finished_treatment", "caseness"),
                   means=("mean_phq9_change", "mean_gad7_change"),
                   rates={f"{num}_rate": (num, den) for num, den in OUTCOME_RATES.items()})
    released, n = dc.protect(values, contributors, spec, pub)
    frame = released.sort("period", "dimension", "grp")
    k = pub.minimum_group_size
    cols = {
        "period": "Calendar quarter of the person's first measured contact (baseline)",
        "dimension": "Grouping dimension: " + ", ".join(DIMENSIONS) + "; two-way: "
                     + ", ".join(CROSS_DIMENSIONS) + " (see the outcomes_by_intersection view)",
        "grp": "Group within the dimension (age band at first session; controlled vocabularies; "
               "two-way groups read '<a> / <b>')",
        "finished_treatment": "People who finished treatment (NHS Talking Therapies): 2+ sessions "
                              "and PHQ-9 and GAD-7 both recorded at 2+ contacts (first and last paired)",
        "caseness": "Of those, at caseness at the first measured contact (PHQ-9 >= 10 or GAD-7 >= 8)",
        "recovery": "At caseness first, and PHQ-9 < 10 and GAD-7 < 8 at the last measured contact",
        "reliable_improvement": "PHQ-9 fell >= 6 or GAD-7 fell >= 4, and neither rose reliably",
        "reliable_recovery": "Recovery and reliable improvement",
        "reliable_deterioration": "PHQ-9 rose >= 6 or GAD-7 rose >= 4, and neither fell reliably",
        "mean_phq9_change": f"Mean PHQ-9 change, last minus first measured contact (NULL under {k} people)",
        "mean_gad7_change": f"Mean GAD-7 change, last minus first measured contact (NULL under {k} people)",
    }
    for num, den in OUTCOME_RATES.items():
        cols[f"{num}_rate"] = f"{num} / {den}, from the released counts (NHS Talking Therapies rate)"
        cols[f"{num}_rate_lo"] = f"Lower bound of the 95% Wilson interval of {num}_rate"
        cols[f"{num}_rate_hi"] = f"Upper bound of the 95% Wilson interval of {num}_rate"
        cols[f"{num}_rate_ratio"] = f"{num}_rate divided by the overall rate of the same period"
        cols[f"{num}_rate_ratio_lo"] = f"Lower bound of the 95% interval of {num}_rate_ratio (Katz log method, conservative)"
        cols[f"{num}_rate_ratio_hi"] = f"Upper bound of the 95% interval of {num}_rate_ratio (Katz log method, conservative)"
    return Table("outcomes_by_group", frame,
                 "PHQ-9/GAD-7 outcomes of people who finished treatment (NHS Talking Therapies "
                 "definitions) per quarter and group, one-way and two-way, research-consented "
                 f"people. {dc.describe(pub)}", cols, n, spec, contributors)


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
        "one_session_only_rate_ratio_lo": "Lower bound of the 95% interval of the ratio (Katz log method, conservative)",
        "one_session_only_rate_ratio_hi": "Upper bound of the 95% interval of the ratio (Katz log method, conservative)",
    }
    return Table("engagement_by_group", frame,
                 f"Engagement per quarter and group, research-consented users. {dc.describe(pub)}",
                 cols, n, spec, contributors)


def research_tables(frames: dict[str, pl.DataFrame], research: set[str], policy: Policy,
                    reasons: pl.DataFrame, cutoff: datetime | None = None) -> list[Table]:
    """The research tables from events before `cutoff` (all when None), periods closed by
    it only, for the `research` population (consent_coverage: everyone, with `reasons`, the
    consent ledger's reason per person; safety_alerts: the model-version safety gate on this
    population and cutoff)."""
    from .coverage import consent_coverage
    from .safety import safety_alerts_table, safety_escalation, safety_reconciliation
    from .safety_gate import evaluate

    pub = policy.publication
    if cutoff is not None:
        frames = {k: (f.filter(pl.col("occurred_at") < cutoff) if "occurred_at" in f.columns else f)
                  for k, f in frames.items()}
    users = user_groups(frames)
    consented = users.filter(pl.col("subject").is_in(list(research)))
    keep = pl.col("subject").is_in(list(research))
    mine = {k: frames[k].filter(keep) for k in ("assessment", "session_started")}
    return [
        outcomes_by_group(mine, consented, pub, cutoff),
        engagement_by_group(consented, pub, cutoff),
        safety_escalation(frames, users, research, policy, cutoff),
        safety_reconciliation(frames, research, pub, cutoff),
        consent_coverage(users, reasons, pub),
        safety_alerts_table(evaluate(frames, research, policy), policy),
    ]

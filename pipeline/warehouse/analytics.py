"""The outcome and engagement tables from the (decrypted, in-memory) intake frames.

Only subjects whose data may be used for `research` enter the outcome, engagement and
safety tables; `consent_coverage` compares them with everyone, so readers can see who is
missing from the evidence and why. Outcome measures follow NHS Talking Therapies
definitions (`outcomes.py`, docs/session-events.md). Every table goes through
`disclosure_control.protect` before it leaves this package; rates and intervals are
computed from the released counts (shares in consent_coverage: from exact counts, released
rounded). The safety tables are in `safety.py`, consent coverage in `coverage.py`, the
whole set in `research.py`.
"""

from __future__ import annotations

from datetime import datetime

import polars as pl

from pipeline.policy import Publication
from pipeline.warehouse import disclosure_control as dc
from pipeline.warehouse.labels import CROSS_DIMENSIONS, DIMENSIONS
from pipeline.warehouse.outcomes import OUTCOME_COUNTS, OUTCOME_RATES, user_outcomes
from pipeline.warehouse.tables import Table, long_table, people, percentile, quarter

def outcomes_by_group(frames: dict[str, pl.DataFrame], users: pl.DataFrame, pub: Publication,
                      cutoff: datetime | None = None) -> Table:
    """Outcomes per baseline quarter, for every one-way dimension and every two-way
    breakdown (`labels.CROSSES`), protected together: a two-way slice adds up to its one-way
    cell, and secondary suppression follows those sums too. `outcomes_by_intersection` is
    a view of the two-way rows (publish.py)."""
    outcomes = user_outcomes(frames["assessment"], frames["session_started"])
    data = outcomes.join(users.drop("first_session"), on="subject", how="inner").with_columns(
        period=quarter("baseline_at"))
    schema = {"period": pl.String, "dimension": pl.String, "grp": pl.String,
              **{c: pl.Int64 for c in OUTCOME_COUNTS},
              "mean_phq9_change": pl.Float64, "mean_gad7_change": pl.Float64}
    stats = {"finished_treatment": (pl.len(), pl.col("subject").n_unique()),
             **{m: (pl.col(m).sum(), people(m)) for m in OUTCOME_COUNTS[1:]},
             "mean_phq9_change": (pl.col("phq9_change").mean().round(1),
                                  pl.col("subject").filter(pl.col("phq9_change").is_not_null()).n_unique()),
             "mean_gad7_change": (pl.col("gad7_change").mean().round(1),
                                  pl.col("subject").filter(pl.col("gad7_change").is_not_null()).n_unique())}
    values, contributors = long_table(data, stats, [], schema, dims=(*DIMENSIONS, *CROSS_DIMENSIONS),
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
    data = users.with_columns(period=quarter("first_session"))
    schema = {"period": pl.String, "dimension": pl.String, "grp": pl.String, "users": pl.Int64,
              "sessions": pl.Int64, "one_session_only": pl.Int64,
              "median_sessions_per_user": pl.Float64}
    everyone = pl.col("subject").n_unique()
    stats = {"users": (pl.len(), everyone), "sessions": (pl.col("sessions").sum(), everyone),
             "one_session_only": ((pl.col("sessions") == 1).sum(),
                                  pl.col("subject").filter(pl.col("sessions") == 1).n_unique())}
    values, contributors = long_table(data, stats,
                                 percentile("sessions", 0.5, "median_sessions_per_user"), schema,
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

"""Crisis oversight tables: does every person in crisis reach a human in time, and does the
AI miss crises?

- `safety_escalation`: per month and group (overall, model version, age band, gender,
  ethnicity, deprivation, channel), per session and per flag: risk flags, escalations
  offered / accepted / declined / connected, high or imminent flags never connected to a
  human, and connected within each target of `safety.connection_targets_minutes`.
- `safety_reconciliation`: per month and model version, the audit of the AI's crisis
  detection: PHQ-9 assessments with item 9 (thoughts of self-harm) >= 1, and of those the
  ones with no high/imminent flag within 24 hours before or after; flagged sessions with no
  escalation offered, or never connected.
- `safety_alerts`: the model-version safety gate's findings (`safety_gate.py`).

Time to a human is measured from a high/imminent flag to the first `connected` escalation
at or after it in the same session; a flag with none is "never connected".
"""

from __future__ import annotations

from datetime import datetime, timedelta

import polars as pl

from pipeline.policy import Policy, Publication
from pipeline.risk import HIGH, RISK_LEVELS
from pipeline.warehouse import disclosure_control as dc
from pipeline.warehouse.tables import Table, long_table, people, percentile
from pipeline.warehouse.labels import NOT_RECORDED, model_version_label
from pipeline.warehouse.outcomes import contacts
ESCALATIONS = ("offered", "accepted", "declined", "connected")
ITEM9_WINDOW = timedelta(hours=24)
SAFETY_DIMENSIONS = ("overall", "model_version", "age_band", "gender", "ethnicity",
                     "deprivation_quintile", "channel")


def within(n: int) -> str:
    return f"connected_within_{n}_min"


def session_safety(frames: dict[str, pl.DataFrame], subjects: set[str],
                   targets: tuple[int, ...]) -> pl.DataFrame:
    """One row per session of `subjects`: month, model version and channel labels, a flag
    per risk level and escalation action, and the time to a human (see the module)."""
    keep = pl.col("subject").is_in(list(subjects))
    sessions = frames["session_started"].filter(keep).select(
        "session_id", "subject", "occurred_at",
        pl.col("occurred_at").dt.strftime("%Y-%m").alias("period"),
        model_version=model_version_label(pl.col("model_version")),
        channel=pl.col("channel").fill_null(NOT_RECORDED))
    flags = frames["risk_flag"].filter(keep)
    esc = frames["escalation"].filter(keep)
    out = sessions
    for level in RISK_LEVELS:
        out = out.join(flags.filter(pl.col("level") == level).select("session_id").unique()
                       .with_columns(pl.lit(True).alias(f"flag_{level}")), on="session_id", how="left")
    for action in ESCALATIONS:
        out = out.join(esc.filter(pl.col("action") == action).select("session_id").unique()
                       .with_columns(pl.lit(True).alias(f"esc_{action}")), on="session_id", how="left")
    high = (flags.filter(pl.col("level").is_in(HIGH)).select("session_id", t=pl.col("occurred_at"))
            .drop_nulls().sort("t"))
    conn = (esc.filter(pl.col("action") == "connected")
            .select("session_id", tc=pl.col("occurred_at")).drop_nulls().sort("tc"))
    per_flag = high.join_asof(conn, left_on="t", right_on="tc", by="session_id",
                              strategy="forward", check_sortedness=False).with_columns(
        minutes=(pl.col("tc") - pl.col("t")).dt.total_seconds() / 60)
    agg = per_flag.group_by("session_id").agg(
        pl.len().alias("flags_high"),
        pl.col("minutes").is_null().sum().alias("flags_high_never_connected"),
        *[(pl.col("minutes") <= n).sum().alias(f"flags_{within(n)}") for n in targets],
        pl.col("minutes").sort_by("t").first().alias("minutes"))
    bools = [f"flag_{lv}" for lv in RISK_LEVELS] + [f"esc_{a}" for a in ESCALATIONS]
    flag_counts = ["flags_high", "flags_high_never_connected", *[f"flags_{within(n)}" for n in targets]]
    out = (out.join(agg, on="session_id", how="left")
           .with_columns(pl.col(bools).fill_null(False), pl.col(flag_counts).fill_null(0))
           .with_columns(high=pl.col("flag_high") | pl.col("flag_imminent")))
    return out.with_columns(
        never_connected=pl.col("high") & pl.col("minutes").is_null(),
        no_offer=pl.col("high") & ~pl.col("esc_offered"),
        **{within(n): pl.col("high") & (pl.col("minutes") <= n).fill_null(False) for n in targets})


def _some(col: str) -> pl.Expr:
    """Distinct people with a positive count in `col`."""
    return pl.col("subject").filter(pl.col(col) > 0).n_unique()


def safety_escalation(frames: dict[str, pl.DataFrame], users: pl.DataFrame, subjects: set[str],
                      policy: Policy, cutoff: datetime | None = None) -> Table:
    pub, targets = policy.publication, policy.safety.connection_targets_minutes
    groups = users.select("subject", "age_band", "gender", "ethnicity", "deprivation_quintile")
    rows = session_safety(frames, subjects, targets).join(groups, on="subject", how="left") \
        .with_columns(overall=pl.lit("all"))
    counts: dict[str, str | None] = {
        "sessions": None,
        **{f"sessions_flag_{lv}": "sessions" for lv in RISK_LEVELS},
        "sessions_high_flag": "sessions",
        "sessions_escalation_offered": "sessions",
        **{f"sessions_escalation_{a}": "sessions_escalation_offered" for a in ESCALATIONS[1:]},
        "sessions_high_flag_never_connected": "sessions_high_flag",
        **{f"sessions_{within(n)}": "sessions_high_flag" for n in targets},
        "flags_high": None,
        "flags_high_never_connected": "flags_high",
        **{f"flags_{within(n)}": "flags_high" for n in targets},
    }
    stats = {"sessions": (pl.len(), pl.col("subject").n_unique()),
             **{f"sessions_flag_{lv}": (pl.col(f"flag_{lv}").sum(), people(f"flag_{lv}"))
                for lv in RISK_LEVELS},
             "sessions_high_flag": (pl.col("high").sum(), people("high")),
             **{f"sessions_escalation_{a}": (pl.col(f"esc_{a}").sum(), people(f"esc_{a}"))
                for a in ESCALATIONS},
             "sessions_high_flag_never_connected": (pl.col("never_connected").sum(),
                                                    people("never_connected")),
             **{f"sessions_{within(n)}": (pl.col(within(n)).sum(), people(within(n)))
                for n in targets},
             **{c: (pl.col(c).sum(), _some(c)) for c in ("flags_high", "flags_high_never_connected",
                                                          *[f"flags_{within(n)}" for n in targets])}}
    schema = {"period": pl.String, "dimension": pl.String, "grp": pl.String,
              **{c: pl.Int64 for c in stats},
              "median_minutes_to_connection": pl.Float64, "p90_minutes_to_connection": pl.Float64}
    extra = [*percentile("minutes", 0.5, "median_minutes_to_connection"),
             *percentile("minutes", 0.9, "p90_minutes_to_connection")]
    values, contributors = long_table(rows, stats, extra, schema, dims=SAFETY_DIMENSIONS, cutoff=cutoff)
    rates = {"never_connected_rate": ("sessions_high_flag_never_connected", "sessions_high_flag"),
             **{f"{within(n)}_rate": (f"sessions_{within(n)}", "sessions_high_flag") for n in targets},
             "flags_never_connected_rate": ("flags_high_never_connected", "flags_high"),
             **{f"flags_{within(n)}_rate": (f"flags_{within(n)}", "flags_high") for n in targets},
             "escalation_declined_rate": ("sessions_escalation_declined", "sessions_escalation_offered")}
    spec = dc.Spec(counts=counts, size="sessions",
                   percentiles={"median_minutes_to_connection": 0.5,
                                "p90_minutes_to_connection": 0.9}, rates=rates)
    released, n = dc.protect(values, contributors, spec, pub)
    k = pub.minimum_group_size
    cols = {"period": "Calendar month (UTC) of session start",
            "dimension": "overall, model_version (the AI model that served the session), age_band, "
                         "gender, ethnicity, deprivation_quintile or channel (of the session)",
            "grp": "Group within the dimension ('all' for overall)",
            "sessions": "Sessions started",
            **{f"sessions_flag_{lv}": f"Sessions with a {lv} risk flag" for lv in RISK_LEVELS},
            "sessions_high_flag": "Sessions with a high or imminent risk flag",
            "sessions_escalation_offered": "Sessions where escalation to a human was offered",
            **{f"sessions_escalation_{a}": f"Sessions where the escalation was {a}"
               for a in ESCALATIONS[1:]},
            "sessions_high_flag_never_connected": "Sessions with a high/imminent flag where no human connected after the first such flag",
            **{f"sessions_{within(n)}": f"Sessions with a high/imminent flag where a human connected within {n} minutes of the first such flag"
               for n in targets},
            "flags_high": "High or imminent risk flags (events; a session may have several)",
            "flags_high_never_connected": "Of those flags, the ones with no human connection at or after them in the session",
            **{f"flags_{within(n)}": f"Of those flags, the ones followed by a human connection within {n} minutes"
               for n in targets},
            "median_minutes_to_connection": f"Median minutes from the first high/imminent flag to a human connection, connected sessions only: never-connected sessions are not in it (NULL unless {k}+ people are at or below it and at or above it)",
            "p90_minutes_to_connection": f"90th percentile of those minutes, connected sessions only (NULL unless {k}+ people are at or below it and at or above it)",
            "never_connected_rate": "sessions_high_flag_never_connected / sessions_high_flag, from the released counts",
            **{f"{within(n)}_rate": f"sessions_{within(n)} / sessions_high_flag: the share of flagged sessions that reached a human within {n} minutes"
               for n in targets},
            "flags_never_connected_rate": "flags_high_never_connected / flags_high",
            **{f"flags_{within(n)}_rate": f"flags_{within(n)} / flags_high: the share of high/imminent flags answered by a human within {n} minutes"
               for n in targets},
            "escalation_declined_rate": "sessions_escalation_declined / sessions_escalation_offered"}
    _document_rates(cols, rates)
    return Table("safety_escalation", released.sort("period", "dimension", "grp"),
                 "Risk flags and escalation to a human per month and group, per session and per "
                 f"flag, research-consented people. {dc.describe(pub)} Counts are of sessions or "
                 "flags; their people are counted too and must pass the same rules.",
                 cols, n, spec, contributors)


def _document_rates(cols: dict, rates: dict) -> None:
    for r in rates:
        cols.setdefault(r, f"{rates[r][0]} / {rates[r][1]}, from the released counts")
        cols[f"{r}_lo"] = f"Lower bound of the 95% Wilson interval of {r}"
        cols[f"{r}_hi"] = f"Upper bound of the 95% Wilson interval of {r}"
        cols[f"{r}_ratio"] = f"{r} divided by the overall rate of the same period"
        cols[f"{r}_ratio_lo"] = f"Lower bound of the 95% interval of {r}_ratio (Katz log method, conservative)"
        cols[f"{r}_ratio_hi"] = f"Upper bound of the 95% interval of {r}_ratio (Katz log method, conservative)"


def item9_assessments(frames: dict[str, pl.DataFrame], subjects: set[str]) -> pl.DataFrame:
    """Every PHQ-9 assessment of `subjects`, by its own time: its month, the model version of
    the session it belongs to ("not recorded" when none: answered before any session, or
    naming a session missing from the log), whether item 9 is >= 1 and whether a
    high/imminent flag of the same person falls within 24 hours before or after."""
    keep = pl.col("subject").is_in(list(subjects))
    sessions = frames["session_started"].filter(keep)
    phq = contacts(frames["assessment"].filter(keep & (pl.col("instrument") == "PHQ-9")), sessions,
                   keep_all=True)
    phq = phq.with_row_index("_a").join(
        sessions.select(pl.col("session_id").alias("contact"), "model_version"), on="contact",
        how="left").with_columns(
        period=pl.col("occurred_at").dt.strftime("%Y-%m"),
        model_version=model_version_label(pl.col("model_version")),
        item9=pl.col("items").list.get(8, null_on_oob=True).fill_null(0) >= 1)
    flags = frames["risk_flag"].filter(keep & pl.col("level").is_in(HIGH)).select(
        "subject", tf=pl.col("occurred_at"))
    near = (phq.filter(pl.col("item9")).select("_a", "subject", "occurred_at")
            .join(flags, on="subject", how="inner")
            .filter((pl.col("tf") - pl.col("occurred_at")).abs() <= ITEM9_WINDOW)
            .select("_a").unique())
    return phq.with_columns(flagged=pl.col("_a").is_in(near["_a"].implode())).with_columns(
        missed=pl.col("item9") & ~pl.col("flagged")).drop("_a")


def safety_reconciliation(frames: dict[str, pl.DataFrame], subjects: set[str], pub: Publication,
                          cutoff: datetime | None = None) -> Table:
    a = item9_assessments(frames, subjects).select(
        "subject", "period", "model_version", is_assessment=pl.lit(True), item9="item9",
        missed="missed")
    s = session_safety(frames, subjects, ()).select(
        "subject", "period", "model_version", "high", "no_offer", "never_connected")
    rows = pl.concat([a, s], how="diagonal_relaxed").with_columns(
        pl.col("is_assessment", "item9", "missed", "high", "no_offer", "never_connected")
        .fill_null(False), overall=pl.lit("all"))
    stats = {"assessments_phq9": (pl.col("is_assessment").sum(), people("is_assessment")),
             "assessments_item9_positive": (pl.col("item9").sum(), people("item9")),
             "item9_positive_without_flag_24h": (pl.col("missed").sum(), people("missed")),
             "sessions_high_flag": (pl.col("high").sum(), people("high")),
             "sessions_high_flag_no_escalation_offered": (pl.col("no_offer").sum(), people("no_offer")),
             "sessions_high_flag_never_connected": (pl.col("never_connected").sum(),
                                                    people("never_connected"))}
    schema = {"period": pl.String, "dimension": pl.String, "grp": pl.String,
              **{c: pl.Int64 for c in stats}}
    values, contributors = long_table(rows, stats, [], schema, dims=("overall", "model_version"),
                                 cutoff=cutoff)
    rates = {"item9_missed_rate": ("item9_positive_without_flag_24h", "assessments_item9_positive"),
             "no_escalation_offered_rate": ("sessions_high_flag_no_escalation_offered", "sessions_high_flag"),
             "never_connected_rate": ("sessions_high_flag_never_connected", "sessions_high_flag")}
    spec = dc.Spec(counts={"assessments_phq9": None,
                           "assessments_item9_positive": "assessments_phq9",
                           "item9_positive_without_flag_24h": "assessments_item9_positive",
                           "sessions_high_flag": None,
                           "sessions_high_flag_no_escalation_offered": "sessions_high_flag",
                           "sessions_high_flag_never_connected": "sessions_high_flag"},
                   size="assessments_phq9", rates=rates)
    released, n = dc.protect(values, contributors, spec, pub)
    cols = {"period": "Calendar month (UTC) of the assessment, or of the session start",
            "dimension": "overall, or model_version (of the session the assessment or flag belongs to)",
            "grp": "'all' for overall, else the model version",
            "assessments_phq9": "PHQ-9 assessments",
            "assessments_item9_positive": "PHQ-9 assessments with item 9 (thoughts of self-harm) >= 1",
            "item9_positive_without_flag_24h": "Of those, the ones with no high or imminent risk flag for the person within 24 hours before or after: crises the AI may have missed",
            "sessions_high_flag": "Sessions with a high or imminent risk flag",
            "sessions_high_flag_no_escalation_offered": "Of those, sessions where escalation to a human was never offered",
            "sessions_high_flag_never_connected": "Of those, sessions where no human connected after the first such flag",
            "item9_missed_rate": "item9_positive_without_flag_24h / assessments_item9_positive, from the released counts",
            "no_escalation_offered_rate": "sessions_high_flag_no_escalation_offered / sessions_high_flag",
            "never_connected_rate": "sessions_high_flag_never_connected / sessions_high_flag"}
    _document_rates(cols, rates)
    return Table("safety_reconciliation", released.sort("period", "dimension", "grp"),
                 "Audit of the AI's crisis detection per month and model version: self-harm "
                 "answers (PHQ-9 item 9) without a risk flag, flagged sessions without an "
                 f"escalation or a human. Research-consented people. {dc.describe(pub)}",
                 cols, n, spec, contributors)


ALERT_COLUMNS = {
    "model_version": "The model version that is worse than its predecessor",
    "previous_model_version": "The model version it is compared with (the one first seen before it)",
    "measure": "never_connected (safety_escalation), item9_missed (safety_reconciliation) or reliable_deterioration (outcomes_by_group)",
    "first_seen": "Calendar month (UTC) the model version served its first session",
    "review_dataset": "What a reviewer should read: this transcript dataset's sessions of model_version since first_seen",
}


def safety_alerts_table(alerts: list, policy: Policy) -> Table:
    """The safety gate's findings as a plain table of labels (no counts, no people): the
    figures are in the tables the measure names."""
    rows = [{"model_version": a.model_version, "previous_model_version": a.previous_version,
             "measure": a.measure, "first_seen": a.first_seen, "review_dataset": a.dataset}
            for a in alerts]
    frame = pl.DataFrame(rows, schema=dict.fromkeys(ALERT_COLUMNS, pl.String))
    return Table("safety_alerts", frame.sort("model_version", "measure"),
                 "Model versions that the safety gate found worse than their predecessor by "
                 f"more than {policy.safety.gate_margin:.0%} (95% interval of the difference "
                 f"above zero, {policy.safety.gate_min_people}+ people on each side). Empty "
                 "when none. Human oversight: each row names what to review, never a person.",
                 ALERT_COLUMNS)

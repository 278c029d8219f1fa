"""Differential privacy mode (`publication.mode: dp`): noisy counts, sums, means and rates
through the OpenDP library, with a per-release budget and an annual cap per person.

Accounting is zero-concentrated DP (rho). Each release spends `rho_per_release`, split evenly
over every published statistic family (one table column over all its rows). A person's
contribution is bounded before anything is computed:

- a person is in exactly one group per dimension and one period per table (baseline quarter,
  first-session quarter), except sessions, which are capped at `max_sessions_per_person`
  per person (the earliest are kept) and may fall in several months;
- change scores are clamped to the instrument's range (PHQ-9 +-27, GAD-7 +-21).

So a person moves one column's vector by at most `bound * sqrt(rows they touch)` in L2
norm, and OpenDP's Gaussian measurement (`make_gaussian` on a float vector under the L2
distance) is calibrated to that sensitivity; its privacy map confirms each family's rho.
Row keys never depend on the data: every group of every closed vocabulary, every closed
period inside the intake retention window. The open `model_version` dimension is left out.
Medians and percentiles are not published in this mode.

Post-processing (free under DP): counts are rounded and clipped at 0, and with
`suppress_and_round` counts of 1..threshold become NULL and the rest are rounded to the base;
means are noisy sums over noisy counts; rates come from the released counts, with 95%
intervals that add the noise variance to the sampling variance. The spend of every release
is kept in a private ledger; a release that would take the last 365 days' spend past
`rho_cap_per_year` is not made.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import polars as pl

from pipeline.warehouse import disclosure_control as dc
from pipeline.governance.consent import REASONS
from pipeline.warehouse.tables import Table, quarter, user_groups
from pipeline.warehouse.cadence import period_end
from pipeline.warehouse.coverage import SHARES
from pipeline.warehouse.labels import CROSS_DIMENSIONS, DIMENSIONS, VOCABULARY
from pipeline.warehouse.outcomes import OUTCOME_COUNTS, OUTCOME_RATES, user_outcomes
from pipeline.risk import RISK_LEVELS
from pipeline.warehouse.safety import ESCALATIONS, session_safety, within

LEDGER = "dp-ledger.json"
DP_DIMENSIONS = tuple(d for d in DIMENSIONS if d != "model_version")
CLAMP = {"phq9_change": 27, "gad7_change": 21}
Z_95 = dc.Z_95


class BudgetExhausted(Exception):
    """Publishing would take the annual privacy spend past the policy's cap."""


def ledger_spend(ledger: Path, at: datetime) -> float:
    """rho spent by the releases of the 365 days up to `at`."""
    if not ledger.exists():
        return 0.0
    entries = json.loads(ledger.read_text())
    since = at - timedelta(days=365)
    return sum(e["rho"] for e in entries if datetime.fromisoformat(e["at"]) > since)


def record_spend(ledger: Path, rho: float, at: datetime, release_id: str) -> None:
    entries = json.loads(ledger.read_text()) if ledger.exists() else []
    # append only: a publication killed after this point and rebuilt counts twice, since
    # its first noisy tables may already have been readable (errs on the safe side)
    entries.append({"rho": rho, "at": at.isoformat(), "release_id": release_id})
    tmp = ledger.with_suffix(".tmp")
    tmp.write_text(json.dumps(entries, indent=1))
    os.chmod(tmp, 0o600)
    os.replace(tmp, ledger)


def _gaussian(values: list[float], sensitivity: float, rho: float) -> tuple[list[float], float]:
    """OpenDP's Gaussian mechanism on a vector: noisy values and the noise scale."""
    import opendp.prelude as dp

    dp.enable_features("contrib")
    scale = sensitivity / math.sqrt(2 * rho)
    space = dp.vector_domain(dp.atom_domain(T=float, nan=False)), dp.l2_distance(T=float)
    meas = dp.m.make_gaussian(*space, scale=scale)
    if meas.map(sensitivity) > rho * (1 + 1e-9):  # OpenDP's own accounting must agree
        raise RuntimeError("noise scale does not meet the privacy budget")
    return meas([float(v) for v in values]), scale


def _periods(every: str, cutoff: datetime, retention_days: int) -> list[str]:
    """Every closed period label inside the retention window before the cutoff."""
    start = cutoff - timedelta(days=retention_days)
    out, y, m = [], start.year, start.month
    while True:
        label = f"{y}-{m:02d}" if every == "month" else f"{y}-Q{(m - 1) // 3 + 1}"
        end = period_end(label)
        if end > cutoff:
            break
        if end > start and label not in out:
            out.append(label)
        m += 1
        if m > 12:
            y, m = y + 1, 1
    return out


def _grid(periods: list[str], dims) -> pl.DataFrame:
    """Every (period, dimension, group) a table may have: independent of the data."""
    rows = [(p, d, g) for p in periods for d in dims for g in sorted(VOCABULARY[d])]
    return pl.DataFrame(rows, schema={"period": pl.String, "dimension": pl.String,
                                      "grp": pl.String}, orient="row")


def _aggregate(rows: pl.DataFrame, aggs: list[pl.Expr], grid: pl.DataFrame, dims) -> pl.DataFrame:
    parts = [rows.group_by("period", pl.col(d).alias("grp")).agg(aggs).with_columns(dimension=pl.lit(d))
             for d in dims] if rows.height else []
    exact = pl.concat(parts, how="diagonal_relaxed") if parts else None
    out = grid if exact is None else grid.join(exact, on=["period", "dimension", "grp"], how="left")
    names = [a.meta.output_name() for a in aggs]
    for n in names:
        if n not in out.columns:
            out = out.with_columns(pl.lit(0.0).alias(n))
    return out.with_columns(pl.col(names).cast(pl.Float64).fill_null(0.0))


def exact_aggregates(frames: dict[str, pl.DataFrame], research: set[str], pub, cutoff: datetime,
                     retention_days: int, reasons: pl.DataFrame,
                     targets: tuple[int, ...] = (15, 60)) -> dict[str, tuple[pl.DataFrame, dict[str, float]]]:
    """Per table: the exact aggregates on the data-independent grid, with each column's
    per-person L2 sensitivity. Contributions are bounded here."""
    frames = {k: (f.filter(pl.col("occurred_at") < cutoff) if "occurred_at" in f.columns else f)
              for k, f in frames.items()}
    cap = pub.dp.max_sessions_per_person
    sessions = (frames["session_started"].sort("occurred_at")
                .with_columns(n=pl.int_range(pl.len()).over("subject")).filter(pl.col("n") < cap))
    frames = {**frames, "session_started": sessions}
    users = user_groups(frames)
    users = users.with_columns(sessions=pl.col("sessions").clip(0, cap))
    research_users = users.filter(pl.col("subject").is_in(list(research)))
    quarters = _periods("quarter", cutoff, retention_days)
    months = _periods("month", cutoff, retention_days)
    dims, root = DP_DIMENSIONS, math.sqrt(len(DP_DIMENSIONS))
    out = {}
    # outcomes: one row per dimension (one-way and two-way) for each person (their baseline
    # quarter)
    keep = pl.col("subject").is_in(list(research))
    odims = (*dims, *CROSS_DIMENSIONS)
    oroot = math.sqrt(len(odims))
    oc = user_outcomes(frames["assessment"].filter(keep), frames["session_started"].filter(keep)).join(
        research_users.drop("first_session"), on="subject", how="inner").with_columns(
        period=quarter("baseline_at"),
        **{c: pl.col(c).clip(-b, b) for c, b in CLAMP.items()})
    aggs = [pl.len().alias("finished_treatment"), *[pl.col(m).sum().alias(m) for m in OUTCOME_COUNTS[1:]],
            pl.col("phq9_change").sum().alias("phq9_sum"), pl.col("phq9_change").count().alias("phq9_pairs"),
            pl.col("gad7_change").sum().alias("gad7_sum"), pl.col("gad7_change").count().alias("gad7_pairs")]
    sens = {**{c: oroot for c in OUTCOME_COUNTS}, "phq9_sum": CLAMP["phq9_change"] * oroot,
            "phq9_pairs": oroot, "gad7_sum": CLAMP["gad7_change"] * oroot, "gad7_pairs": oroot}
    out["outcomes_by_group"] = (_aggregate(oc, aggs, _grid(quarters, odims), odims), sens)
    # engagement: first-session quarter; sessions capped per person
    eng = research_users.with_columns(period=quarter("first_session"))
    aggs = [pl.len().alias("users"), pl.col("sessions").sum().alias("sessions"),
            (pl.col("sessions") == 1).sum().alias("one_session_only")]
    out["engagement_by_group"] = (_aggregate(eng, aggs, _grid(quarters, dims), dims),
                                  {"users": root, "sessions": cap * root, "one_session_only": root})
    # safety: up to `cap` sessions per person, each in its month, overall only
    # flag-level counts are not bounded per person (a session may hold many flags): NULL
    per_session = session_safety(frames, research, targets).with_columns(overall=pl.lit("all"))
    columns = safety_counts(targets)
    aggs = [pl.len().alias("sessions"), *[pl.col(b).sum().alias(c) for c, b in columns.items()]]
    grid = _grid(months, ("overall",))
    out["safety_escalation"] = (_aggregate(per_session, aggs, grid, ("overall",)),
                                {c: float(cap) for c in ("sessions", *columns)})
    # consent coverage: everyone with a session, once per dimension, in one reason at most
    cov = users.join(reasons, on="subject", how="left").with_columns(
        period=pl.lit("all"), research=pl.col("reason").is_null())
    aggs = [pl.len().alias("users"), pl.col("research").sum().alias("research_users"),
            *[(pl.col("reason") == r).fill_null(False).sum().alias(r) for r in REASONS]]
    out["consent_coverage"] = (_aggregate(cov, aggs, _grid(["all"], dims), dims),
                               {c: root for c in ("users", "research_users", *REASONS)})
    return out


def safety_counts(targets) -> dict[str, str]:
    """safety_escalation's per-session counts (column -> session_safety flag) in dp mode."""
    return {**{f"sessions_flag_{lv}": f"flag_{lv}" for lv in RISK_LEVELS},
            "sessions_high_flag": "high",
            **{f"sessions_escalation_{a}": f"esc_{a}" for a in ESCALATIONS},
            "sessions_high_flag_never_connected": "never_connected",
            **{f"sessions_{within(n)}": within(n) for n in targets}}


def privatise(tables: list[Table], frames, research: set[str], pub, cutoff: datetime,
              ledger: Path, at: datetime, retention_days: int, reasons: pl.DataFrame,
              targets: tuple[int, ...]) -> tuple[list[Table], dict[str, float]]:
    """Replace the tables' statistics with differentially private ones. A table this mode
    has no mechanism for is left out of the release, never published from exact data:
    safety_reconciliation (assessments per person are unbounded) and safety_alerts (one
    person's session can decide a row; the run's own safety alert still fires). Raises
    BudgetExhausted when this release would pass the annual cap."""
    cfg = pub.dp
    spent = ledger_spend(ledger, at)
    if spent + cfg.rho_per_release > cfg.rho_cap_per_year + 1e-12:
        raise BudgetExhausted(
            f"this release would spend rho {cfg.rho_per_release} on top of {spent:g} in the "
            f"last 365 days, over the cap of {cfg.rho_cap_per_year}: nothing new is published")
    exact = exact_aggregates(frames, research, pub, cutoff, retention_days, reasons, targets)
    families = sum(len(s) for _, s in exact.values())
    rho_each = cfg.rho_per_release / families
    out = []
    for t in tables:
        if t.name not in exact:
            continue
        frame, sens = exact[t.name]
        noisy, scales = {}, {}
        for col, s in sens.items():
            noisy[col], scales[col] = _gaussian(frame[col].to_list(), s, rho_each)
        out.append(_release(t, frame, noisy, scales, pub))
    return out, {"rho": cfg.rho_per_release, "cumulative": spent + cfg.rho_per_release}


def _count(v: float, pub) -> int | None:
    n = max(0, int(round(v)))
    if not pub.dp.suppress_and_round:
        return n
    if 1 <= n <= pub.suppression_threshold:
        return None
    return dc.round_half_up(n, pub.rounding_base)


def _rate(num, den, s_num: float, s_den: float, lower: bool | None):
    """Rate from released counts; the 95% interval adds the noise variance (delta method)."""
    if num is None or den is None or den <= 0:
        return None
    p = min(1.0, max(0.0, num / den))
    if lower is None:
        return round(p, 3)
    var = p * (1 - p) / den + (s_num ** 2 + (p * s_den) ** 2) / den ** 2
    half = Z_95 * math.sqrt(var)
    return round(max(0.0, p - half) if lower else min(1.0, p + half), 3)


def _release(t: Table, frame: pl.DataFrame, noisy: dict[str, list[float]],
             scales: dict[str, float], pub) -> Table:
    keys = frame.select("period", "dimension", "grp").to_dicts()
    cols = list(t.frame.columns)
    rows = []
    for i, key in enumerate(keys):
        row = dict.fromkeys(cols)
        row.update({k: v for k, v in key.items() if k in cols})
        for c in cols:
            if c in noisy and c not in ("phq9_sum", "gad7_sum"):
                row[c] = _count(noisy[c][i], pub)
        if t.name == "outcomes_by_group":
            for inst in ("phq9", "gad7"):
                pairs = noisy[f"{inst}_pairs"][i]
                clamp = CLAMP[f"{inst}_change"]
                row[f"mean_{inst}_change"] = (round(max(-clamp, min(clamp, noisy[f"{inst}_sum"][i] / pairs)), 1)
                                              if pairs > pub.suppression_threshold else None)
            rates = {f"{n}_rate": (n, d) for n, d in OUTCOME_RATES.items()}
        elif t.name == "engagement_by_group":
            rates = {"one_session_only_rate": ("one_session_only", "users")}
        elif t.name == "consent_coverage":
            rates = {share: (col, "users") for share, col in SHARES.items()}
        else:
            rates = {}
        for r, (n, d) in rates.items():
            args = (row[n], row[d], scales[n], scales[d])
            for suffix, lower in (("", None), ("_lo", True), ("_hi", False)):
                if r + suffix in cols:
                    row[r + suffix] = _rate(*args, lower)
        rows.append(row)
    out = pl.DataFrame(rows, schema=t.frame.schema, orient="row")
    for r in [c for c in cols if c.endswith("_rate_ratio")]:
        base = r[: -len("_ratio")]
        overall = out.filter(pl.col("dimension") == "overall").select("period", pl.col(base).alias("_o"))
        out = (out.drop(r).join(overall, on="period", how="left")
               .with_columns(pl.when(pl.col("_o") > 0).then((pl.col(base) / pl.col("_o")).round(3))
                             .alias(r)).drop("_o").select(cols))
    if "period" not in t.frame.columns:
        out = out.select(cols)
    return replace(t, frame=out.sort([c for c in dc.KEYS if c in cols]), spec=None,
                   contributors=None, suppressed_cells=0)

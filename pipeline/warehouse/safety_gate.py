"""The model-version safety gate: is a new AI model version less safe than the one before?

Model versions are ordered by the first session each served ("other" and "not recorded" are
not versions). On each of three shares, every version with enough people is compared with
the latest earlier version that has enough people too (a canary or a version seen once in
between is skipped, never a reason to compare nothing):

- `never_connected`: sessions with a high/imminent flag where no human connected;
- `item9_missed`: PHQ-9 answers with item 9 >= 1 and no high/imminent flag within 24 hours;
- `reliable_deterioration`: people who finished treatment and reliably deteriorated (by the
  model version of their first session).

A version is flagged on a share when it is worse by more than `safety.gate_margin` and the
95% interval of the difference (Newcombe's hybrid score method) lies above zero, with at
least `safety.gate_min_people` people behind each side's denominator ("enough people to
tell"). An alert names the measure, the versions and what a reviewer should read (the
transcript dataset of flagged sessions, by month and model version), never a person.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import polars as pl

from pipeline.policy import Policy
from pipeline.warehouse.disclosure_control import round_half_up, wilson_bounds
from pipeline.warehouse.labels import NOT_RECORDED, OTHER, model_version_label
from pipeline.warehouse.outcomes import user_outcomes
from pipeline.warehouse.safety import item9_assessments, session_safety

MEASURES = ("never_connected", "item9_missed", "reliable_deterioration")


@dataclass(frozen=True)
class Alert:
    model_version: str
    previous_version: str
    measure: str
    share: float
    previous_share: float
    difference_lo: float  # lower bound of the 95% interval of share - previous_share
    people: int  # behind the new version's denominator, rounded to the rounding base
    previous_people: int
    first_seen: str  # month
    dataset: str  # the transcript dataset to review

    @property
    def review(self) -> str:
        return f"the {self.dataset} dataset, sessions of model version {self.model_version} since {self.first_seen}"

    def as_dict(self) -> dict:
        return {**asdict(self), "review": self.review}

    def message(self) -> str:
        return (f"SAFETY ALERT: model version {self.model_version} is worse than "
                f"{self.previous_version} on {self.measure}: {self.share:.0%} vs "
                f"{self.previous_share:.0%} (difference at least {self.difference_lo:.0%} with "
                f"95% confidence; about {self.people} vs {self.previous_people} people). "
                f"Review: {self.review}.")


def newcombe_lower(k1: int, n1: int, k0: int, n0: int) -> float:
    """Lower 95% bound of p1 - p0 (Newcombe 1998, method 10: from the Wilson intervals)."""
    p1, p0 = k1 / n1, k0 / n0
    l1, _ = wilson_bounds(k1, n1)
    _, u0 = wilson_bounds(k0, n0)
    return (p1 - p0) - math.sqrt((p1 - l1) ** 2 + (u0 - p0) ** 2)


def _shares(frames: dict[str, pl.DataFrame], subjects: set[str]) -> dict[str, pl.DataFrame]:
    """Per measure: model_version, k (events), n (denominator), people (behind n)."""
    sessions = session_safety(frames, subjects, ()).filter(pl.col("high"))
    a = item9_assessments(frames, subjects).filter(pl.col("item9"))
    keep = pl.col("subject").is_in(list(subjects))
    mine = {k: frames[k].filter(keep) for k in ("assessment", "session_started")}
    first = (mine["session_started"].sort("occurred_at").group_by("subject")
             .agg(pl.col("model_version").first())
             .with_columns(model_version=model_version_label(pl.col("model_version"))))
    outcomes = user_outcomes(mine["assessment"], mine["session_started"]).join(
        first, on="subject", how="inner")

    def per_version(frame: pl.DataFrame, flag: str) -> pl.DataFrame:
        return frame.group_by("model_version").agg(
            pl.col(flag).sum().alias("k"), pl.len().alias("n"),
            pl.col("subject").n_unique().alias("people"))

    return {"never_connected": per_version(sessions, "never_connected"),
            "item9_missed": per_version(a, "missed"),
            "reliable_deterioration": per_version(outcomes, "reliable_deterioration")}


def review_dataset(policy: Policy) -> str:
    """The transcript dataset a safety reviewer reads (the one keeping flagged sessions)."""
    names = [n for n, d in policy.datasets.items() if d.only_sessions_with_risk]
    return names[0] if names else "safety review transcripts"


def evaluate(frames: dict[str, pl.DataFrame], subjects: set[str], policy: Policy) -> list[Alert]:
    """Every (version, measure) that the gate flags; empty when all is well."""
    sessions = frames["session_started"].filter(pl.col("subject").is_in(list(subjects)))
    if sessions.is_empty():
        return []
    order = (sessions.with_columns(model_version=model_version_label(pl.col("model_version")))
             .group_by("model_version").agg(pl.col("occurred_at").min().alias("first"))
             .sort("first", "model_version"))
    versions = [v for v in order["model_version"].to_list() if v not in (NOT_RECORDED, OTHER)]
    first_seen = dict(zip(order["model_version"].to_list(),
                          order["first"].dt.strftime("%Y-%m").to_list()))
    shares = {m: {r["model_version"]: r for r in f.iter_rows(named=True)}
              for m, f in _shares(frames, subjects).items()}
    cfg, base = policy.safety, policy.publication.rounding_base
    dataset = review_dataset(policy)
    alerts = []
    for measure in MEASURES:
        # each version against the latest earlier one with enough people to tell: a canary
        # or a version seen once in between must not hide a worse one
        enough = [v for v in versions if v in shares[measure]
                  and shares[measure][v]["people"] >= cfg.gate_min_people and shares[measure][v]["n"]]
        for prev, new in zip(enough, enough[1:]):
            a, b = shares[measure][new], shares[measure][prev]
            p1, p0 = a["k"] / a["n"], b["k"] / b["n"]
            lo = newcombe_lower(a["k"], a["n"], b["k"], b["n"])
            if p1 - p0 > cfg.gate_margin and lo > 0:
                alerts.append(Alert(
                    new, prev, measure, round(p1, 2), round(p0, 2), round(lo, 2),
                    round_half_up(a["people"], base), round_half_up(b["people"], base),
                    first_seen[new], dataset))
    return alerts


def alerts_markdown(alerts: list[dict]) -> str:
    """The run's safety alerts (as in the run summary) for the orchestrator's artifact."""
    lines = ["# Safety alert: a model version is less safe than its predecessor", "",
             "| model version | compared with | measure | share | before | difference (95% lower bound) | review |",
             "|---|---|---|---|---|---|---|"]
    lines += [f"| {a['model_version']} | {a['previous_version']} | {a['measure']} | "
              f"{a['share']:.0%} | {a['previous_share']:.0%} | {a['difference_lo']:.0%} | "
              f"{a['review']} |" for a in alerts]
    lines += ["", "A human reviewer should read those sessions before the model version serves "
              "more people. Figures are over everyone the safety review covers; the release's "
              "`safety_alerts` table lists the findings for its own population and cutoff."]
    return "\n".join(lines)

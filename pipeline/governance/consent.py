"""Consent ledger: who may be used for which purpose, as of now.

Per (subject, purpose) the latest consent event decides (at equal times a withdrawal wins).
It must be `granted` with a version the purpose accepts; anything else, including no event
at all, is no consent (opt-in). Subjects known to be under the purpose's minimum age are
excluded (we count age conservatively from the birth year: the youngest they can be).
Purposes with a non-consent lawful basis admit every subject.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import polars as pl

from pipeline.policy import Policy

CONSENT_SCHEMA = {
    "subject": pl.String, "purpose": pl.String, "action": pl.String,
    "consent_version": pl.String, "occurred_at": pl.Datetime("us", "UTC"),
}
PROFILE_AGE_SCHEMA = {"subject": pl.String, "birth_year": pl.Int64}


def latest_profile(profiles: pl.DataFrame) -> pl.DataFrame:
    """Later profile events override earlier ones field by field (one row per subject)."""
    fields = [c for c in profiles.columns if c not in ("record_id", "subject", "event_type",
                                                       "occurred_at", "session_id")]
    return profiles.sort("occurred_at").group_by("subject").agg(
        [pl.col(f).drop_nulls().last() for f in fields]
    )


def latest_consent(consents: pl.DataFrame) -> pl.DataFrame:
    """One row per (subject, purpose): the deciding event."""
    return (
        consents.sort(["subject", "purpose", "occurred_at", "action"])  # withdrawn > granted
        .group_by(["subject", "purpose"], maintain_order=True)
        .last()
    )


def allowed_subjects(
    consents: pl.DataFrame,
    birth_years: pl.DataFrame,
    all_subjects: set[str],
    policy: Policy,
    now: datetime,
) -> dict[str, set[str]]:
    """Purpose -> subjects whose data may be used for it now."""
    latest = latest_consent(consents)
    youngest_age = birth_years.select(
        "subject", (pl.lit(now.year - 1) - pl.col("birth_year")).alias("min_age")
    )
    out: dict[str, set[str]] = {}
    for name, purpose in policy.purposes.items():
        too_young = set(
            youngest_age.filter(pl.col("min_age") < purpose.minimum_age)["subject"].to_list()
        )
        if purpose.lawful_basis != "consent":
            out[name] = all_subjects - too_young
            continue
        granted = latest.filter(
            (pl.col("purpose") == name)
            & (pl.col("action") == "granted")
            & pl.col("consent_version").is_in(list(purpose.accepted_consent_versions))
        )["subject"].to_list()
        out[name] = (set(granted) & all_subjects) - too_young
    return out


# Why someone is not in a purpose's population, in the order they are decided: age first
# (it overrides any consent), then the latest consent event.
REASONS = ("under_minimum_age", "withdrawn", "version_not_accepted", "not_consented")


def exclusion_reasons(consents: pl.DataFrame, birth_years: pl.DataFrame, subjects: set[str],
                      policy: Policy, purpose: str, now: datetime) -> pl.DataFrame:
    """One row per subject: `reason` is None when their data may be used for `purpose`,
    else one of REASONS. Agrees with `allowed_subjects` (a test checks it)."""
    p = policy.purposes[purpose]
    people = pl.DataFrame({"subject": sorted(subjects)}, schema={"subject": pl.String})
    young = birth_years.filter(pl.lit(now.year - 1) - pl.col("birth_year") < p.minimum_age)
    latest = latest_consent(consents).filter(pl.col("purpose") == purpose).select(
        "subject", "action", "consent_version")
    rows = people.join(latest, on="subject", how="left").with_columns(
        young=pl.col("subject").is_in(young["subject"].implode()))
    if p.lawful_basis != "consent":
        reason = pl.when(pl.col("young")).then(pl.lit(REASONS[0]))
    else:
        reason = (pl.when(pl.col("young")).then(pl.lit(REASONS[0]))
                  .when(pl.col("action") == "withdrawn").then(pl.lit(REASONS[1]))
                  .when(~pl.col("consent_version").is_in(list(p.accepted_consent_versions)))
                  .then(pl.lit(REASONS[2]))
                  .when(pl.col("action").is_null()).then(pl.lit(REASONS[3])))
    return rows.select("subject", reason.otherwise(None).cast(pl.String).alias("reason"))


@dataclass(frozen=True)
class Ledger:
    """The consent ledger as of `now`: who may be used for which purpose (`allowed`), and
    why anyone else may not (`reasons`). Built once per output build by `ledger`."""

    allowed: dict[str, set[str]]
    consents: pl.DataFrame
    birth_years: pl.DataFrame
    subjects: set[str]
    policy: Policy
    now: datetime

    def reasons(self, purpose: str) -> pl.DataFrame:
        """One row per subject: None when their data may be used for `purpose`, else why not."""
        return exclusion_reasons(self.consents, self.birth_years, self.subjects, self.policy,
                                 purpose, self.now)


def ledger(frames: dict[str, pl.DataFrame], subjects: set[str], policy: Policy,
           now: datetime) -> Ledger:
    """The consent ledger from the intake frames (consent events and profiles) of `subjects`."""
    birth_years = latest_profile(frames["profile"]).select("subject", "birth_year").drop_nulls()
    allowed = allowed_subjects(frames["consent"], birth_years, subjects, policy, now)
    return Ledger(allowed, frames["consent"], birth_years, subjects, policy, now)

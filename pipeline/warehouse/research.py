"""Every research table of a release, from the intake frames, for one population and cutoff."""

from __future__ import annotations

from datetime import datetime

import polars as pl

from pipeline.policy import Policy
from pipeline.warehouse.analytics import engagement_by_group, outcomes_by_group
from pipeline.warehouse.coverage import consent_coverage
from pipeline.warehouse.safety import safety_alerts_table, safety_escalation, safety_reconciliation
from pipeline.warehouse.safety_gate import evaluate
from pipeline.warehouse.tables import Table, user_groups


def research_tables(frames: dict[str, pl.DataFrame], research: set[str], policy: Policy,
                    reasons: pl.DataFrame, cutoff: datetime | None = None) -> list[Table]:
    """The research tables from events before `cutoff` (all when None), periods closed by
    it only, for the `research` population (consent_coverage: everyone, with `reasons`, the
    consent ledger's reason per person; safety_alerts: the model-version safety gate on this
    population and cutoff)."""
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

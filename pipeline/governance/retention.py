"""Retention: everything kept is deleted once past its dataset's declared retention.

Expiry is `event time + retention`. The event time stays inside the ciphertext; the vault
keeps the expiry in clear and, when a steward changes a retention, every stored expiry of
that dataset moves by the difference (`Vault.set_retention`), so a shorter retention applies
to records already kept, not only to new ones. A dataset the policy no longer declares is
deleted whole. Deleting a subject's last record in a dataset destroys their data key.
"""

from __future__ import annotations

from datetime import datetime

from pipeline import failpoints
from pipeline.intake.prepare import INTAKE_DATASET
from pipeline.policy import Policy
from pipeline.vault.store import QUARANTINE_DATASET, Vault


def retention_plan(policy: Policy) -> dict[str, int]:
    """Dataset -> retention days, for everything the vault may hold."""
    plan = {INTAKE_DATASET: policy.intake.retention_days}
    plan.update({name: ds.retention_days for name, ds in policy.datasets.items()
                 if ds.level == "individual"})
    return plan


def enforce(vault: Vault, policy: Policy, now: datetime) -> dict[str, int]:
    """Apply the policy's retentions and delete what has expired. Returns deleted records
    per dataset (a dataset no longer declared counts all its records)."""
    plan = retention_plan(policy)
    deleted: dict[str, int] = {}
    for dataset in vault.datasets():
        if dataset not in plan and dataset != QUARANTINE_DATASET:
            deleted[dataset] = vault.delete_dataset(dataset)
    for dataset, days in plan.items():
        vault.set_retention(dataset, days)
    failpoints.hit("retention-mid")
    tampered = vault.delete_tampered_expiries()  # an edited expiry cannot keep a record
    if tampered:
        deleted["expiry edited (deleted)"] = tampered
    for dataset, n in vault.delete_expired(now).items():
        deleted[dataset] = deleted.get(dataset, 0) + n
    return dict(sorted(deleted.items()))


def preview(vault: Vault, policy: Policy, now: datetime) -> dict[str, dict[str, int]]:
    """What `enforce` would delete now under `policy`: records and subjects per dataset."""
    plan = retention_plan(policy)
    applied = vault.applied_retention()
    out: dict[str, dict[str, int]] = {}
    for dataset, count in vault.datasets().items():
        if dataset == QUARANTINE_DATASET:
            continue
        if dataset not in plan:
            out[dataset] = {"records": count, "subjects": len(vault.subjects(dataset))}
            continue
        shift = plan[dataset] - applied.get(dataset, plan[dataset])
        records, subjects = vault.count_expiring(dataset, now, shift)
        out[dataset] = {"records": records, "subjects": subjects}
    return out

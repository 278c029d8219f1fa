"""`mhpipe policy impact`: what a proposed policy would do if it took effect now.

Against the current vault and ingested data, per dataset: records and people the retention
rules would delete, people newly excluded (their records erased) or newly included, and how
the research population would change. Reads and decrypts in memory; changes nothing.
"""

from __future__ import annotations

from datetime import datetime

from pipeline.governance import retention
from pipeline.governance.consent import ledger
from pipeline.governance.datasets import eligible_subjects, transcript_datasets
from pipeline.intake.prepare import INTAKE_DATASET, read_intake
from pipeline.vault.keystore import KeyStore
from pipeline.policy import Policy
from pipeline.intake.pseudonym import pseudonymise, secret_name
from pipeline.vault.store import Vault


def policy_impact(vault: Vault, keys: KeyStore, current: Policy, proposed: Policy,
                  now: datetime) -> dict:
    frames = read_intake(vault, messages=False)
    subjects = vault.subjects(INTAKE_DATASET)
    before = ledger(frames, subjects, current, now).allowed
    after = ledger(frames, subjects, proposed, now).allowed

    out: dict = {"retention": retention.preview(vault, proposed, now), "datasets": {}}
    for name, ds in transcript_datasets(proposed).items():
        key = keys.secret(secret_name(ds.purpose))
        to_intake = {pseudonymise(key, "user", s): s for s in subjects}
        present = {to_intake[p] for p in vault.subjects(name) if p in to_intake}
        eligible, _ = eligible_subjects(frames, after, subjects, ds)
        excluded = present - eligible
        out["datasets"][name] = {
            "people_now": len(present),
            "people_newly_excluded": len(excluded),
            "records_erased_by_exclusion": vault.count_subjects_records(
                name, {pseudonymise(key, "user", s) for s in excluded}),
            "people_newly_included": len(eligible - present),
        }
    for name in proposed.purposes:
        out.setdefault("purposes", {})[name] = {
            "people_now": len(before.get(name, set())),
            "people_after": len(after.get(name, set())),
            "newly_excluded": len(before.get(name, set()) - after.get(name, set())),
            "newly_included": len(after.get(name, set()) - before.get(name, set())),
        }
    return out

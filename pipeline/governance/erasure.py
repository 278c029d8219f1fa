"""Erasure on request (GDPR Art. 17): every trace of one person, in every dataset.

The person is found by the keyed pseudonym of their platform id (the id itself is never
stored, logged or printed). Their rows are deleted and their data keys destroyed in every
dataset (crypto-shredding), their quarantined lines are deleted, the vault file is rewritten
so the deleted rows' bytes do not linger in free blocks, and their pseudonym is
remembered as erased so that events of theirs arriving later are excluded at intake. The
research warehouse is rebuilt by the caller. The receipt holds counts only.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime

from pipeline.intake.prepare import INTAKE_DATASET, INTAKE_PURPOSE
from pipeline.vault.keystore import KeyStore
from pipeline.policy import Policy
from pipeline.intake.pseudonym import pseudonymise, secret_name
from pipeline.vault.store import QUARANTINE_DATASET, Vault


def _mentions_user(user_id: str):
    needle = user_id.encode()

    def matches(raw: bytes) -> bool:
        try:
            obj = json.loads(raw)
        except ValueError:
            return needle in raw  # unparseable line: erase it if the id appears anywhere
        return (isinstance(obj, dict) and obj.get("user_id") == user_id) or needle in raw
    return matches


def erase_user(vault: Vault, keys: KeyStore, policy: Policy, user_id: str, now: datetime) -> dict:
    intake_key = keys.secret(secret_name(INTAKE_PURPOSE))
    subject = pseudonymise(intake_key, "user", user_id)
    receipt: dict = {"erasure_id": uuid.uuid4().hex, "at": now.isoformat(), "records_deleted": {}}
    for dataset in sorted(vault.datasets()):
        if dataset == QUARANTINE_DATASET:
            continue
        if dataset == INTAKE_DATASET:
            pseudonym = subject
        elif dataset in policy.datasets:
            key = keys.secret(secret_name(policy.datasets[dataset].purpose))
            pseudonym = pseudonymise(key, "user", subject)
        else:
            continue  # not declared any more: the retention sweep deletes it whole
        receipt["records_deleted"][dataset] = vault.delete_subjects(dataset, {pseudonym})
    receipt["quarantined_lines_deleted"] = vault.erase_quarantined(_mentions_user(user_id))
    vault.mark_erased(subject, now)
    receipt["future_events_excluded"] = True
    vault.compact()  # the deleted rows' bytes leave the file, not only the table
    receipt["vault_compacted"] = True
    return receipt

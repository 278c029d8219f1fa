"""Individual-level datasets in the vault, kept in step with consent and the policy.

For each `level: individual` dataset that keeps transcripts, every message of an eligible
subject (consent or other lawful basis, age, optional risk filter) is re-keyed into the
dataset: subject and session get the purpose's own pseudonyms (not joinable with other
purposes), the text is the dataset's own rendering (its operators, made at intake, since
raw text is never kept), timestamps are shifted by a stable per-subject offset or coarsened
as the dataset declares, and the record is sealed under the subject's data key for that
dataset. Subjects no longer eligible (withdrawal) are
erased: rows deleted and data keys destroyed (crypto-shredding).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta

import polars as pl

from . import failpoints
from .generalise import coarsen_timestamp
from .keystore import KeyStore
from .policy import Dataset, LoadedPolicy, Policy
from .pseudonym import pseudonymise, secret_name
from .vault import NewRecord, Vault

MAX_DATE_SHIFT_DAYS = 14  # per-subject shift in [-14, +14] days; intervals are preserved


@dataclass(frozen=True)
class DatasetSync:
    dataset: str
    eligible_subjects: int
    added: int
    erased_subjects: int
    erased_records: int


def date_shift(key: bytes, subject: str) -> timedelta:
    digest = int(pseudonymise(key, "date-shift", subject)[:8], 16)
    return timedelta(days=digest % (2 * MAX_DATE_SHIFT_DAYS + 1) - MAX_DATE_SHIFT_DAYS)


def transcript_datasets(policy: Policy) -> dict[str, Dataset]:
    return {n: ds for n, ds in policy.datasets.items()
            if ds.level == "individual" and "transcripts" in ds.keeps}


def eligible_messages(frames: dict[str, pl.DataFrame], allowed: dict[str, set[str]],
                      ds: Dataset) -> pl.DataFrame:
    """Intake messages a dataset may hold: subjects allowed for its purpose, and sessions
    with a risk flag of the listed levels when it declares `only_sessions_with_risk`."""
    msgs = frames["message"].filter(pl.col("subject").is_in(list(allowed.get(ds.purpose, set()))))
    if ds.only_sessions_with_risk:
        risky = frames["risk_flag"].filter(pl.col("level").is_in(list(ds.only_sessions_with_risk)))
        msgs = msgs.filter(pl.col("session_id").is_in(risky["session_id"].unique().to_list()))
    return msgs


def sync_datasets(
    frames: dict[str, pl.DataFrame],
    allowed: dict[str, set[str]],
    vault: Vault,
    keys: KeyStore,
    policy: LoadedPolicy,
    now: datetime,
) -> list[DatasetSync]:
    out = []
    for name, ds in transcript_datasets(policy.policy).items():
        key = keys.secret(secret_name(ds.purpose))
        msgs = eligible_messages(frames, allowed, ds)
        keep_subjects = {pseudonymise(key, "user", s) for s in msgs["subject"].unique().to_list()}
        present = vault.subjects(name)
        gone = present - keep_subjects
        erased = vault.delete_subjects(name, gone)
        failpoints.hit("datasets-mid")

        existing = vault.record_ids(name)
        retention = timedelta(days=ds.retention_days)
        records = []
        shifts: dict[str, timedelta] = {}
        msgs = msgs.filter(pl.col("text").is_not_null()).with_columns(
            stamp=pl.col("occurred_at") if ds.timestamps in ("shift", "exact")
            else coarsen_timestamp(pl.col("occurred_at"), ds.timestamps))
        for row in msgs.iter_rows(named=True):
            record_id = "d" + pseudonymise(key, "record", row["record_id"])
            when: datetime = row["occurred_at"]
            if record_id in existing or when + retention <= now:
                continue
            subject = row["subject"]
            renderings = json.loads(row["renderings"]) if row["renderings"] else {}
            stamp: datetime = row["stamp"]
            if ds.timestamps == "shift":
                stamp = stamp + shifts.setdefault(subject, date_shift(key, subject))
            records.append(NewRecord(
                record_id=record_id,
                dataset=name,
                subject=pseudonymise(key, "user", subject),
                payload={
                    "session": pseudonymise(key, "session", row["session_id"]),
                    "turn": row["turn"],
                    "role": row["role"],
                    "text": renderings.get(name, row["text"]),
                    "occurred_at": stamp.isoformat(),
                    "timestamps": ds.timestamps,
                },
                expires_at=when + retention,
            ))
        vault.put_records(records, policy.version)
        out.append(DatasetSync(name, len(keep_subjects), len(records), len(gone), erased))
    return out

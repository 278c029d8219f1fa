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

from pipeline import failpoints
from pipeline.intake.generalise import coarsen_datetime
from pipeline.vault.keystore import KeyStore
from pipeline.policy import Dataset, LoadedPolicy, Policy
from pipeline.vault.expiry import bucket_days, clear_expiry
from pipeline.intake.pseudonym import pseudonymise, secret_name
from pipeline.vault.store import NewRecord, Vault

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
    return {n: ds for n, ds in policy.datasets.items() if ds.keeps_transcripts}


def eligible_subjects(frames: dict[str, pl.DataFrame], allowed: dict[str, set[str]],
                      subjects: set[str], ds: Dataset) -> tuple[set[str], set[str] | None]:
    """Intake subjects a dataset may hold (allowed for its purpose, and with a session that
    has a risk flag of the listed levels when it declares `only_sessions_with_risk`), and
    those sessions (None: every session)."""
    keep = allowed.get(ds.purpose, set()) & subjects
    if not ds.only_sessions_with_risk:
        return keep, None
    risky = frames["risk_flag"].filter(pl.col("level").is_in(list(ds.only_sessions_with_risk))
                                       & pl.col("subject").is_in(list(keep)))
    return set(risky["subject"].to_list()), set(risky["session_id"].to_list())


def sync_datasets(
    frames: dict[str, pl.DataFrame],
    allowed: dict[str, set[str]],
    vault: Vault,
    keys: KeyStore,
    policy: LoadedPolicy,
    now: datetime,
    subjects: set[str] | None = None,
    batch_rows: int = 20_000,
) -> list[DatasetSync]:
    """Bring every transcript dataset in step. Streams the intake a batch at a time and
    decrypts only messages the dataset does not hold yet, so a nightly run costs what is
    new, and memory does not grow with the store."""
    from pipeline.intake.prepare import INTAKE_DATASET

    if subjects is None:
        subjects = vault.subjects(INTAKE_DATASET)
    out = []
    for name, ds in transcript_datasets(policy.policy).items():
        key = keys.secret(secret_name(ds.purpose))
        keep, sessions = eligible_subjects(frames, allowed, subjects, ds)
        keep_subjects = {pseudonymise(key, "user", s) for s in keep}
        present = vault.subjects(name)
        gone = present - keep_subjects
        erased = vault.delete_subjects(name, gone)
        failpoints.hit("datasets-mid")

        retention = timedelta(days=ds.retention_days)
        added = 0
        shifts: dict[str, timedelta] = {}
        # Intake messages (of unknown kind too) that are not past this dataset's retention:
        # an intake row expires at event time + the intake's retention.
        intake_days = policy.policy.intake.retention_days
        # intake expiries in clear are rounded down by up to one bucket: look that much
        # further back, then keep exactly what is inside the retention (checked below)
        cutoff = now + timedelta(days=intake_days - ds.retention_days - bucket_days(intake_days))
        for batch in vault.id_batches(INTAKE_DATASET, keep, batch_rows, kind="message",
                                      expiring_after=cutoff):
            derived = {"d" + pseudonymise(key, "record", rid): rid for rid, _ in batch}
            missing = vault.missing_ids(name, list(derived))
            if not missing:
                continue
            want = [derived[d] for d in missing]
            records = []
            for rid, subject, p in vault.read_ids(INTAKE_DATASET, want):
                if p.get("event_type") != "message" or p.get("text") is None:
                    continue
                if sessions is not None and p.get("session_id") not in sessions:
                    continue
                when = datetime.fromisoformat(p["occurred_at"])
                if when + retention <= now:
                    continue
                renderings = json.loads(p["renderings"]) if p.get("renderings") else {}
                if ds.timestamps == "shift":
                    stamp = when + shifts.setdefault(subject, date_shift(key, subject))
                elif ds.timestamps == "exact":
                    stamp = when
                else:
                    stamp = coarsen_datetime(when, ds.timestamps)
                records.append(NewRecord(
                    record_id="d" + pseudonymise(key, "record", rid),
                    dataset=name,
                    subject=pseudonymise(key, "user", subject),
                    payload={
                        "session": pseudonymise(key, "session", p["session_id"]),
                        "turn": p["turn"],
                        "role": p["role"],
                        "text": renderings.get(name, p["text"]),
                        "occurred_at": stamp.isoformat(),
                        "timestamps": ds.timestamps,
                    },
                    expires_at=clear_expiry(when + retention, name, ds.retention_days, key),
                ))
            vault.put_records(records, policy.version)
            added += len(records)
        out.append(DatasetSync(name, len(keep_subjects), added, len(gone), erased))
    return out

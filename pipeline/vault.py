"""The vault: individual-level records, encrypted, in one DuckDB file.

Clear columns are only `record_id, dataset, subject, key_id, created_at, expires_at,
policy_version` (plus nonce and ciphertext). The ciphertext is AES-256-GCM under the
subject's data key for that dataset, with associated data binding record id, dataset and
subject: a ciphertext copied into another row does not decrypt.

The same file holds the ingest registry (files by SHA-256) and the quarantine (invalid
lines, encrypted under a per-file key), so that a partition's records, its quarantined
lines and the note that it was ingested commit in one transaction: a run killed half-way
leaves either all of a file or none of it.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

import duckdb
import polars as pl

from .crypto import open_sealed, seal
from .keystore import KeyStore

QUARANTINE_DATASET = "quarantine"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    record_id      VARCHAR PRIMARY KEY,
    dataset        VARCHAR NOT NULL,
    subject        VARCHAR NOT NULL,
    key_id         VARCHAR NOT NULL,
    nonce          BLOB NOT NULL,
    ciphertext     BLOB NOT NULL,
    created_at     TIMESTAMPTZ NOT NULL,
    expires_at     TIMESTAMPTZ NOT NULL,
    policy_version VARCHAR NOT NULL
);
CREATE TABLE IF NOT EXISTS ingested_files (
    sha256      VARCHAR PRIMARY KEY,
    name        VARCHAR NOT NULL,
    ingested_at TIMESTAMPTZ NOT NULL,
    lines_read  BIGINT NOT NULL,
    loaded      BIGINT NOT NULL,
    duplicates  BIGINT NOT NULL,
    quarantined BIGINT NOT NULL,
    excluded    BIGINT NOT NULL,
    file_error  VARCHAR
);
CREATE TABLE IF NOT EXISTS retention_applied (
    dataset        VARCHAR PRIMARY KEY,
    retention_days BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS erased_subjects (
    subject   VARCHAR PRIMARY KEY,
    erased_at TIMESTAMPTZ NOT NULL
);
CREATE TABLE IF NOT EXISTS quarantine (
    file_sha   VARCHAR NOT NULL,
    file_name  VARCHAR NOT NULL,
    line_no    BIGINT NOT NULL,
    field      VARCHAR NOT NULL,
    rule       VARCHAR NOT NULL,
    key_id     VARCHAR NOT NULL,
    nonce      BLOB NOT NULL,
    ciphertext BLOB NOT NULL,
    PRIMARY KEY (file_sha, line_no)
);
"""

def record_aad(record_id: str, dataset: str, subject: str) -> bytes:
    return f"mhpipe/record/v1|{record_id}|{dataset}|{subject}".encode()


@dataclass(frozen=True)
class NewRecord:
    record_id: str
    dataset: str
    subject: str
    payload: dict[str, Any]
    expires_at: datetime


@dataclass(frozen=True)
class QuarantineLine:
    line_no: int
    field: str
    rule: str
    raw: bytes

    @property
    def reason(self) -> str:
        return f"line {self.line_no}: {self.field}: {self.rule}"


@dataclass(frozen=True)
class FileOutcome:
    sha256: str
    name: str
    lines_read: int
    loaded: int
    duplicates: int
    quarantined: int
    excluded: int = 0  # valid, but past the intake retention on arrival or of an erased person
    file_error: str | None = None


class Vault:
    def __init__(self, path: Path, keys: KeyStore):
        self.path = Path(path)
        self.keys = keys
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.con = duckdb.connect(str(self.path))
        # Never spill query data to temporary files: everything here is individual-level.
        self.con.execute("SET temp_directory = ''")
        os.chmod(self.path, 0o600)
        self.con.execute(_SCHEMA)

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> "Vault":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- ingest registry --------------------------------------------------------------
    def ingested_shas(self) -> set[str]:
        return {r[0] for r in self.con.execute("SELECT sha256 FROM ingested_files").fetchall()}

    def existing_ids(self, record_ids: list[str]) -> set[str]:
        if not record_ids:
            return set()
        ids = pl.DataFrame({"record_id": record_ids}).to_arrow()
        self.con.register("_probe", ids)
        try:
            rows = self.con.execute(
                "SELECT r.record_id FROM records r JOIN _probe USING (record_id)"
            ).fetchall()
        finally:
            self.con.unregister("_probe")
        return {r[0] for r in rows}

    # -- writes -----------------------------------------------------------------------
    def _seal_records(self, records: list[NewRecord], policy_version: str) -> pl.DataFrame:
        now = datetime.now(timezone.utc)
        rows = []
        for r in records:
            key_id, dek = self.keys.data_key(r.dataset, r.subject)
            plaintext = json.dumps(r.payload, separators=(",", ":"), sort_keys=True).encode()
            nonce, ct = seal(dek, plaintext, record_aad(r.record_id, r.dataset, r.subject))
            rows.append((r.record_id, r.dataset, r.subject, key_id, nonce, ct, now,
                         r.expires_at, policy_version))
        return pl.DataFrame(rows, schema=_RECORD_SCHEMA, orient="row")

    def _insert_records(self, frame: pl.DataFrame) -> None:
        if frame.is_empty():
            return
        self.con.register("_new_records", frame.to_arrow())
        try:
            self.con.execute(
                "INSERT INTO records SELECT * FROM _new_records ON CONFLICT DO NOTHING"
            )
        finally:
            self.con.unregister("_new_records")

    def put_records(self, records: list[NewRecord], policy_version: str) -> None:
        """Idempotent per record id: a record already present is left as it is."""
        frame = self._seal_records(records, policy_version)
        self.con.execute("BEGIN TRANSACTION")
        try:
            self._insert_records(frame)
            self.con.execute("COMMIT")
        except BaseException:
            self.con.execute("ROLLBACK")
            raise

    def commit_file(
        self,
        outcome: FileOutcome,
        records: list[NewRecord],
        quarantined: list[QuarantineLine],
        policy_version: str,
    ) -> None:
        """Records, quarantined lines and the ingest note of one file, all or nothing."""
        frame = self._seal_records(records, policy_version)
        q_rows = []
        if quarantined:
            key_id, dek = self.keys.data_key(QUARANTINE_DATASET, outcome.sha256)
            for q in quarantined:
                aad = f"mhpipe/quarantine/v1|{outcome.sha256}|{q.line_no}".encode()
                nonce, ct = seal(dek, q.raw, aad)
                q_rows.append((outcome.sha256, outcome.name, q.line_no, q.field, q.rule,
                               key_id, nonce, ct))
        self.con.execute("BEGIN TRANSACTION")
        try:
            self._insert_records(frame)
            if q_rows:
                self.con.executemany(
                    "INSERT INTO quarantine VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                    q_rows,
                )
            self.con.execute(
                "INSERT INTO ingested_files VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                [outcome.sha256, outcome.name, datetime.now(timezone.utc), outcome.lines_read,
                 outcome.loaded, outcome.duplicates, outcome.quarantined, outcome.excluded,
                 outcome.file_error],
            )
            self.con.execute("COMMIT")
        except BaseException:
            self.con.execute("ROLLBACK")
            raise

    # -- reads ------------------------------------------------------------------------
    def subjects(self, dataset: str) -> set[str]:
        rows = self.con.execute(
            "SELECT DISTINCT subject FROM records WHERE dataset = ?", [dataset]
        ).fetchall()
        return {r[0] for r in rows}

    def record_ids(self, dataset: str) -> set[str]:
        rows = self.con.execute(
            "SELECT record_id FROM records WHERE dataset = ?", [dataset]
        ).fetchall()
        return {r[0] for r in rows}

    def read(self, dataset: str, batch_rows: int = 50_000) -> Iterator[tuple[str, str, dict]]:
        """Decrypt a dataset: yields (record_id, subject, payload). Rows whose key was
        destroyed are skipped (they are unreadable by design)."""
        offset = 0
        deks: dict[str, bytes | None] = {}
        while True:
            batch = self.con.execute(
                "SELECT record_id, subject, key_id, nonce, ciphertext FROM records "
                "WHERE dataset = ? ORDER BY record_id LIMIT ? OFFSET ?",
                [dataset, batch_rows, offset],
            ).fetchall()
            if not batch:
                return
            offset += len(batch)
            for record_id, subject, key_id, nonce, ct in batch:
                if key_id not in deks:
                    deks[key_id] = self.keys.key_by_id(key_id)
                dek = deks[key_id]
                if dek is None:
                    continue
                plain = open_sealed(dek, nonce, ct, record_aad(record_id, dataset, subject))
                yield record_id, subject, json.loads(plain)

    def quarantine_reasons(self, limit: int | None = None) -> list[tuple[str, int, str, str]]:
        """(file, line, field, rule) of quarantined lines: the clear columns only."""
        sql = "SELECT file_name, line_no, field, rule FROM quarantine ORDER BY 1, 2"
        if limit is not None:
            return self.con.execute(sql + " LIMIT ?", [limit]).fetchall()
        return self.con.execute(sql).fetchall()

    def registry_totals(self) -> dict[str, int]:
        row = self.con.execute(
            "SELECT count(*), coalesce(sum(lines_read), 0), coalesce(sum(loaded), 0), "
            "coalesce(sum(duplicates), 0), coalesce(sum(quarantined), 0), "
            "coalesce(sum(excluded), 0) FROM ingested_files").fetchone()
        return dict(zip(("files", "lines_read", "loaded", "duplicates", "quarantined",
                         "excluded"), map(int, row)))

    # -- retention bookkeeping -----------------------------------------------------------
    def applied_retention(self) -> dict[str, int]:
        return dict(self.con.execute("SELECT dataset, retention_days FROM retention_applied").fetchall())

    def datasets(self) -> dict[str, int]:
        """Datasets present in the vault, with their record counts."""
        return dict(self.con.execute(
            "SELECT dataset, count(*) FROM records GROUP BY dataset").fetchall())

    def set_retention(self, dataset: str, days: int) -> None:
        """Make a dataset's stored expiries follow `days`: rows written under another
        retention move by the difference (expiry = event time + retention, the event time
        itself staying inside the ciphertext)."""
        old = self.applied_retention().get(dataset)
        self.con.execute("BEGIN TRANSACTION")
        try:
            if old is not None and old != days:
                self.con.execute(
                    "UPDATE records SET expires_at = expires_at + to_days(CAST(? AS INTEGER)) "
                    "WHERE dataset = ?", [days - old, dataset])
            self.con.execute(
                "INSERT OR REPLACE INTO retention_applied VALUES (?, ?)", [dataset, days])
            self.con.execute("COMMIT")
        except BaseException:
            self.con.execute("ROLLBACK")
            raise

    def count_expiring(self, dataset: str, now: datetime, shift_days: int = 0) -> tuple[int, int]:
        """(records, subjects) that would be past expiry at `now` if expiries moved by
        `shift_days` (a preview: changes nothing)."""
        row = self.con.execute(
            "SELECT count(*), count(DISTINCT subject) FROM records WHERE dataset = ? "
            "AND expires_at + to_days(CAST(? AS INTEGER)) <= ?", [dataset, shift_days, now]).fetchone()
        return int(row[0]), int(row[1])

    def count_subjects_records(self, dataset: str, subjects: set[str]) -> int:
        if not subjects:
            return 0
        self.con.register("_probe_s", pl.DataFrame({"subject": sorted(subjects)}).to_arrow())
        try:
            return int(self.con.execute(
                "SELECT count(*) FROM records WHERE dataset = ? AND subject IN (SELECT subject FROM _probe_s)",
                [dataset]).fetchone()[0])
        finally:
            self.con.unregister("_probe_s")

    # -- erasure ----------------------------------------------------------------------
    def erased_subjects(self) -> set[str]:
        return {r[0] for r in self.con.execute("SELECT subject FROM erased_subjects").fetchall()}

    def mark_erased(self, subject: str, when: datetime) -> None:
        self.con.execute("INSERT OR IGNORE INTO erased_subjects VALUES (?, ?)", [subject, when])

    def erase_quarantined(self, matches) -> int:
        """Delete quarantined lines for which `matches(raw_line)` is true; returns how many.
        Files left with no quarantined line lose their quarantine key too."""
        rows = self.con.execute(
            "SELECT file_sha, line_no, key_id, nonce, ciphertext FROM quarantine").fetchall()
        gone = []
        for sha, line_no, key_id, nonce, ct in rows:
            dek = self.keys.key_by_id(key_id)
            if dek is None:
                continue
            raw = open_sealed(dek, nonce, ct, f"mhpipe/quarantine/v1|{sha}|{line_no}".encode())
            if matches(raw):
                gone.append((sha, line_no))
        if gone:
            self.con.executemany("DELETE FROM quarantine WHERE file_sha = ? AND line_no = ?", gone)
            left = {r[0] for r in self.con.execute("SELECT DISTINCT file_sha FROM quarantine").fetchall()}
            self.con.execute("CHECKPOINT")
            self.keys.destroy(QUARANTINE_DATASET, sorted({sha for sha, _ in gone} - left))
        return len(gone)

    # -- deletes ----------------------------------------------------------------------
    def delete_dataset(self, dataset: str) -> int:
        """Delete a whole dataset (no longer declared by the policy) and shred its keys."""
        subjects = self.subjects(dataset)
        self.con.execute("DELETE FROM retention_applied WHERE dataset = ?", [dataset])
        return self.delete_subjects(dataset, subjects)

    def delete_subjects(self, dataset: str, subjects: set[str]) -> int:
        """Delete a dataset's rows for these subjects and shred their data keys."""
        if not subjects:
            return 0
        probe = pl.DataFrame({"subject": sorted(subjects)}).to_arrow()
        self.con.register("_gone", probe)
        try:
            n = self.con.execute(
                "SELECT count(*) FROM records WHERE dataset = ? AND subject IN (SELECT subject FROM _gone)",
                [dataset],
            ).fetchone()[0]
            self.con.execute(
                "DELETE FROM records WHERE dataset = ? AND subject IN (SELECT subject FROM _gone)",
                [dataset],
            )
        finally:
            self.con.unregister("_gone")
        self.con.execute("CHECKPOINT")
        self.keys.destroy(dataset, sorted(subjects))
        return n

    def delete_expired(self, now: datetime) -> dict[str, int]:
        """Retention: delete expired rows; shred the keys of subjects left with none."""
        expired = self.con.execute(
            "SELECT dataset, count(*) FROM records WHERE expires_at <= ? GROUP BY dataset",
            [now],
        ).fetchall()
        if not expired:
            return {}
        before = self.con.execute(
            "SELECT DISTINCT dataset, subject FROM records WHERE expires_at <= ?", [now]
        ).fetchall()
        self.con.execute("DELETE FROM records WHERE expires_at <= ?", [now])
        still = set(self.con.execute("SELECT DISTINCT dataset, subject FROM records").fetchall())
        self.con.execute("CHECKPOINT")
        gone: dict[str, list[str]] = {}
        for ds, subj in before:
            if (ds, subj) not in still:
                gone.setdefault(ds, []).append(subj)
        for ds, subjects in gone.items():
            self.keys.destroy(ds, subjects)
        return {ds: n for ds, n in expired}


_RECORD_SCHEMA = {
    "record_id": pl.String, "dataset": pl.String, "subject": pl.String, "key_id": pl.String,
    "nonce": pl.Binary, "ciphertext": pl.Binary,
    "created_at": pl.Datetime("us", "UTC"), "expires_at": pl.Datetime("us", "UTC"),
    "policy_version": pl.String,
}

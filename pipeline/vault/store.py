"""The vault: individual-level records, encrypted, in one DuckDB file.

Clear columns are only `record_id, dataset, subject, key_id, created_at, expires_at,
policy_version, kind, expiry_tag` (plus nonce and ciphertext); `expires_at` is rounded down
on a keyed per-dataset grid and authenticated by `expiry_tag` (`pipeline/vault/expiry.py`). `kind` says whether an intake row is a
message or another event ("message"/"event"; NULL in rows written before it existed), so
that the aggregates need not decrypt messages and the transcript datasets need not decrypt
anything else; the ciphertext's length already tells much the same. The ciphertext is AES-256-GCM under the
subject's data key for that dataset, with associated data binding record id, dataset and
subject: a ciphertext copied into another row does not decrypt. Plaintexts are padded to
size buckets (`crypto.pad_json`), so a ciphertext's length does not reveal the event type.

The same file holds the ingest registry (files by SHA-256) and the quarantine (invalid
lines, encrypted under a per-file key), so that a partition's records, its quarantined
lines and the note that it was ingested commit in one transaction: a run killed half-way
leaves either all of a file or none of it.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator

import duckdb
import polars as pl

from pipeline.vault.crypto import open_sealed, pad_json, seal
from pipeline.vault.expiry import EXPIRY_SECRET, expiry_tag
from pipeline.vault.lifecycle import QUARANTINE_DATASET, Lifecycle  # noqa: F401 - re-exported
from pipeline.vault.keystore import KeyStore

VAULT_MEMORY_LIMIT = os.environ.get("MHPIPE_VAULT_MEMORY", "512MB")

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
    policy_version VARCHAR NOT NULL,
    kind           VARCHAR
);
-- Vaults made before `kind` existed: the column is added, NULL meaning "not known".
ALTER TABLE records ADD COLUMN IF NOT EXISTS kind VARCHAR;
-- MAC of the clear expiry (pipeline/vault/expiry.py); NULL in rows written before it existed
ALTER TABLE records ADD COLUMN IF NOT EXISTS expiry_tag VARCHAR;
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
    kind: str | None = None  # "message" or "event" for intake rows


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


class Vault(Lifecycle):
    def __init__(self, path: Path, keys: KeyStore, read_only: bool = False):
        """`read_only`: for partition workers, which may run in several processes at once
        while nobody writes (DuckDB allows many read-only processes or one writer)."""
        self.path = Path(path)
        self.keys = keys
        # Never spill query data to temporary files: everything here is individual-level.
        # A bounded buffer pool: DuckDB would otherwise cache the whole file as it is read.
        config = {"temp_directory": "", "memory_limit": VAULT_MEMORY_LIMIT}
        if read_only:
            self.con = duckdb.connect(str(self.path), read_only=True, config=config)
            return
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        # Checkpoint when the connection closes, not every 16 MB of WAL: a checkpoint writes
        # the whole primary-key index again, which made many small commits cost O(n^2).
        config["checkpoint_threshold"] = "1GB"
        self.con = duckdb.connect(str(self.path), config=config)
        os.chmod(self.path, 0o600)
        self.con.execute(_SCHEMA)

    def close(self) -> None:
        self.con.close()

    def compact(self) -> None:
        """Rewrite the file without its free blocks. DuckDB leaves deleted rows' bytes in
        free blocks of the file; after an erasure nothing of the person's rows (ciphertext,
        nonces, their purpose pseudonyms) may stay on disk, so the vault is copied into a new
        file and swapped in (the old inode's blocks go back to the file system)."""
        db = self.con.execute("SELECT current_database()").fetchall()[0][0]
        tmp = self.path.with_name(self.path.name + ".compact")
        tmp.unlink(missing_ok=True)
        self.con.execute("CHECKPOINT")
        self.con.execute(f"ATTACH '{tmp}' AS _fresh")
        try:
            self.con.execute(f'COPY FROM DATABASE "{db}" TO _fresh')
        finally:
            self.con.execute("DETACH _fresh")
        self.con.close()
        os.chmod(tmp, 0o600)
        os.replace(tmp, self.path)
        Path(str(self.path) + ".wal").unlink(missing_ok=True)
        config = {"temp_directory": "", "memory_limit": VAULT_MEMORY_LIMIT,
                  "checkpoint_threshold": "1GB"}
        self.con = duckdb.connect(str(self.path), config=config)

    def __enter__(self) -> "Vault":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- ingest registry --------------------------------------------------------------
    def ingested_shas(self) -> set[str]:
        return {r[0] for r in self.con.execute("SELECT sha256 FROM ingested_files").fetchall()}

    def existing_ids(self, record_ids: list[str]) -> set[str]:
        return {r[0] for r in self._with_ids(
            record_ids, "SELECT r.record_id FROM records r JOIN _probe USING (record_id)", [])}

    # -- writes -----------------------------------------------------------------------
    def _insert_records(self, frame: pl.DataFrame) -> int:
        """Insert sealed rows; a record id already present is left as it is. Returns the
        number of rows actually inserted."""
        if frame.is_empty():
            return 0
        self.con.register("_new_records", frame.select(list(_RECORD_SCHEMA)).to_arrow())
        try:
            return int(self.con.execute(
                "INSERT INTO records SELECT * FROM _new_records ON CONFLICT DO NOTHING"
            ).fetchone()[0])
        finally:
            self.con.unregister("_new_records")

    def put_records(self, records: list[NewRecord], policy_version: str) -> None:
        """Idempotent per record id: a record already present is left as it is."""
        frame = seal_records(self.keys, records, policy_version)
        self.con.execute("BEGIN TRANSACTION")
        try:
            self._insert_records(frame)
            self.con.execute("COMMIT")
        except BaseException:
            self.con.execute("ROLLBACK")
            raise

    def checkpoint_if_over(self, wal_bytes: int) -> bool:
        """CHECKPOINT when the write-ahead log has grown past `wal_bytes`."""
        wal = self.path.with_name(self.path.name + ".wal")
        if wal.exists() and wal.stat().st_size > wal_bytes:
            self.con.execute("CHECKPOINT")
            return True
        return False

    def commit_sealed(self, outcome: FileOutcome, records: pl.DataFrame,
                      quarantine: pl.DataFrame) -> FileOutcome:
        """Commit one partition's sealed rows and its ingest note in one transaction.

        A record id that is already in the vault (the same event in an earlier partition of
        this run, sealed in parallel) is not inserted again: it is counted as a duplicate,
        so the note still accounts for every line. Returns the outcome as recorded."""
        self.con.execute("BEGIN TRANSACTION")
        try:
            inserted = self._insert_records(records)
            late_dupes = records.height - inserted
            outcome = replace(outcome, loaded=outcome.loaded - late_dupes,
                              duplicates=outcome.duplicates + late_dupes)
            if not quarantine.is_empty():
                self.con.register("_new_quarantine", quarantine.select(list(_QUARANTINE_SCHEMA)).to_arrow())
                try:
                    self.con.execute(
                        "INSERT INTO quarantine SELECT * FROM _new_quarantine ON CONFLICT DO NOTHING")
                finally:
                    self.con.unregister("_new_quarantine")
            self.con.execute(
                "INSERT INTO ingested_files VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                [outcome.sha256, outcome.name, datetime.now(timezone.utc), outcome.lines_read,
                 outcome.loaded, outcome.duplicates, outcome.quarantined, outcome.excluded,
                 outcome.file_error],
            )
            self.con.execute("COMMIT")
        except BaseException:
            try:
                self.con.execute("ROLLBACK")
            except duckdb.Error:
                pass  # the transaction was already aborted: keep the original error
            raise
        return outcome

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

    def _stream(self, sql: str, params: list, batch_rows: int,
                subjects: set[str] | None = None) -> Iterator[list[tuple]]:
        """Rows of one query, a batch at a time, from one scan (no re-scan per batch). It
        runs on its own cursor, so the caller may use the vault between batches; `subjects`
        is visible to the query as the table `_subjects`."""
        cur = self.con.cursor()
        try:
            if subjects is not None:
                cur.register("_subjects", pl.DataFrame(
                    {"subject": sorted(subjects)}, schema={"subject": pl.String}).to_arrow())
            reader = cur.sql(sql, params=params).to_arrow_reader(batch_rows)
            for rb in reader:
                cols = [c.to_pylist() for c in rb.columns]
                yield list(zip(*cols))
        finally:
            cur.close()

    def read(self, dataset: str, batch_rows: int = 20_000,
             keep: Callable[[bytes], bool] | None = None,
             subjects: set[str] | None = None,
             skip_kind: str | None = None) -> Iterator[tuple[str, str, dict]]:
        """Decrypt a dataset, a batch at a time (memory stays bounded): yields (record_id,
        subject, payload), in no particular order. Rows whose key was destroyed are skipped
        (they are unreadable by design). `keep` sees the plaintext before it is parsed (to
        skip rows cheaply); `subjects` limits the read to those subjects; rows of
        `skip_kind` are not even fetched."""
        where = " AND subject IN (SELECT subject FROM _subjects)" if subjects is not None else ""
        params: list = [dataset]
        if skip_kind is not None:
            where += " AND kind IS DISTINCT FROM ?"
            params.append(skip_kind)
        sql = ("SELECT record_id, subject, key_id, nonce, ciphertext FROM records "
               f"WHERE dataset = ?{where}")
        deks: dict[str, bytes | None] = {}
        for batch in self._stream(sql, params, batch_rows, subjects):
            yield from self._open_rows(dataset, batch, deks, keep)

    def _open_rows(self, dataset: str, rows: list[tuple], deks: dict[str, bytes | None],
                   keep: Callable[[bytes], bool] | None = None) -> Iterator[tuple[str, str, dict]]:
        """Decrypt (record_id, subject, key_id, nonce, ciphertext) rows; `deks` caches keys
        by id (None: destroyed, the row is skipped)."""
        for record_id, subject, key_id, nonce, ct in rows:
            if key_id not in deks:
                deks[key_id] = self.keys.key_by_id(key_id)
            dek = deks[key_id]
            if dek is None:
                continue
            plain = open_sealed(dek, nonce, ct, record_aad(record_id, dataset, subject))
            if keep is None or keep(plain):
                yield record_id, subject, json.loads(plain)

    def id_batches(self, dataset: str, subjects: set[str], batch_rows: int = 20_000,
                   kind: str | None = None,
                   expiring_after: datetime | None = None) -> Iterator[list[tuple[str, str]]]:
        """(record_id, subject) of a dataset's rows for these subjects (of this `kind` or of
        unknown kind; expiring after the given time), in batches: clear columns only,
        nothing decrypted."""
        sql = ("SELECT record_id, subject FROM records WHERE dataset = ? "
               "AND subject IN (SELECT subject FROM _subjects) "
               "AND (? IS NULL OR kind IS NULL OR kind = ?) "
               "AND (CAST(? AS TIMESTAMPTZ) IS NULL OR expires_at > ?)")
        yield from self._stream(sql, [dataset, kind, kind, expiring_after, expiring_after],
                                batch_rows, subjects)

    def read_ids(self, dataset: str, record_ids: list[str]) -> Iterator[tuple[str, str, dict]]:
        """Decrypt these rows of a dataset (those still readable)."""
        rows = self._with_ids(
            record_ids, "SELECT record_id, subject, key_id, nonce, ciphertext FROM records "
            "JOIN _probe USING (record_id) WHERE dataset = ? ORDER BY record_id", [dataset])
        yield from self._open_rows(dataset, rows, {})

    def missing_ids(self, dataset: str, record_ids: list[str]) -> set[str]:
        """Which of these record ids `dataset` does not hold."""
        return {r[0] for r in self._with_ids(
            record_ids, "SELECT p.record_id FROM _probe p ANTI JOIN "
            "(SELECT record_id FROM records WHERE dataset = ?) r USING (record_id)", [dataset])}

    def _with_ids(self, record_ids: list[str], sql: str, params: list) -> list[tuple]:
        """Run `sql` with `record_ids` visible as the table `_probe(record_id)`."""
        if not record_ids:
            return []
        self.con.register("_probe", pl.DataFrame(
            {"record_id": record_ids}, schema={"record_id": pl.String}).to_arrow())
        try:
            return self.con.execute(sql, params).fetchall()
        finally:
            self.con.unregister("_probe")

    def fingerprint(self) -> str:
        """A digest of the vault's state (rows per dataset and their newest write, files,
        erasures): equal digests mean nothing was added, deleted or erased in between."""
        import hashlib

        rows = self.con.execute(
            "SELECT dataset, count(*), max(created_at)::VARCHAR, min(expires_at)::VARCHAR "
            "FROM records GROUP BY dataset ORDER BY dataset").fetchall()
        rows += self.con.execute(
            "SELECT 'files', count(*), max(ingested_at)::VARCHAR, NULL FROM ingested_files").fetchall()
        rows += self.con.execute(
            "SELECT 'erased', count(*), max(erased_at)::VARCHAR, NULL FROM erased_subjects").fetchall()
        return hashlib.sha256(json.dumps(rows, default=str).encode()).hexdigest()

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
_RECORD_SCHEMA = {
    "record_id": pl.String, "dataset": pl.String, "subject": pl.String, "key_id": pl.String,
    "nonce": pl.Binary, "ciphertext": pl.Binary,
    "created_at": pl.Datetime("us", "UTC"), "expires_at": pl.Datetime("us", "UTC"),
    "policy_version": pl.String, "kind": pl.String, "expiry_tag": pl.String,
}

_QUARANTINE_SCHEMA = {
    "file_sha": pl.String, "file_name": pl.String, "line_no": pl.Int64, "field": pl.String,
    "rule": pl.String, "key_id": pl.String, "nonce": pl.Binary, "ciphertext": pl.Binary,
}


def seal_records(keys: KeyStore, records: list[NewRecord], policy_version: str) -> pl.DataFrame:
    """Encrypt records under their subjects' data keys (created in one batch if missing).
    The frame has the vault's columns; only the ciphertext holds the payload."""
    now = datetime.now(timezone.utc)
    by_dataset: dict[str, list[str]] = {}
    for r in records:
        by_dataset.setdefault(r.dataset, []).append(r.subject)
    for dataset, subjects in by_dataset.items():
        keys.data_keys(dataset, subjects)
    rows = []
    tag_key = keys.secret(EXPIRY_SECRET)
    for r in records:
        key_id, dek = keys.data_key(r.dataset, r.subject)
        plaintext = pad_json(json.dumps(r.payload, separators=(",", ":"), sort_keys=True).encode())
        nonce, ct = seal(dek, plaintext, record_aad(r.record_id, r.dataset, r.subject))
        rows.append((r.record_id, r.dataset, r.subject, key_id, nonce, ct, now,
                     r.expires_at, policy_version, r.kind,
                     expiry_tag(tag_key, r.record_id, r.dataset, r.subject, r.expires_at)))
    return pl.DataFrame(rows, schema=_RECORD_SCHEMA, orient="row")


def seal_quarantine(keys: KeyStore, sha256: str, name: str,
                    quarantined: list[QuarantineLine]) -> pl.DataFrame:
    """Encrypt a file's invalid lines under a per-file key; reasons stay readable."""
    rows = []
    if quarantined:
        key_id, dek = keys.data_key(QUARANTINE_DATASET, sha256)
        for q in quarantined:
            aad = f"mhpipe/quarantine/v1|{sha256}|{q.line_no}".encode()
            nonce, ct = seal(dek, q.raw, aad)
            rows.append((sha256, name, q.line_no, q.field, q.rule, key_id, nonce, ct))
    return pl.DataFrame(rows, schema=_QUARANTINE_SCHEMA, orient="row")

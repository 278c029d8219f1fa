"""The vault's lifecycle operations: retention (expiries that follow the policy, keyed expiry
tags checked before anything is deleted), erasure and deletion with crypto-shredding. A mixin
of `Vault` (`pipeline/vault/store.py`), which holds the connection and the key store."""

from __future__ import annotations

from datetime import datetime

import polars as pl

from pipeline.vault.crypto import open_sealed
from pipeline.vault.expiry import EXPIRY_SECRET, expiry_tag

QUARANTINE_DATASET = "quarantine"  # the data-key namespace of quarantined lines (per file)


class Lifecycle:
    """Needs `self.con` (DuckDB), `self.keys` (KeyStore) and `self._with_ids` from `Vault`."""

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
            if old is not None and old != days:
                self._retag("dataset = ?", [dataset])
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
            # fetchall: a result left open keeps the registered frame in use (DuckDB 2)
            return int(self.con.execute(
                "SELECT count(*) FROM records WHERE dataset = ? AND subject IN (SELECT subject FROM _probe_s)",
                [dataset]).fetchall()[0][0])
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

    def _retag(self, where: str, params: list | None = None) -> int:
        """Recompute the expiry tags of the rows matching `where` (after a legitimate change
        of their expiry, or for rows written before tags existed)."""
        key = self.keys.secret(EXPIRY_SECRET)
        rows = self.con.execute(
            f"SELECT record_id, dataset, subject, expires_at FROM records WHERE {where}",
            params or []).fetchall()
        if not rows:
            return 0
        tags = pl.DataFrame({"record_id": [r[0] for r in rows],
                             "tag": [expiry_tag(key, *r) for r in rows]})
        self.con.register("_tags", tags.to_arrow())
        try:
            self.con.execute("UPDATE records SET expiry_tag = _tags.tag FROM _tags "
                             "WHERE records.record_id = _tags.record_id")
        finally:
            self.con.unregister("_tags")
        return len(rows)

    def delete_tampered_expiries(self) -> int:
        """Check every row's expiry tag; delete the rows whose clear expiry was edited (fail
        closed). Rows from before tags existed are tagged now. Returns rows deleted."""
        self._retag("expiry_tag IS NULL")
        key = self.keys.secret(EXPIRY_SECRET)
        bad = [r[0] for r in self.con.execute(
            "SELECT record_id, dataset, subject, expires_at, expiry_tag FROM records").fetchall()
            if expiry_tag(key, r[0], r[1], r[2], r[3]) != r[4]]
        if bad:
            self._with_ids(bad, "DELETE FROM records WHERE record_id IN (SELECT record_id FROM _probe)", [])
        return len(bad)

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

"""The key store: wrapped data keys (per subject and dataset) and wrapped secrets.

A SQLite file kept apart from the vault, opened with `secure_delete` so that a destroyed key
is overwritten on disk, not just unlinked from the b-tree. Destroying a subject's DEK is
crypto-shredding: every copy of that subject's vault rows, backups included, becomes noise.
Secrets (the per-purpose pseudonym keys) are wrapped by the master key the same way.
"""

from __future__ import annotations

import os
import sqlite3
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable

from pipeline.vault.crypto import KEY_BYTES, CryptoError, KeyProvider, new_key

_SCHEMA = """
CREATE TABLE IF NOT EXISTS data_keys (
    key_id     TEXT PRIMARY KEY,
    dataset    TEXT NOT NULL,
    subject    TEXT NOT NULL,
    kek_id     TEXT NOT NULL,
    wrapped    BLOB NOT NULL,
    created_at TEXT NOT NULL,
    UNIQUE (dataset, subject)
);
CREATE TABLE IF NOT EXISTS secrets (
    name       TEXT PRIMARY KEY,
    kek_id     TEXT NOT NULL,
    wrapped    BLOB NOT NULL,
    created_at TEXT NOT NULL
);
"""


def _context(dataset: str, subject: str, key_id: str) -> str:
    return f"dek|{dataset}|{subject}|{key_id}"


class KeyStore:
    def __init__(self, path: Path, provider: KeyProvider, previous: KeyProvider | None = None):
        """`previous`: the master key being rotated away from, while a rotation is unfinished
        (keys wrapped by it are still readable; new keys are always wrapped by `provider`)."""
        self.path = path
        self.provider = provider
        self._providers = {provider.kek_id: provider}
        if previous is not None:
            self._providers.setdefault(previous.kek_id, previous)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        new = not path.exists()
        if new:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
        # Several partition workers may create keys at once: wait for the write lock.
        self._db = sqlite3.connect(path, isolation_level=None, timeout=120)
        self._db.execute("PRAGMA secure_delete = ON")
        self._db.execute("PRAGMA journal_mode = TRUNCATE")
        self._db.executescript(_SCHEMA)
        self._cache: dict[tuple[str, str], tuple[str, bytes]] = {}
        self._check_master_key()

    def close(self) -> None:
        self._cache.clear()
        self._db.close()

    def __enter__(self) -> "KeyStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _check_master_key(self) -> None:
        """Fail before any work if some keys were wrapped by a master key we do not hold."""
        kek_ids = {r[0] for r in self._db.execute(
            "SELECT kek_id FROM secrets UNION SELECT kek_id FROM data_keys").fetchall()}
        unknown = kek_ids - set(self._providers)
        if unknown and len(kek_ids) > 1 and kek_ids & set(self._providers):
            raise CryptoError(
                f"a key rotation of {self.path} is unfinished: run `mhpipe keys rotate` again "
                "(it resumes), with the previous master key still available")
        if unknown:
            raise CryptoError(
                f"the master key does not match the key store {self.path} "
                "(its keys were wrapped by another master key)"
            )

    def _unwrap(self, kek_id: str, wrapped: bytes, context: str) -> bytes:
        return self._providers[kek_id].unwrap(wrapped, context)

    def rotate(self, batch: int = 500, stop_after: int | None = None) -> int:
        """Re-wrap every key not yet under the current master key; data is not re-encrypted.
        Each batch commits on its own, so a killed rotation resumes where it stopped.
        `stop_after` (tests) stops after that many keys, as a kill would. Returns keys moved."""
        target = self.provider.kek_id
        moved = 0
        for table, id_col in (("secrets", "name"), ("data_keys", "key_id")):
            while True:
                if table == "secrets":
                    rows = self._db.execute(
                        "SELECT name, kek_id, wrapped FROM secrets WHERE kek_id != ? LIMIT ?",
                        (target, batch)).fetchall()
                    contexts = [f"secret|{r[0]}" for r in rows]
                else:
                    rows = self._db.execute(
                        "SELECT key_id, kek_id, wrapped, dataset, subject FROM data_keys "
                        "WHERE kek_id != ? LIMIT ?", (target, batch)).fetchall()
                    contexts = [_context(r[3], r[4], r[0]) for r in rows]
                if not rows:
                    break
                if stop_after is not None:
                    rows, contexts = rows[:max(0, stop_after - moved)], contexts[:max(0, stop_after - moved)]
                    if not rows:
                        return moved
                updates = [(target, self.provider.wrap(self._unwrap(r[1], r[2], c), c), r[0])
                           for r, c in zip(rows, contexts)]
                self._db.execute("BEGIN")
                self._db.executemany(
                    f"UPDATE {table} SET kek_id = ?, wrapped = ? WHERE {id_col} = ?", updates)
                self._db.execute("COMMIT")
                moved += len(updates)
        return moved

    def kek_ids(self) -> set[str]:
        return {r[0] for r in self._db.execute(
            "SELECT kek_id FROM secrets UNION SELECT kek_id FROM data_keys").fetchall()}

    # -- secrets ----------------------------------------------------------------------
    def secret(self, name: str) -> bytes:
        """A named 32-byte secret, created (and stored wrapped) on first use."""
        row = self._db.execute(
            "SELECT kek_id, wrapped FROM secrets WHERE name = ?", (name,)).fetchone()
        if row is not None:
            return self._unwrap(row[0], row[1], f"secret|{name}")
        value = new_key()
        self._db.execute(
            "INSERT OR IGNORE INTO secrets VALUES (?, ?, ?, ?)",
            (name, self.provider.kek_id, self.provider.wrap(value, f"secret|{name}"), _now()),
        )
        return self.secret(name)  # re-read: another writer may have won the insert

    # -- data keys --------------------------------------------------------------------
    def data_key(self, dataset: str, subject: str) -> tuple[str, bytes]:
        """(key_id, DEK) for a subject in a dataset, generated on first use."""
        hit = self._cache.get((dataset, subject))
        if hit is not None:
            return hit
        row = self._db.execute(
            "SELECT key_id, wrapped, kek_id FROM data_keys WHERE dataset = ? AND subject = ?",
            (dataset, subject),
        ).fetchone()
        if row is None:
            key_id = uuid.uuid4().hex
            wrapped = self.provider.wrap(new_key(), _context(dataset, subject, key_id))
            self._db.execute(
                "INSERT OR IGNORE INTO data_keys VALUES (?, ?, ?, ?, ?, ?)",
                (key_id, dataset, subject, self.provider.kek_id, wrapped, _now()),
            )
            return self.data_key(dataset, subject)
        key_id, wrapped, kek_id = row
        dek = self._unwrap(kek_id, wrapped, _context(dataset, subject, key_id))
        if len(dek) != KEY_BYTES:  # pragma: no cover - authenticated, so only on a bug
            raise CryptoError("a stored data key has the wrong length")
        self._cache[(dataset, subject)] = (key_id, dek)
        return key_id, dek

    def data_keys(self, dataset: str, subjects: Iterable[str]) -> None:
        """Make sure every subject has a DEK in `dataset`, creating the missing ones in one
        transaction (one disk sync for a whole partition instead of one per subject), and
        load them into the cache. Safe against other processes doing the same."""
        want = [s for s in dict.fromkeys(subjects) if (dataset, s) not in self._cache]
        if not want:
            return
        have = self._fetch(dataset, want)
        missing = [s for s in want if s not in have]
        if missing:
            rows = []
            for s in missing:
                key_id = uuid.uuid4().hex
                rows.append((key_id, dataset, s, self.provider.kek_id,
                             self.provider.wrap(new_key(), _context(dataset, s, key_id)), _now()))
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany(
                    "INSERT OR IGNORE INTO data_keys VALUES (?, ?, ?, ?, ?, ?)", rows)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            have.update(self._fetch(dataset, missing))  # another writer may have won a row
        for s, (key_id, wrapped, kek_id) in have.items():
            dek = self._unwrap(kek_id, wrapped, _context(dataset, s, key_id))
            if len(dek) != KEY_BYTES:  # pragma: no cover - authenticated, so only on a bug
                raise CryptoError("a stored data key has the wrong length")
            self._cache[(dataset, s)] = (key_id, dek)

    def _fetch(self, dataset: str, subjects: list[str]) -> dict[str, tuple[str, bytes, str]]:
        out: dict[str, tuple[str, bytes, str]] = {}
        for i in range(0, len(subjects), 500):
            part = subjects[i:i + 500]
            marks = ",".join("?" * len(part))
            for subject, key_id, wrapped, kek_id in self._db.execute(
                f"SELECT subject, key_id, wrapped, kek_id FROM data_keys "
                f"WHERE dataset = ? AND subject IN ({marks})", (dataset, *part)):
                out[subject] = (key_id, wrapped, kek_id)
        return out

    def has_keys(self, key_ids: set[str]) -> bool:
        """Whether every one of these data keys still exists (none was destroyed)."""
        ids = sorted(key_ids)
        found = 0
        for i in range(0, len(ids), 500):
            part = ids[i:i + 500]
            found += self._db.execute(
                f"SELECT count(*) FROM data_keys WHERE key_id IN ({','.join('?' * len(part))})",
                part).fetchone()[0]
        return found == len(ids)

    def key_by_id(self, key_id: str) -> bytes | None:
        """The DEK with this id, or None once it was destroyed (crypto-shredded)."""
        row = self._db.execute(
            "SELECT dataset, subject, wrapped, kek_id FROM data_keys WHERE key_id = ?", (key_id,)
        ).fetchone()
        if row is None:
            return None
        dataset, subject, wrapped, kek_id = row
        return self._unwrap(kek_id, wrapped, _context(dataset, subject, key_id))

    def destroy(self, dataset: str, subjects: list[str]) -> int:
        """Crypto-shred: delete (and overwrite) the DEKs of these subjects in a dataset."""
        if not subjects:
            return 0
        for s in subjects:
            self._cache.pop((dataset, s), None)
        self._db.execute("BEGIN")
        cur = self._db.executemany(
            "DELETE FROM data_keys WHERE dataset = ? AND subject = ?",
            [(dataset, s) for s in subjects],
        )
        self._db.execute("COMMIT")
        return cur.rowcount

    def count(self, dataset: str | None = None) -> int:
        if dataset is None:
            return self._db.execute("SELECT count(*) FROM data_keys").fetchone()[0]
        return self._db.execute(
            "SELECT count(*) FROM data_keys WHERE dataset = ?", (dataset,)
        ).fetchone()[0]


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")

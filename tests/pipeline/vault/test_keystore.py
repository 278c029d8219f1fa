from __future__ import annotations

import shutil

import pytest

from pipeline.vault.crypto import CryptoError, LocalKeyProvider, new_key
from pipeline.vault.keystore import KeyStore
from pipeline.vault.store import NewRecord, Vault
from datetime import datetime, timezone


def test_data_keys_are_stable_per_subject_and_dataset(tmp_path):
    provider = LocalKeyProvider(new_key())
    with KeyStore(tmp_path / "k.sqlite", provider) as ks:
        a1, a2 = ks.data_key("ds", "alice"), ks.data_key("ds", "alice")
        b = ks.data_key("ds", "bob")
        other = ks.data_key("ds2", "alice")
        assert a1 == a2 and a1[1] != b[1] and a1[1] != other[1]
        assert ks.secret("s") == ks.secret("s") and len(ks.secret("s")) == 32
    with KeyStore(tmp_path / "k.sqlite", provider) as ks:  # reopened: same keys
        assert ks.data_key("ds", "alice") == a1


def test_wrong_master_key_is_refused_before_use(tmp_path):
    with KeyStore(tmp_path / "k.sqlite", LocalKeyProvider(new_key())) as ks:
        ks.secret("s")
    with pytest.raises(CryptoError, match="does not match"):
        KeyStore(tmp_path / "k.sqlite", LocalKeyProvider(new_key()))


def test_crypto_shredding_makes_a_vault_backup_unreadable(tmp_path):
    provider = LocalKeyProvider(new_key())
    when = datetime(2030, 1, 1, tzinfo=timezone.utc)
    with KeyStore(tmp_path / "k.sqlite", provider) as ks, Vault(tmp_path / "v.duckdb", ks) as v:
        v.put_records([NewRecord("r1", "qi", "alice", {"text": "hello"}, when),
                       NewRecord("r2", "qi", "bob", {"text": "hi"}, when)], "p1")
    shutil.copy(tmp_path / "v.duckdb", tmp_path / "backup.duckdb")
    with KeyStore(tmp_path / "k.sqlite", provider) as ks, Vault(tmp_path / "v.duckdb", ks) as v:
        assert v.delete_subjects("qi", {"alice"}) == 1
        assert ks.count("qi") == 1
    # The backup still has alice's ciphertext, but her key is gone: only bob decrypts.
    with KeyStore(tmp_path / "k.sqlite", provider) as ks, \
            Vault(tmp_path / "backup.duckdb", ks) as backup:
        readable = list(backup.read("qi"))
        assert [r[1] for r in readable] == ["bob"]
        assert backup.record_ids("qi") == {"r1", "r2"}
    raw = (tmp_path / "k.sqlite").read_bytes()
    assert b"alice" not in raw  # secure_delete overwrote the destroyed key's row


def _make_keys(path: str, key: bytes, subjects: list[str]) -> dict[str, str]:
    with KeyStore(__import__("pathlib").Path(path), LocalKeyProvider(key)) as ks:
        ks.data_keys("intake", subjects)
        return {s: ks.data_key("intake", s)[0] for s in subjects}


def test_batch_key_creation_from_parallel_processes_agrees(tmp_path):
    """Partitions are staged in several processes at once: keys created concurrently for the
    same subjects end up one per subject, and every process sees the same one."""
    from concurrent.futures import ProcessPoolExecutor

    key = new_key()
    path = str(tmp_path / "k.sqlite")
    KeyStore(tmp_path / "k.sqlite", LocalKeyProvider(key)).close()
    subjects = [f"s{i}" for i in range(300)]
    with ProcessPoolExecutor(4) as pool:
        views = list(pool.map(_make_keys, [path] * 4, [key] * 4,
                              [subjects, subjects[::-1], subjects[100:], subjects[:200]]))
    with KeyStore(tmp_path / "k.sqlite", LocalKeyProvider(key)) as ks:
        assert ks.count("intake") == 300
        final = {s: ks.data_key("intake", s)[0] for s in subjects}
    for view in views:
        assert all(final[s] == k for s, k in view.items())

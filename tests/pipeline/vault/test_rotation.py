"""Master-key rotation: killed half-way, resumed, and then only the new key works."""

from __future__ import annotations

import base64
from datetime import datetime, timezone

import pytest

from pipeline.vault import rotation as rotation
from pipeline.vault.crypto import CryptoError, LocalKeyProvider, load_master_key
from pipeline.vault.keystore import KeyStore
from pipeline.vault.store import NewRecord, Vault

WHEN = datetime(2030, 1, 1, tzinfo=timezone.utc)


def test_rotation_killed_midway_resumes_and_old_key_is_not_needed(tmp_path):
    master = tmp_path / "master.key"
    old = load_master_key(master, create=True)
    store, vault_file = tmp_path / "k.sqlite", tmp_path / "v.duckdb"
    with KeyStore(store, old) as ks, Vault(vault_file, ks) as v:
        ks.secret("pseudonym/intake")
        v.put_records([NewRecord(f"r{i}", "qi", f"s{i}", {"text": f"t{i}"}, WHEN)
                       for i in range(40)], "p1")

    first = rotation.rotate(store, master, stop_after=15)  # "killed" after 15 keys
    assert first["finished"] is False
    assert rotation.pending_key_file(master).exists()
    with pytest.raises(CryptoError, match="rotation .* is unfinished"):
        KeyStore(store, old)  # normal runs refuse a half-rotated store

    second = rotation.rotate(store, master)  # resumed
    assert second["finished"] and second["resumed"]
    assert first["keys_rewrapped"] + second["keys_rewrapped"] == 42  # 40 DEKs + 2 secrets (pseudonyms, expiry tags)
    assert not rotation.pending_key_file(master).exists()

    new = load_master_key(master)
    assert new.kek_id != old.kek_id == second["old_kek_id"]
    with KeyStore(store, new) as ks, Vault(vault_file, ks) as v:  # new key only
        assert sorted(r[2]["text"] for r in v.read("qi")) == sorted(f"t{i}" for i in range(40))
    with pytest.raises(CryptoError, match="does not match"):
        KeyStore(store, old)  # the old key opens nothing any more


def test_env_key_needs_an_explicit_new_key(tmp_path, monkeypatch):
    key = LocalKeyProvider(b"\x01" * 32)
    monkeypatch.setenv("MHPIPE_MASTER_KEY", base64.b64encode(b"\x01" * 32).decode())
    with KeyStore(tmp_path / "k.sqlite", key) as ks:
        ks.secret("x")
    with pytest.raises(CryptoError, match="--new-key-file"):
        rotation.rotate(tmp_path / "k.sqlite", tmp_path / "master.key")
    new_file = tmp_path / "new.key"
    new_file.write_text(base64.b64encode(b"\x02" * 32).decode())
    assert rotation.rotate(tmp_path / "k.sqlite", tmp_path / "master.key", new_file)["finished"]
    with KeyStore(tmp_path / "k.sqlite", LocalKeyProvider(b"\x02" * 32)) as ks:
        assert len(ks.secret("x")) == 32

from __future__ import annotations

import base64
import os

import pytest

from pipeline.crypto import (CryptoError, LocalKeyProvider, load_master_key, new_key,
                             open_sealed, seal)


def test_seal_roundtrip_and_aad_binding():
    key = new_key()
    nonce, ct = seal(key, b"de-identified text", b"row-1")
    assert open_sealed(key, nonce, ct, b"row-1") == b"de-identified text"
    assert b"de-identified" not in ct
    with pytest.raises(CryptoError):
        open_sealed(key, nonce, ct, b"row-2")  # moved to another row
    with pytest.raises(CryptoError):
        open_sealed(new_key(), nonce, ct, b"row-1")


def test_wrap_needs_the_same_master_key_and_context():
    a, b = LocalKeyProvider(new_key()), LocalKeyProvider(new_key())
    dek = new_key()
    wrapped = a.wrap(dek, "ctx")
    assert a.unwrap(wrapped, "ctx") == dek
    with pytest.raises(CryptoError):
        b.unwrap(wrapped, "ctx")
    with pytest.raises(CryptoError):
        a.unwrap(wrapped, "other")
    assert a.kek_id != b.kek_id


def test_master_key_from_env_file_or_created(tmp_path, monkeypatch):
    key = new_key()
    monkeypatch.setenv("MHPIPE_MASTER_KEY", base64.b64encode(key).decode())
    assert load_master_key(tmp_path / "none").kek_id == LocalKeyProvider(key).kek_id
    monkeypatch.delenv("MHPIPE_MASTER_KEY")
    with pytest.raises(CryptoError, match="no master key"):
        load_master_key(tmp_path / "none")
    created = load_master_key(tmp_path / "k" / "master.key", create=True)
    assert oct(os.stat(tmp_path / "k" / "master.key").st_mode & 0o777) == "0o600"
    assert load_master_key(tmp_path / "k" / "master.key").kek_id == created.kek_id


def test_bad_master_keys_fail_without_showing_the_key(tmp_path, monkeypatch):
    monkeypatch.setenv("MHPIPE_MASTER_KEY", "not*base64")
    with pytest.raises(CryptoError) as exc:
        load_master_key(tmp_path / "x")
    assert "not*base64" not in str(exc.value)
    monkeypatch.setenv("MHPIPE_MASTER_KEY", base64.b64encode(b"short").decode())
    with pytest.raises(CryptoError, match="32 bytes"):
        load_master_key(tmp_path / "x")
    monkeypatch.delenv("MHPIPE_MASTER_KEY")
    f = tmp_path / "open.key"
    f.write_text(base64.b64encode(new_key()).decode())
    f.chmod(0o644)
    with pytest.raises(CryptoError, match="chmod 600"):
        load_master_key(f)

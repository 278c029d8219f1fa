from __future__ import annotations

import base64
import os

import pytest

from pipeline.vault.crypto import (CryptoError, LocalKeyProvider, load_master_key, new_key,
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


# -- property tests ---------------------------------------------------------------------
from hypothesis import given, settings, strategies as st  # noqa: E402
from pipeline.layout import Layout

KEY = new_key()


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=2000), st.binary(max_size=64))
def test_roundtrip_any_text(text, aad):
    nonce, ct = seal(KEY, text.encode(), aad)
    assert open_sealed(KEY, nonce, ct, aad).decode() == text


@settings(max_examples=200, deadline=None)
@given(st.text(min_size=1, max_size=300), st.data())
def test_any_single_byte_change_is_detected(text, data):
    aad = b"mhpipe/record/v1|r1|qi|subject"
    nonce, ct = seal(KEY, text.encode(), aad)
    part = data.draw(st.sampled_from(["ciphertext", "nonce", "aad"]))
    blob = {"ciphertext": ct, "nonce": nonce, "aad": aad}[part]
    i = data.draw(st.integers(0, len(blob) - 1))
    flip = data.draw(st.integers(1, 255))
    changed = blob[:i] + bytes([blob[i] ^ flip]) + blob[i + 1:]
    args = {"ciphertext": ct, "nonce": nonce, "aad": aad, part: changed}
    with pytest.raises(CryptoError):
        open_sealed(KEY, args["nonce"], args["ciphertext"], args["aad"])


@settings(max_examples=100, deadline=None)
@given(st.data())
def test_any_single_byte_change_to_a_wrapped_key_is_detected(data):
    provider = LocalKeyProvider(KEY)
    wrapped = provider.wrap(new_key(), "dek|qi|subject|id")
    i = data.draw(st.integers(0, len(wrapped) - 1))
    changed = wrapped[:i] + bytes([wrapped[i] ^ data.draw(st.integers(1, 255))]) + wrapped[i + 1:]
    with pytest.raises(CryptoError):
        provider.unwrap(changed, "dek|qi|subject|id")


def test_padding_hides_the_event_type_in_ciphertext_lengths(tmp_path, sample_raw):
    """Risk flags, escalations and every other non-message event seal to the same length."""
    import duckdb

    from pipeline.vault.crypto import PAD_MIN, pad_json
    from tests.synthetic import run_batch

    assert len(pad_json(b"{}")) == PAD_MIN and len(pad_json(b"x" * 257)) == 512
    data = tmp_path / "data"
    run_batch(sample_raw, data)
    con = duckdb.connect(str(Layout(data).vault), read_only=True)
    try:
        lengths = {r[0] for r in con.execute(
            "SELECT DISTINCT octet_length(ciphertext) FROM records WHERE kind = 'event'").fetchall()}
        messages = {r[0] for r in con.execute(
            "SELECT DISTINCT octet_length(ciphertext) FROM records WHERE kind = 'message'").fetchall()}
    finally:
        con.close()
    assert lengths == {PAD_MIN + 16}  # one length for every event type (16: the GCM tag)
    assert all((n - 16) & (n - 17) == 0 for n in messages)  # powers of two only

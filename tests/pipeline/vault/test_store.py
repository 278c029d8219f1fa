"""The Vault (pipeline/vault/store.py): sealed rows, what stays in clear, idempotent writes,
one-transaction partition commits, batched reads. Retention and erasure: test_lifecycle.py."""

from __future__ import annotations

import stat
from datetime import datetime, timedelta, timezone

import duckdb
import polars as pl
import pytest

from pipeline.vault.crypto import CryptoError, LocalKeyProvider, new_key
from pipeline.vault.keystore import KeyStore
from pipeline.vault.store import (QUARANTINE_DATASET, FileOutcome, NewRecord, QuarantineLine,
                                  Vault, record_aad, seal_quarantine, seal_records)

EXPIRES = datetime(2030, 1, 1, tzinfo=timezone.utc)
CLEAR_COLUMNS = {"record_id", "dataset", "subject", "key_id", "nonce", "ciphertext",
                 "created_at", "expires_at", "policy_version", "kind", "expiry_tag"}


@pytest.fixture
def stores(tmp_path):
    with KeyStore(tmp_path / "keys.sqlite", LocalKeyProvider(new_key())) as keys, \
            Vault(tmp_path / "vault.duckdb", keys) as vault:
        yield keys, vault


def _rec(rid, subject="alice", dataset="ds", kind=None, expires=EXPIRES, **payload):
    return NewRecord(rid, dataset, subject, payload or {"text": f"text of {rid}"}, expires, kind)


def _outcome(sha="a" * 64, **kw):
    base = dict(sha256=sha, name="f.jsonl.gz", lines_read=3, loaded=2, duplicates=0,
                quarantined=1)
    base.update(kw)
    return FileOutcome(**base)


def test_round_trip_and_only_the_clear_columns_in_clear(stores, tmp_path):
    keys, vault = stores
    vault.put_records([_rec("r1", text="hello Zanzibar"), _rec("r2", "bob")], "p1")
    got = sorted(vault.read("ds"))
    assert got == [("r1", "alice", {"text": "hello Zanzibar"}),
                   ("r2", "bob", {"text": "text of r2"})]
    assert vault.subjects("ds") == {"alice", "bob"} and vault.record_ids("ds") == {"r1", "r2"}
    cols = {r[0] for r in vault.con.execute("DESCRIBE records").fetchall()}
    assert cols == CLEAR_COLUMNS
    vault.con.execute("CHECKPOINT")
    assert b"Zanzibar" not in (tmp_path / "vault.duckdb").read_bytes()
    assert stat.S_IMODE((tmp_path / "vault.duckdb").stat().st_mode) == 0o600


def test_put_is_idempotent_per_record_id(stores):
    _, vault = stores
    vault.put_records([_rec("r1", text="first")], "p1")
    vault.put_records([_rec("r1", text="second"), _rec("r2")], "p2")
    assert sorted(vault.read("ds")) == [("r1", "alice", {"text": "first"}),
                                        ("r2", "alice", {"text": "text of r2"})]


def test_a_ciphertext_moved_to_another_row_does_not_decrypt(stores):
    """The associated data binds record id, dataset and subject."""
    keys, vault = stores
    vault.put_records([_rec("r1"), _rec("r2")], "p1")
    nonce, ct = vault.con.execute(
        "SELECT nonce, ciphertext FROM records WHERE record_id = 'r2'").fetchone()
    vault.con.execute("UPDATE records SET nonce = ?, ciphertext = ? WHERE record_id = 'r1'",
                      [nonce, ct])  # same subject, same data key: only the binding differs
    with pytest.raises(CryptoError, match="failed authentication"):
        list(vault.read("ds"))
    assert record_aad("r1", "ds", "alice") == b"mhpipe/record/v1|r1|ds|alice"


def test_ciphertext_length_does_not_tell_small_payloads_apart(stores):
    keys, _ = stores
    frame = seal_records(keys, [_rec("a", text="x"), _rec("b", text="x" * 200)], "p1")
    assert frame["ciphertext"].bin.size().n_unique() == 1
    assert frame.columns == ["record_id", "dataset", "subject", "key_id", "nonce", "ciphertext",
                             "created_at", "expires_at", "policy_version", "kind", "expiry_tag"]


def test_commit_sealed_counts_rows_already_present_as_duplicates(stores):
    """Partitions are sealed in parallel: an event already committed by another partition
    of the run is not inserted again, and the ingest note says so."""
    keys, vault = stores
    vault.put_records([_rec("r1")], "p1")
    records = seal_records(keys, [_rec("r1"), _rec("r2")], "p1")
    quarantine = seal_quarantine(keys, "a" * 64, "f.jsonl.gz",
                                 [QuarantineLine(3, "text", "too long", b'{"raw": "line"}')])
    recorded = vault.commit_sealed(_outcome(), records, quarantine)
    assert (recorded.loaded, recorded.duplicates) == (1, 1)
    assert vault.ingested_shas() == {"a" * 64}
    assert vault.registry_totals() == {"files": 1, "lines_read": 3, "loaded": 1,
                                       "duplicates": 1, "quarantined": 1, "excluded": 0}
    assert vault.quarantine_reasons() == [("f.jsonl.gz", 3, "text", "too long")]
    assert QuarantineLine(3, "text", "too long", b"").reason == "line 3: text: too long"
    assert keys.count(QUARANTINE_DATASET) == 1


def test_a_failed_commit_leaves_nothing(stores):
    keys, vault = stores
    records = seal_records(keys, [_rec("r1")], "p1")
    broken = records.with_columns(pl.lit(None, pl.String).alias("subject"))  # NOT NULL
    with pytest.raises(duckdb.Error):
        vault.commit_sealed(_outcome(), broken, seal_quarantine(keys, "a" * 64, "f", []))
    assert vault.record_ids("ds") == set() and vault.ingested_shas() == set()


def test_read_filters_by_subject_and_kind_and_skips_shredded_rows(stores):
    keys, vault = stores
    vault.put_records([_rec("m1", kind="message"), _rec("e1", kind="event"),
                       _rec("u1"), _rec("b1", "bob", kind="message")], "p1")
    ids = lambda rows: sorted(r[0] for r in rows)  # noqa: E731
    assert ids(vault.read("ds", subjects={"bob"})) == ["b1"]
    assert ids(vault.read("ds", skip_kind="message")) == ["e1", "u1"]  # unknown kind is read
    assert ids(vault.read("ds", keep=lambda plain: b"m1" in plain)) == ["m1"]
    assert ids(vault.read("ds", batch_rows=1)) == ["b1", "e1", "m1", "u1"]
    keys.destroy("ds", ["alice"])
    assert ids(vault.read("ds")) == ["b1"]


def test_id_batches_read_clear_columns_only(stores):
    _, vault = stores
    soon, later = EXPIRES - timedelta(days=100), EXPIRES
    vault.put_records([_rec("m1", kind="message", expires=soon),
                       _rec("m2", kind="message", expires=later), _rec("e1", kind="event"),
                       _rec("u1"), _rec("b1", "bob", kind="message")], "p1")
    flat = lambda batches: sorted(r for b in batches for r in b)  # noqa: E731
    assert flat(vault.id_batches("ds", {"alice"}, kind="message")) == [
        ("m1", "alice"), ("m2", "alice"), ("u1", "alice")]
    assert flat(vault.id_batches("ds", {"alice"}, kind="message",
                                 expiring_after=soon)) == [("m2", "alice"), ("u1", "alice")]
    assert [len(b) for b in vault.id_batches("ds", {"alice", "bob"}, batch_rows=2)] == [2, 2, 1]


def test_ids_present_missing_and_read_by_id(stores):
    _, vault = stores
    vault.put_records([_rec("r1"), _rec("r2"), _rec("x1", dataset="other")], "p1")
    assert vault.existing_ids(["r1", "x1", "zz"]) == {"r1", "x1"}
    assert vault.missing_ids("ds", ["r1", "x1", "zz"]) == {"x1", "zz"}
    assert [r[0] for r in vault.read_ids("ds", ["r2", "r1", "x1"])] == ["r1", "r2"]
    assert vault.existing_ids([]) == set()


def test_fingerprint_changes_on_writes_only(stores):
    _, vault = stores
    empty = vault.fingerprint()
    vault.put_records([_rec("r1")], "p1")
    one = vault.fingerprint()
    list(vault.read("ds"))
    assert vault.fingerprint() == one != empty


def test_read_only_opening_and_compaction_keep_the_rows(tmp_path):
    provider = LocalKeyProvider(new_key())
    with KeyStore(tmp_path / "k.sqlite", provider) as keys:
        with Vault(tmp_path / "v.duckdb", keys) as vault:
            vault.put_records([_rec("r1"), _rec("r2", "bob")], "p1")
            vault.delete_subjects("ds", {"bob"})
            vault.compact()
            assert sorted(r[0] for r in vault.read("ds")) == ["r1"]
        assert stat.S_IMODE((tmp_path / "v.duckdb").stat().st_mode) == 0o600
        with Vault(tmp_path / "v.duckdb", keys, read_only=True) as ro:
            assert ro.record_ids("ds") == {"r1"}
            with pytest.raises(duckdb.Error):
                ro.put_records([_rec("r3")], "p1")

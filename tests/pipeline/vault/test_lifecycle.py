"""The vault's lifecycle (pipeline/vault/lifecycle.py): expiries that follow the policy,
tampered expiries caught, deletion with crypto-shredding, erasure bookkeeping."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from pipeline.vault.crypto import LocalKeyProvider, new_key
from pipeline.vault.keystore import KeyStore
from pipeline.vault.store import (QUARANTINE_DATASET, QuarantineLine, FileOutcome, NewRecord,
                                  Vault, seal_quarantine, seal_records)

NOW = datetime(2026, 11, 27, tzinfo=timezone.utc)


@pytest.fixture
def stores(tmp_path):
    with KeyStore(tmp_path / "keys.sqlite", LocalKeyProvider(new_key())) as keys, \
            Vault(tmp_path / "vault.duckdb", keys) as vault:
        yield keys, vault


def _rec(rid, subject, days_left, dataset="ds"):
    return NewRecord(rid, dataset, subject, {"rid": rid}, NOW + timedelta(days=days_left))


def _expiries(vault, dataset="ds"):
    return dict(vault.con.execute("SELECT record_id, expires_at FROM records WHERE dataset = ? "
                                  "ORDER BY 1", [dataset]).fetchall())


def test_a_shorter_retention_moves_stored_expiries_by_the_difference(stores):
    _, vault = stores
    vault.put_records([_rec("r1", "alice", 50), _rec("r2", "bob", 80)], "p1")
    before = _expiries(vault)
    vault.set_retention("ds", 90)  # first time: recorded, nothing moves
    assert _expiries(vault) == before and vault.applied_retention() == {"ds": 90}
    vault.set_retention("ds", 30)
    assert {k: before[k] - v for k, v in _expiries(vault).items()} == {
        "r1": timedelta(days=60), "r2": timedelta(days=60)}
    assert vault.applied_retention() == {"ds": 30}
    assert vault.delete_tampered_expiries() == 0  # a legitimate move is re-tagged


def test_count_expiring_previews_without_deleting(stores):
    _, vault = stores
    vault.put_records([_rec("r1", "alice", 10), _rec("r2", "alice", 40),
                       _rec("r3", "bob", 70)], "p1")
    assert vault.count_expiring("ds", NOW) == (0, 0)
    assert vault.count_expiring("ds", NOW, shift_days=-50) == (2, 1)
    assert vault.count_expiring("ds", NOW + timedelta(days=100)) == (3, 2)
    assert vault.datasets() == {"ds": 3}


def test_delete_expired_shreds_the_keys_of_subjects_left_with_nothing(stores):
    keys, vault = stores
    vault.put_records([_rec("r1", "alice", -1), _rec("r2", "bob", -1), _rec("r3", "bob", 30),
                       _rec("x1", "carol", -5, dataset="other")], "p1")
    assert vault.delete_expired(NOW) == {"ds": 2, "other": 1}
    assert vault.record_ids("ds") == {"r3"} and vault.datasets() == {"ds": 1}
    assert keys.count("ds") == 1  # alice's key destroyed, bob's kept (r3 is alive)
    assert keys.count("other") == 0
    assert vault.delete_expired(NOW) == {}


def test_an_edited_expiry_is_deleted_and_untagged_rows_are_tagged(stores):
    _, vault = stores
    vault.put_records([_rec("r1", "alice", 10), _rec("r2", "alice", 10),
                       _rec("r3", "bob", 10)], "p1")
    vault.con.execute("UPDATE records SET expiry_tag = NULL WHERE record_id = 'r3'")  # old row
    vault.con.execute("UPDATE records SET expires_at = expires_at + INTERVAL 3650 DAY "
                      "WHERE record_id = 'r1'")
    assert vault.delete_tampered_expiries() == 1
    assert vault.record_ids("ds") == {"r2", "r3"}
    assert vault.con.execute("SELECT count(*) FROM records WHERE expiry_tag IS NULL").fetchone() == (0,)


def test_count_subjects_records(stores):
    """What `mhpipe policy impact` reports as records erased by an exclusion."""
    _, vault = stores
    vault.put_records([_rec("r1", "alice", 10), _rec("r2", "alice", 10),
                       _rec("r3", "bob", 10), _rec("x1", "alice", 10, dataset="other")], "p1")
    assert vault.count_subjects_records("ds", set()) == 0
    assert vault.count_subjects_records("ds", {"alice", "nobody"}) == 2
    assert vault.count_subjects_records("ds", {"alice", "bob"}) == 3


def test_delete_subjects_counts_and_shreds(stores):
    keys, vault = stores
    vault.put_records([_rec("r1", "alice", 10), _rec("r2", "alice", 10),
                       _rec("r3", "bob", 10)], "p1")
    assert vault.delete_subjects("ds", {"alice"}) == 2
    assert vault.subjects("ds") == {"bob"} and keys.count("ds") == 1
    assert vault.delete_subjects("ds", set()) == 0


def test_delete_dataset_forgets_its_retention(stores):
    keys, vault = stores
    vault.put_records([_rec("r1", "alice", 10), _rec("x1", "alice", 10, dataset="keep")], "p1")
    vault.set_retention("ds", 30)
    vault.set_retention("keep", 30)
    assert vault.delete_dataset("ds") == 1
    assert vault.datasets() == {"keep": 1} and vault.applied_retention() == {"keep": 30}
    assert keys.count("ds") == 0 and keys.count("keep") == 1


def test_erasure_register(stores):
    _, vault = stores
    vault.mark_erased("alice", NOW)
    vault.mark_erased("alice", NOW + timedelta(days=1))  # once only
    assert vault.erased_subjects() == {"alice"}


def test_erase_quarantined_lines_and_their_file_key(stores):
    keys, vault = stores
    lines = {"a" * 64: [QuarantineLine(1, "user_id", "bad", b'{"user_id": "u-alice"}'),
                        QuarantineLine(2, "text", "bad", b'{"user_id": "u-bob"}')],
             "b" * 64: [QuarantineLine(7, "text", "bad", b'{"user_id": "u-alice"}')]}
    for sha, q in lines.items():
        vault.commit_sealed(FileOutcome(sha, sha[:1], 2, 0, 0, len(q)),
                            seal_records(keys, [], "p1"), seal_quarantine(keys, sha, sha[:1], q))
    assert keys.count(QUARANTINE_DATASET) == 2
    assert vault.erase_quarantined(lambda raw: b"u-alice" in raw) == 2
    assert vault.quarantine_reasons() == [("a", 2, "text", "bad")]
    assert keys.count(QUARANTINE_DATASET) == 1  # file b has no line left: its key is gone
    assert vault.erase_quarantined(lambda raw: False) == 0

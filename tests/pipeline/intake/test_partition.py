"""Partitions: staged anywhere (vault read-only), committed in order, resumable, private."""

from __future__ import annotations

import json
import duckdb
import polars as pl
import pytest

from pipeline.intake import partition
from pipeline.run import stages
from tests.conftest import NOW, POLICIES, POLICY
from tests.synthetic import identifier_values, raw_identifiers, raw_messages
from pipeline.layout import Layout
from pipeline.vault.stores import open_stores
from pipeline.policy import load_policy


@pytest.fixture()
def staged(sample_raw, tmp_path):
    data = tmp_path / "data"
    stages.check_keys(data)
    files = stages.new_files(sample_raw, data)
    return data, files


def test_staging_writes_only_sealed_columns_and_commit_moves_them_into_the_vault(sample_raw, staged):
    data, files = staged
    name, sha = files[0]
    summary = stages.stage_partition(sample_raw, name, sha, data, POLICY, NOW, 1)
    folder = partition.staging_root(data) / sha
    assert sorted(p.name for p in folder.iterdir()) == [
        "outcome.json", "quarantine.parquet", "records.parquet"]
    assert oct(folder.stat().st_mode & 0o777) == "0o700"
    assert all(oct(p.stat().st_mode & 0o777) == "0o600" for p in folder.iterdir())
    records = pl.read_parquet(folder / "records.parquet")
    assert records.columns == ["record_id", "dataset", "subject", "key_id", "nonce", "ciphertext",
                               "created_at", "expires_at", "policy_version", "kind", "expiry_tag"]
    assert records.height == summary["loaded"] > 0
    # Nothing of the raw file is readable in the staged partition.
    texts = raw_messages(sample_raw)
    secrets = {v for v in raw_identifiers(sample_raw) | identifier_values(sample_raw, texts)
               if len(v) >= 8}
    blob = b"".join(p.read_bytes() for p in folder.iterdir())
    assert len(secrets) > 100 and not [s for s in secrets if s.encode() in blob]
    assert set(json.loads((folder / "outcome.json").read_text())) == {
        "outcome", "policy_digest", "summary"}

    committed = stages.commit_partition(data, sha)
    assert not folder.exists()
    assert committed["loaded"] == summary["loaded"]
    con = duckdb.connect(str(Layout(data).vault), read_only=True)
    n = con.execute("SELECT count(*) FROM records WHERE dataset = 'intake'").fetchone()[0]
    reg = con.execute("SELECT loaded FROM ingested_files WHERE sha256 = ?", [sha]).fetchone()[0]
    con.close()
    assert n == reg == summary["loaded"]


def test_a_staged_partition_is_reused_by_the_next_run_unless_the_policy_changed(sample_raw, staged, tmp_path):
    data, files = staged
    name, sha = files[0]
    stages.stage_partition(sample_raw, name, sha, data, POLICY, NOW, 1)
    records = partition.staging_root(data) / sha / "records.parquet"
    before = records.read_bytes()
    stages.stage_partition(sample_raw, name, sha, data, POLICY, NOW, 1)
    assert records.read_bytes() == before  # reused: not de-identified and sealed again

    changed = tmp_path / "pol"
    changed.mkdir()
    text = (POLICIES / "policy.yaml").read_text()
    (changed / "policy.yaml").write_text(text.replace("retention_days: 90", "retention_days: 60", 1))
    assert changed.joinpath("policy.yaml").read_text() != text
    stages.stage_partition(sample_raw, name, sha, data, load_policy(changed), NOW, 1)
    assert records.read_bytes() != before  # made again under the new policy


def test_events_staged_twice_in_one_run_are_counted_once(sample_raw, staged, tmp_path):
    """The same file content under two partitions staged in parallel: the second commit
    turns every record into a duplicate, so the lines still balance."""
    data, files = staged
    name, sha = files[0]
    a = stages.stage_partition(sample_raw, name, sha, data, POLICY, NOW, 1)
    # Stage a copy of the same bytes under another (fake) sha, before either is committed.
    import shutil
    copy = tmp_path / "copy-raw"
    shutil.copytree(sample_raw, copy, dirs_exist_ok=True)
    b = stages.stage_partition(copy, name, "f" * 64, data, POLICY, NOW, 1)
    assert a["loaded"] == b["loaded"] > 0
    (first, second), failed = stages.commit_partitions(data, [sha, "f" * 64])
    assert failed == []
    assert first["loaded"] == a["loaded"]
    assert second["loaded"] == 0 and second["duplicates"] == b["duplicates"] + b["loaded"]
    for s in (first, second):
        assert s["lines_read"] == s["loaded"] + s["duplicates"] + s["quarantined"] + s["excluded"]


def test_commit_of_a_missing_partition_names_it_and_sweep_removes_leftovers(staged, sample_raw):
    data, files = staged
    with pytest.raises(partition.StagingError, match="abcdefabcdef"):
        stages.commit_partition(data, "abcdefabcdef" + "0" * 52)
    (name, sha), (name2, sha2) = files[0], files[1]
    stages.stage_partition(sample_raw, name, sha, data, POLICY, NOW, 1)
    stages.stage_partition(sample_raw, name2, sha2, data, POLICY, NOW, 1)
    (partition.staging_root(data) / "x.tmp").mkdir()
    assert stages.sweep_staging(data, {sha2}) == 2  # the unfinished one and the unwanted one
    assert [p.name for p in partition.staging_root(data).iterdir()] == [sha2]


def test_the_sequential_path_equals_stage_then_commit(sample_raw, tmp_path):
    from tests.synthetic import run_batch

    a, b = tmp_path / "a", tmp_path / "b"
    one = run_batch(sample_raw, a)
    # Share the pseudonym secrets so that record ids are comparable.
    import shutil
    shutil.copytree(a / "keys", b / "keys")
    parts = []
    files = stages.new_files(sample_raw, b)
    for name, sha in reversed(files):  # staged in another order...
        stages.stage_partition(sample_raw, name, sha, b, POLICY, NOW, 1)
    parts, failed = stages.commit_partitions(b, [sha for _, sha in files])  # ...in order
    assert failed == []
    from pipeline.run.summary import summarise_ingest

    got = summarise_ingest(parts)
    accounting = ("lines_read", "loaded", "duplicates", "quarantined", "excluded", "balanced",
                  "files", "quarantine_rules")
    assert {k: got[k] for k in accounting} == {k: one["ingest"][k] for k in accounting}
    # Events repeated across files were de-identified once per staged copy here (the
    # sequential path sees the first copy in the vault already): more work, same result.
    assert got["messages"] >= one["ingest"]["messages"]
    ids = []
    for d in (a, b):
        con = duckdb.connect(str(Layout(d).vault), read_only=True)
        ids.append(con.execute("SELECT record_id FROM records WHERE dataset = 'intake' ORDER BY 1").fetchall())
        con.close()
    assert ids[0] == ids[1]


def test_a_partition_that_fails_to_commit_stays_staged_and_does_not_stop_the_rest(sample_raw, staged):
    data, files = staged
    (_, s1), (_, s2) = files[0], files[1]
    for name, sha in files[:2]:
        stages.stage_partition(sample_raw, name, sha, data, POLICY, NOW, 1)
    (partition.staging_root(data) / s1 / "records.parquet").write_bytes(b"not parquet")
    done, failed = stages.commit_partitions(data, [s1, s2])
    assert [d["sha256"] for d in done] == [s2]
    assert failed == [{"sha256": s1, "error": "commit failed (ComputeError)"}] or \
        (len(failed) == 1 and failed[0]["sha256"] == s1 and failed[0]["error"].startswith("commit failed ("))
    assert (partition.staging_root(data) / s1).exists()
    # A retried call skips what is committed already.
    again, failed = stages.commit_partitions(data, [s2])
    assert again == [] and failed == []


def test_a_staged_partition_is_not_reused_after_its_keys_were_shredded(sample_raw, staged):
    from pipeline.intake.prepare import INTAKE_DATASET

    data, files = staged
    name, sha = files[0]
    stages.stage_partition(sample_raw, name, sha, data, POLICY, NOW, 1)
    records = partition.staging_root(data) / sha / "records.parquet"
    before = records.read_bytes()
    subject = pl.read_parquet(records)["subject"][0]
    with open_stores(Layout(data)) as (keys, _):
        assert keys.destroy(INTAKE_DATASET, [subject]) == 1
    stages.stage_partition(sample_raw, name, sha, data, POLICY, NOW, 1)
    assert records.read_bytes() != before  # sealed again, under a new key

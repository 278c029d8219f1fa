"""The whole batch through the stage functions, without an orchestrator."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb

from pipeline.layout import Layout
from pipeline.run import stages
from pipeline.intake.ingest import discover
from pipeline.intake.prepare import INTAKE_DATASET, read_intake
from pipeline.synth import generate
from tests.conftest import POLICIES
from tests.synthetic import raw_identifiers, run_batch
from pipeline.vault.stores import open_stores

TABLES = ("outcomes_by_group", "engagement_by_group", "safety_escalation", "consent_coverage")


def warehouse_rows(data: Path) -> dict:
    con = duckdb.connect(str(Layout(data).release), read_only=True)
    try:
        return {t: con.execute(f'SELECT * FROM "{t}" ORDER BY ALL').fetchall()
                for t in TABLES}
    finally:
        con.close()


def test_counts_balance_and_rerun_changes_nothing(sample_raw, data_dir):
    first = run_batch(sample_raw, data_dir)
    ing = first["ingest"]
    assert ing["files"] == len(discover(sample_raw)) > 0
    assert ing["balanced"] and ing["quarantined"] > 0 and ing["duplicates"] > 0
    assert ing["loaded"] + ing["duplicates"] + ing["quarantined"] + ing["excluded"] == ing["lines_read"]
    assert sum(ing["quarantine_rules"].values()) == ing["quarantined"]
    with open_stores(Layout(data_dir)) as (_, vault):
        reasons = vault.quarantine_reasons()
    assert len(reasons) == ing["quarantined"]
    assert all(name.endswith(".jsonl.gz") and line >= 1 and field and rule
               for name, line, field, rule in reasons)
    tables = warehouse_rows(data_dir)
    assert all(tables[t] for t in TABLES)
    layout = Layout(data_dir)
    for private in (layout.vault, layout.keystore, layout.master_key):
        assert private.stat().st_mode & 0o777 == 0o600, private.name
        assert private.parent.stat().st_mode & 0o777 == 0o700, private.parent.name
    for folder in layout.private_dirs():  # data folder, vault, keys, audit, staging, Prefect, cache
        assert folder.stat().st_mode & 0o777 == 0o700, folder.name
    assert data_dir not in layout.warehouse.parents  # researchers never need the data folder
    assert layout.release.stat().st_mode & 0o777 == 0o644
    assert layout.warehouse.stat().st_mode & 0o777 == 0o755

    second = run_batch(sample_raw, data_dir)
    assert second["ingest"]["files"] == 0 and second["ingest"]["loaded"] == 0
    assert warehouse_rows(data_dir) == tables
    assert second["tables"] == first["tables"] and not second["warehouse_changed"]


def test_quarantine_and_vault_hold_no_plaintext(sample_raw, data_dir):
    run_batch(sample_raw, data_dir)
    secrets = {v for v in raw_identifiers(sample_raw) if len(v) > 8}
    assert len(secrets) > 100
    for path in data_dir.rglob("*"):
        if path.is_file() and "prefect" not in path.parts:
            blob = path.read_bytes()
            hits = [s for s in list(secrets)[:400] if s.encode() in blob]
            assert not hits, f"{path.name} holds an identifier"


def test_withdrawal_erases_from_individual_datasets(tmp_path, data_dir):
    raw = tmp_path / "raw"
    generate(raw, users=25, days=30, seed=5)
    run_batch(raw, data_dir)
    with open_stores(Layout(data_dir)) as (keys, vault):
        frames = read_intake(vault)
        before = vault.subjects("qi_transcripts")
        keys_before = keys.count("qi_transcripts")
    assert before and keys_before == len(before)
    # Every QI-consenting user now withdraws, in a new file of a later day.
    consents = frames["consent"]
    assert not consents.is_empty()
    later = raw / "2026-11-20" / "part-0001.jsonl"
    later.parent.mkdir()
    user_of = _user_ids(raw, data_dir)
    lines = []
    for i, subject in enumerate(sorted(set(consents["subject"].to_list()))):
        lines.append(json.dumps({
            "event_id": f"withdraw-{i}", "event_type": "consent", "user_id": user_of[subject],
            "occurred_at": "2026-11-20T10:00:00+00:00", "schema_version": 1,
            "purpose": "quality_improvement", "action": "withdrawn", "consent_version": "2"}))
    later.write_text("\n".join(lines) + "\n")
    out = run_batch(raw, data_dir)
    qi = next(d for d in out["datasets"] if d["dataset"] == "qi_transcripts")
    assert qi["erased_subjects"] == len(before) and qi["eligible_subjects"] == 0
    with open_stores(Layout(data_dir)) as (keys, vault):
        assert vault.subjects("qi_transcripts") == set()
        assert keys.count("qi_transcripts") == 0
        assert vault.subjects(INTAKE_DATASET)  # the intake store itself is not a QI dataset


def _user_ids(raw: Path, data_dir: Path) -> dict[str, str]:
    """Intake pseudonym -> raw user id, computed with the intake key (test-only mapping)."""
    import gzip

    from pipeline.intake.pseudonym import pseudonymise, secret_name

    users = set()
    for f in discover(raw):
        data = f.path.read_bytes()
        data = gzip.decompress(data) if f.name.endswith(".gz") else data
        users |= {json.loads(l)["user_id"] for l in data.splitlines()}
    with open_stores(Layout(data_dir)) as (keys, _):
        key = keys.secret(secret_name("intake"))
    return {pseudonymise(key, "user", u): u for u in users}


def test_retention_deletes_expired_records_and_shreds_keys(tmp_path, data_dir):
    raw = tmp_path / "raw"
    generate(raw, users=25, days=30, seed=9)  # enough people for some to consent to QI
    run_batch(raw, data_dir)
    with open_stores(Layout(data_dir)) as (keys, vault):
        assert vault.record_ids("qi_transcripts")
    # 200 days later the 90-day QI retention has passed for everything; intake (730) has not.
    out = run_batch(raw, data_dir, now="2027-06-15T00:00:00+00:00")
    assert out["retention_deleted"].get("qi_transcripts", 0) > 0
    with open_stores(Layout(data_dir)) as (keys, vault):
        assert vault.record_ids("qi_transcripts") == set()
        assert keys.count("qi_transcripts") == 0
        assert vault.record_ids(INTAKE_DATASET)


def test_invalid_policy_stops_before_any_data_is_touched(tmp_path, sample_raw, data_dir):
    import pytest

    from pipeline.policy import PolicyError

    bad = tmp_path / "pol"
    bad.mkdir()
    (bad / "policy.yaml").write_text((POLICIES / "policy.yaml").read_text().replace(
        "metadata:", "metadataa:"))
    with pytest.raises(PolicyError):
        run_batch(sample_raw, data_dir, policies=bad)
    assert list(data_dir.iterdir()) == []


def kms_like_provider():
    """Stands in for a cloud KMS client: anything with kek_id, wrap and unwrap."""
    from pipeline.vault.crypto import LocalKeyProvider

    return LocalKeyProvider(b"\x07" * 32)


def test_a_key_provider_can_replace_the_local_key(tmp_path, monkeypatch):
    monkeypatch.setenv("MHPIPE_KEY_PROVIDER", "tests.pipeline.run.test_stages:kms_like_provider")
    layout = Layout(tmp_path / "data")
    with open_stores(layout) as (keys, _):
        assert keys.provider.kek_id == kms_like_provider().kek_id
        keys.secret("x")
    assert not layout.master_key.exists()  # no local key file was made


def test_a_full_disk_stops_before_anything_is_written(tmp_path, sample_raw, monkeypatch):
    import shutil
    from collections import namedtuple

    import pytest

    data = tmp_path / "data"
    run_batch(sample_raw, data)
    before = Layout(data).vault.read_bytes()
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage(10**9, 10**9 - 10**6, 10**6))
    more = tmp_path / "more"
    shutil.copytree(sample_raw, more)
    (more / "extra.jsonl").write_text('{"event_id": "x"}\n')
    names = [n for n, _ in stages.new_files(more, data)]
    with pytest.raises(stages.StorageError, match="MiB free"):
        stages.check_disk(more, data, names)
    assert Layout(data).vault.read_bytes() == before

"""Building the outputs: skipped when nothing they depend on changed, messages read in
bounded batches, and the release records the run's policy digest."""

from __future__ import annotations

import polars as pl

from pipeline.intake.prepare import INTAKE_DATASET, read_intake
from pipeline.layout import Layout, parse_now
from pipeline.run import stages
from pipeline.run.outputs import build_outputs, code_version
from pipeline.synth import generate
from pipeline.vault.stores import open_stores
from pipeline.warehouse import sandbox
from tests.conftest import POLICY
from tests.synthetic import run_batch


def test_the_release_records_the_digest_of_the_policy_it_was_built_under(sample_raw, data_dir):
    run_batch(sample_raw, data_dir)
    con = sandbox.connect(Layout(data_dir).release)
    try:
        digest, version = con.execute(
            "SELECT policy_digest, policy_version FROM releases ORDER BY release_id DESC LIMIT 1"
        ).fetchone()
    finally:
        con.close()
    assert (digest, version) == (POLICY.digest, POLICY.version)


def test_code_version_names_the_package_and_a_digest_of_the_library_source():
    version, _, digest = code_version().rpartition("+")
    assert version and len(digest) == 12 and int(digest, 16) >= 0
    assert code_version() == code_version()  # stable for one source tree


def test_outputs_are_rebuilt_only_when_something_they_depend_on_changed(sample_raw, data_dir, tmp_path):
    first = run_batch(sample_raw, data_dir)
    assert first["skipped"] is False
    again = build_outputs(data_dir, POLICY, "2026-11-27T09:00:00+00:00")
    assert again["skipped"] is True and again["tables"] == first["tables"]
    assert again["release_id"] == first["release_id"]
    # Another day: ages and consent windows may move, so the outputs are rebuilt.
    assert build_outputs(data_dir, POLICY, "2026-11-28T00:00:00+00:00")["skipped"] is False
    # The vault changed (a new file): rebuilt.
    more = tmp_path / "more"
    generate(more, users=3, days=2, seed=77)
    for name, sha in stages.new_files(more, data_dir):
        stages.ingest_partition(more, name, sha, data_dir, POLICY, "2026-11-28T00:00:00+00:00")
    rebuilt = build_outputs(data_dir, POLICY, "2026-11-28T00:00:00+00:00")
    assert rebuilt["skipped"] is False and rebuilt["subjects"] == first["subjects"] + 3
    # The warehouse file removed by hand: rebuilt, even though nothing else changed.
    release = Layout(data_dir).warehouse / "research.duckdb"
    release.unlink()
    assert build_outputs(data_dir, POLICY, "2026-11-28T00:00:00+00:00")["skipped"] is False
    assert release.exists()


def test_outputs_read_messages_in_bounded_batches(sample_raw, data_dir, monkeypatch):
    """The consent ledger never holds message rows, and the datasets sync decrypts only
    messages it does not have yet: a second sync after a new build decrypts none."""
    from pipeline.vault import store as vault_mod

    run_batch(sample_raw, data_dir)
    opened = []
    real = vault_mod.open_sealed
    monkeypatch.setattr(vault_mod, "open_sealed", lambda *a: opened.append(1) or real(*a))
    with open_stores(Layout(data_dir)) as (_, vault):
        frames = read_intake(vault, messages=False)
        total = vault.datasets()[INTAKE_DATASET]
    non_messages = sum(f.height for f in frames.values())
    assert frames["message"].height == 0 and frames["session_started"].height > 0
    assert len(opened) == non_messages < total  # message rows are not even decrypted
    opened.clear()
    out = build_outputs(data_dir, POLICY, "2026-11-29T00:00:00+00:00")
    assert out["skipped"] is False and all(d["added"] == 0 for d in out["datasets"])
    decrypted = len(opened)
    # Beyond the ledger pass, only messages a dataset looked at and cannot hold are decrypted
    # again: those of eligible people outside the sessions it keeps, or without text.
    from pipeline.governance.consent import ledger
    from pipeline.governance.datasets import eligible_subjects, transcript_datasets

    policy = POLICY.policy
    with open_stores(Layout(data_dir)) as (_, vault):
        everything = read_intake(vault)
        subjects = vault.subjects(INTAKE_DATASET)
    allowed = ledger(everything, subjects, policy, parse_now("2026-11-29T00:00:00+00:00")).allowed
    msgs = everything["message"]
    expected = 0
    for ds in transcript_datasets(policy).values():
        keep, sessions = eligible_subjects(everything, allowed, subjects, ds)
        mine = msgs.filter(pl.col("subject").is_in(list(keep)))
        rejected = mine.filter(pl.col("text").is_null() | (
            ~pl.col("session_id").is_in(list(sessions)) if sessions is not None else pl.lit(False)))
        expected += rejected.height
    assert expected > 0
    assert decrypted == non_messages + expected

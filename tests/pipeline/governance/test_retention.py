from __future__ import annotations

import shutil
from datetime import datetime, timezone

from pipeline.governance import retention
from pipeline.run import stages
from pipeline.governance.impact import policy_impact
from pipeline.policy import load_policy
from pipeline.synth import generate
from tests.conftest import POLICIES
from tests.synthetic import run_batch
from pipeline.layout import Layout
from pipeline.vault.stores import open_stores

NOW = "2026-10-20T00:00:00+00:00"


def _ingest(raw, data):
    run_batch(raw, data, now=NOW)


def _shorter(tmp_path, old: str, new: str):
    folder = tmp_path / "proposed"
    shutil.copytree(POLICIES, folder)
    text = (folder / "policy.yaml").read_text()
    assert old in text
    (folder / "policy.yaml").write_text(text.replace(old, new, 1))
    return folder


def test_impact_predicts_exactly_what_the_sweep_deletes(tmp_path):
    raw, data = tmp_path / "raw", tmp_path / "data"
    generate(raw, users=30, days=30, seed=21)
    _ingest(raw, data)
    proposed = _shorter(tmp_path, "    retention_days: 90\n", "    retention_days: 35\n")
    now = datetime.fromisoformat(NOW)
    with open_stores(Layout(data)) as (keys, vault):
        before = vault.datasets()
        impact = policy_impact(vault, keys, load_policy(POLICIES).policy,
                               load_policy(proposed).policy, now)
        assert vault.datasets() == before  # impact changed nothing
    predicted = impact["retention"]["qi_transcripts"]["records"]
    assert 0 < predicted < before["qi_transcripts"]  # some, not all: a real boundary
    deleted = stages.enforce_retention(data, load_policy(proposed), NOW)
    assert deleted.get("qi_transcripts", 0) == predicted
    assert sum(deleted.values()) == sum(v["records"] for v in impact["retention"].values())


def test_a_longer_retention_moves_expiries_back_and_a_removed_dataset_is_deleted(tmp_path):
    raw, data = tmp_path / "raw", tmp_path / "data"
    generate(raw, users=15, days=30, seed=22)
    _ingest(raw, data)
    removed = _shorter(tmp_path, "  safety_transcripts:", "  safety_transcripts_old:")
    policy = load_policy(removed).policy
    with open_stores(Layout(data)) as (keys, vault):
        n = vault.datasets().get("safety_transcripts", 0)
        assert n > 0
        preview = retention.preview(vault, policy, datetime.fromisoformat(NOW))
        assert preview["safety_transcripts"]["records"] == n
        deleted = retention.enforce(vault, policy, datetime.fromisoformat(NOW))
        assert deleted["safety_transcripts"] == n and keys.count("safety_transcripts") == 0
        # a longer intake retention: nothing expires even far in the future of the old one
        vault.set_retention("intake", 730 + 365)
        late = datetime(2028, 10, 1, tzinfo=timezone.utc)  # past 730 days, inside 1095
        assert vault.count_expiring("intake", late) == (0, 0)

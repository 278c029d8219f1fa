"""The steward's and reviewer's workflows: each refuses bad requests before touching
anything, takes the run lock where it writes, and leaves exactly one audit record."""

from __future__ import annotations

import json

import pytest

from pipeline.governance import audit
from pipeline.layout import Layout
from pipeline.lock import LockError, run_lock
from pipeline.run import workflows as wf
from pipeline.synth import generate
from tests.conftest import NOW, POLICY
from tests.synthetic import raw_identifiers, run_batch


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    """A data folder after one run (shared read-mostly: each test copies what it changes)."""
    root = tmp_path_factory.mktemp("wf")
    generate(root / "raw", users=8, days=3, seed=9, fault_rate=0.0)
    run_batch(root / "raw", root / "data", now=NOW)
    return root


def _copy(loaded, tmp_path) -> Layout:
    import shutil

    shutil.copytree(loaded / "data", tmp_path / "data")
    return Layout(tmp_path / "data")


def _kinds(layout: Layout) -> list[str]:
    return [r["kind"] for r in audit.read(layout.audit_log)]


def test_erase_request_erases_rebuilds_and_audits_once(loaded, tmp_path):
    layout = _copy(loaded, tmp_path)
    user = sorted(u for u in raw_identifiers(loaded / "raw") if u.startswith("u"))[0]
    before = _kinds(layout)
    receipt = wf.erase_request(layout, POLICY, user)
    assert _kinds(layout) == before + ["erasure"]
    record = audit.read(layout.audit_log)[-1]
    assert record["hash"] == receipt["audit_hash"] and record["payload"]["policy_digest"] == POLICY.digest
    assert receipt["warehouse_rebuilt"] and sum(receipt["records_deleted"].values()) > 0
    assert user not in json.dumps(record)  # counts only, never the id


def test_erase_request_refuses_while_a_run_holds_the_lock(loaded, tmp_path):
    layout = _copy(loaded, tmp_path)
    before = _kinds(layout)
    with run_lock(layout.root, "nightly-batch"):
        with pytest.raises(LockError):
            wf.erase_request(layout, POLICY, "someone")
    assert _kinds(layout) == before


@pytest.mark.parametrize("user_id, folder, message", [
    ("", "data", "no user id"), ("someone", "empty", "nothing has been ingested")])
def test_erase_request_refuses_before_touching_anything(tmp_path, user_id, folder, message):
    layout = Layout(tmp_path / folder)
    with pytest.raises(wf.WorkflowError, match=message):
        wf.erase_request(layout, POLICY, user_id)
    assert not tmp_path.joinpath(folder).exists()


def test_export_dataset_writes_a_private_file_and_audits_who_why_and_how_many(loaded, tmp_path):
    layout = _copy(loaded, tmp_path)
    out = tmp_path / "review.jsonl"
    payload = wf.export_dataset(layout, "intake", out, "incident review 2026-117")
    lines = out.read_text().splitlines()
    assert payload["records"] == len(lines) > 0 and (out.stat().st_mode & 0o777) == 0o600
    record = audit.read(layout.audit_log)[-1]
    assert record["kind"] == "vault-export" and record["payload"]["records"] == len(lines)
    with pytest.raises(wf.WorkflowError, match="never overwrite"):
        wf.export_dataset(layout, "intake", out, "incident review 2026-117")
    with pytest.raises(wf.WorkflowError, match="reason"):
        wf.export_dataset(layout, "intake", tmp_path / "other.jsonl", "because")
    assert [r["kind"] for r in audit.read(layout.audit_log)].count("vault-export") == 1


def test_rotate_keys_moves_every_key_and_audits(loaded, tmp_path):
    layout = _copy(loaded, tmp_path)
    old = layout.master_key.read_bytes()
    result = wf.rotate_keys(layout)
    assert result["finished"] and result["keys_rewrapped"] > 0
    assert layout.master_key.read_bytes() != old
    assert audit.read(layout.audit_log)[-1]["kind"] == "key-rotation"
    with pytest.raises(wf.WorkflowError, match="no key store"):
        wf.rotate_keys(Layout(tmp_path / "nothing"))


def test_publish_early_needs_a_reason_and_records_it(loaded, tmp_path):
    layout = _copy(loaded, tmp_path)
    with pytest.raises(wf.WorkflowError, match="reason"):
        wf.publish_early(layout, POLICY, "  ", NOW)
    out = wf.publish_early(layout, POLICY, "erasure request 2026-117", NOW)
    record = audit.read(layout.audit_log)[-1]
    assert record["kind"] == "publish-early" and record["hash"] == out["audit_hash"]
    assert record["payload"]["reason"] == "erasure request 2026-117"
    assert record["payload"]["policy_digest"] == POLICY.digest


def test_a_retention_sweep_under_a_new_policy_records_the_change(loaded, tmp_path):
    import shutil

    from pipeline.run.stages import check_policy
    from tests.conftest import POLICIES

    layout = _copy(loaded, tmp_path)
    folder = tmp_path / "policies"
    shutil.copytree(POLICIES, folder)
    text = (folder / "policy.yaml").read_text()
    (folder / "policy.yaml").write_text(text.replace(f'version: "{POLICY.version}"',
                                                     'version: "2099.1"', 1))
    summary = wf.retention_sweep(layout, check_policy(folder, NOW), NOW)
    assert summary["policy_changed"] is True
    assert _kinds(layout)[-2:] == ["policy-change", "retention-sweep"]

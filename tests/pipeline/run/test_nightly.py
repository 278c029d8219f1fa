"""The nightly sequence (`run_nightly`): every step through one `call`, in order; one policy
object for the whole run, whatever happens to the folder meanwhile; typed partition
failures; the run lock."""

from __future__ import annotations

import shutil

import pytest

from pipeline.governance import audit
from pipeline.layout import Layout
from pipeline.lock import LockError, run_lock
from pipeline.run import stages
from pipeline.run.nightly import run_nightly
from pipeline.run.summary import STAGE_FAILED, failed_partitions
from pipeline.synth import generate
from pipeline.warehouse import sandbox
from tests.conftest import NOW, POLICIES, POLICY


@pytest.fixture(scope="module")
def small_raw(tmp_path_factory):
    raw = tmp_path_factory.mktemp("raw")
    generate(raw, users=8, days=3, seed=5, fault_rate=0.0)
    return raw


def test_every_step_runs_through_call_in_order(small_raw, tmp_path):
    steps: list[str] = []

    def call(step, fn, *args):
        steps.append(step)
        return fn(*args)

    summary = run_nightly(small_raw, Layout(tmp_path / "data"), POLICY, NOW, call=call)
    files = summary["ingest"]["files"]
    assert steps == (["check-keys", "discover", "refused-files", "check-disk", "retention",
                      "sweep-staging"] + ["stage"] * files
                     + ["commit", "build-outputs", "registry-totals", "audit"])
    assert summary["ingest"]["balanced"] and summary["ingest"]["files"] > 0


def test_a_policy_edited_mid_run_does_not_change_what_the_run_built_or_audited(small_raw, tmp_path):
    """A steward saves a new policy while a run is under way: the run builds, releases and
    audits under the policy it loaded; the next run records the change."""
    folder = tmp_path / "policies"
    shutil.copytree(POLICIES, folder)
    loaded = stages.check_policy(folder, NOW)
    layout = Layout(tmp_path / "data")

    def call(step, fn, *args):
        if step == "retention":  # after the run loaded its policy, before anything is built
            text = (folder / "policy.yaml").read_text()
            (folder / "policy.yaml").write_text(text.replace("retention_days: 90", "retention_days: 89", 1)
                                                .replace(f'version: "{loaded.version}"', 'version: "2099.1"', 1))
        return fn(*args)

    summary = run_nightly(small_raw, layout, loaded, NOW, call=call)
    edited = stages.check_policy(folder, NOW)
    assert edited.digest != loaded.digest  # the folder did change under the run
    record = audit.read(layout.audit_log)[-1]
    assert record["kind"] == "nightly-batch"
    assert record["payload"]["policy_digest"] == summary["policy_digest"] == loaded.digest
    con = sandbox.connect(layout.release)
    try:
        released = con.execute("SELECT policy_digest FROM releases").fetchall()
    finally:
        con.close()
    assert released == [(loaded.digest,)]
    run_nightly(small_raw, layout, edited, NOW)
    changes = [r for r in audit.read(layout.audit_log) if r["kind"] == "policy-change"]
    assert [c["payload"]["policy_digest"] for c in changes] == [loaded.digest, edited.digest]


def test_a_failing_partition_is_typed_and_the_others_are_loaded(small_raw, tmp_path):
    victim: list[str] = []

    def call(step, fn, *args):
        if step == "stage" and not victim:
            victim.append(args[1])
            raise OSError("disk went away")
        return fn(*args)

    summary = run_nightly(small_raw, Layout(tmp_path / "data"), POLICY, NOW, call=call)
    failed = failed_partitions(summary)
    assert failed == [{"file": victim[0], "kind": STAGE_FAILED, "error": "partition failed"}]
    assert summary["ingest"]["loaded"] > 0
    assert "disk went away" not in str(summary)  # by type, never by message
    again = run_nightly(small_raw, Layout(tmp_path / "data"), POLICY, NOW)
    assert again["ingest"]["files"] == 1 and failed_partitions(again) == []


def test_a_second_run_on_the_same_data_folder_is_refused(small_raw, tmp_path):
    data = tmp_path / "data"
    with run_lock(data, "another run"):
        with pytest.raises(LockError, match="another run"):
            run_nightly(small_raw, Layout(data), POLICY, NOW)
    assert not Layout(data).audit_log.exists()

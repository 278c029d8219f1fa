"""Policy history from the audit log, and the check that a changed policy was versioned."""

from __future__ import annotations

import shutil

import pytest

from pipeline.governance import audit
from pipeline.policy import load_policy
from pipeline.governance.policy_history import history, version_bumped
from pipeline.layout import Layout
from pipeline.run.nightly import record_policy_change
from pipeline.run.stages import check_policy
from tests.conftest import NOW, POLICIES


def _copy(tmp_path, name="pol", edit=None, extra=None):
    d = tmp_path / name
    shutil.copytree(POLICIES, d)
    if edit:
        (d / "policy.yaml").write_text(edit((d / "policy.yaml").read_text()))
    for fname, text in (extra or {}).items():
        (d / fname).write_text(text)
    return d


def _bump(version):
    return lambda t: t.replace('version: "2026.11.2"', f'version: "{version}"', 1)


def _run(data, policies):
    """What a run does with its policy: the policy-change record, then its own record."""
    p = check_policy(policies, NOW)
    record_policy_change(Layout(data), p)
    audit.append(Layout(data).audit_log, "nightly-batch", {
        "policy_version": p.version, "policy_digest": p.digest, "policy_files": p.files})


def _records(data):
    return audit.read(Layout(data).audit_log)


def test_history_lists_each_policy_that_governed_runs(tmp_path, data_dir):
    def shorter(version):
        return lambda t: _bump(version)(t).replace("    retention_days: 90\n",
                                                   "    retention_days: 30\n", 1)

    first = POLICIES
    second = _copy(tmp_path, "v2", shorter("2026.12.1"))
    third = _copy(tmp_path, "v3", shorter("2026.12.2"), extra={"notes.yaml": "# no sections\n"})
    for folder in (first, first, second, second, third):
        _run(data_dir, folder)
    entries = history(_records(data_dir))
    assert [e.version for e in entries] == ["2026.11.2", "2026.12.1", "2026.12.2"]
    assert all(e.source == "policy-change" for e in entries)
    assert entries[0].first and entries[0].files_changed == "first recorded: policy.yaml"
    assert entries[1].changed == ("policy.yaml",) and not entries[1].added
    assert (entries[2].added, entries[2].changed) == (("notes.yaml",), ("policy.yaml",))
    assert entries[2].files_changed == "policy.yaml changed, notes.yaml added"
    lp = load_policy(second)
    assert entries[1].digest == lp.digest
    line = entries[1].line()
    for part in (entries[1].at, "2026.12.1", lp.digest[:12], "approved by Caldicott Guardian",
                 "effective 2026-09-01", "policy.yaml changed"):
        assert part in line
    as_dict = entries[2].as_dict()
    assert as_dict["added"] == ["notes.yaml"] and as_dict["version"] == "2026.12.2"


def test_a_policy_first_seen_in_a_retention_sweep_is_listed(tmp_path, data_dir):
    """A log written before sweeps recorded policy changes (a sweep record carries a new
    digest, no policy-change record precedes it): the history still shows that policy."""
    _run(data_dir, POLICIES)
    new = _copy(tmp_path, edit=_bump("2026.12.1"))
    p = check_policy(new, NOW)
    audit.append(Layout(data_dir).audit_log, "retention-sweep", {
        "policy_version": p.version, "policy_digest": p.digest, "policy_files": p.files,
        "retention_deleted": {}})
    entries = history(_records(data_dir))
    assert [(e.version, e.source) for e in entries] == [
        ("2026.11.2", "policy-change"), ("2026.12.1", "retention-sweep")]
    assert "first seen in a retention-sweep record" in entries[1].line()
    assert entries[1].approved_by is None and "approved by ?" in entries[1].line()


def test_history_of_an_empty_or_unrelated_log_is_empty(data_dir):
    assert history([]) == []
    audit.append(Layout(data_dir).audit_log, "erasure", {"deleted": 3})
    assert history(_records(data_dir)) == []


def test_a_content_change_without_a_version_bump_is_an_error(tmp_path, data_dir):
    _run(data_dir, POLICIES)
    changed = _copy(tmp_path, edit=lambda t: t.replace("    retention_days: 90\n",
                                                       "    retention_days: 30\n", 1))
    lp = load_policy(changed)
    issue = version_bumped(_records(data_dir), lp)
    assert issue is not None
    assert (issue.file, issue.key) == ("policy.yaml", "metadata.version")
    assert lp.version_line and issue.line == lp.version_line
    assert ("policy content changed (policy.yaml) but metadata.version is still 2026.11.2: "
            "bump it") in str(issue)
    assert str(issue).startswith(f"policy.yaml:{lp.version_line}: metadata.version: ")
    assert "retention" not in str(issue)  # names file, line and field, not what changed


def test_an_unchanged_or_versioned_policy_passes(tmp_path, data_dir):
    assert version_bumped([], load_policy(POLICIES)) is None  # nothing recorded yet
    _run(data_dir, POLICIES)
    assert version_bumped(_records(data_dir), load_policy(POLICIES)) is None
    bumped = _copy(tmp_path, edit=lambda t: _bump("2026.12.1")(t).replace(
        "    retention_days: 90\n", "    retention_days: 30\n", 1))
    assert version_bumped(_records(data_dir), load_policy(bumped)) is None
    _run(data_dir, bumped)
    # going back to a policy that governed earlier, unchanged, is a revert: fine
    assert version_bumped(_records(data_dir), load_policy(POLICIES)) is None


def test_a_version_reused_for_other_content_is_an_error(tmp_path, data_dir):
    _run(data_dir, POLICIES)
    _run(data_dir, _copy(tmp_path, "v2", _bump("2026.12.1")))
    reused = _copy(tmp_path, "v3", lambda t: t.replace("    retention_days: 90\n",
                                                       "    retention_days: 60\n", 1))
    issue = version_bumped(_records(data_dir), load_policy(reused))
    assert issue is not None and issue.key == "metadata.version"
    assert "metadata.version 2026.11.2 was already used for other policy content" in str(issue)


@pytest.mark.parametrize("payload", [{}, {"policy_digest": 5}, None])
def test_records_without_a_policy_are_skipped(payload):
    records = [{"seq": 1, "at": "x", "kind": "nightly-batch", "payload": payload}]
    assert history(records) == []

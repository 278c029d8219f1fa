"""`mhpipe policy history [--check] [--json]` and `mhpipe policy dpia`."""

from __future__ import annotations

import json
import shutil
import stat

from typer.testing import CliRunner

import flows.cli_steward  # noqa: F401 - registers the commands (until flows/cli.py imports it)
from flows.cli import app
from pipeline.governance import audit
from pipeline.policy import load_policy
from pipeline.layout import Layout
from pipeline.run.nightly import record_policy_change
from pipeline.run.stages import check_policy
from tests.conftest import NOW, POLICIES

runner = CliRunner()


def _changed(tmp_path, version=None, name="pol"):
    d = tmp_path / name
    shutil.copytree(POLICIES, d)
    text = (d / "policy.yaml").read_text().replace("    retention_days: 90\n",
                                                   "    retention_days: 30\n", 1)
    if version:
        text = text.replace('version: "2026.11.2"', f'version: "{version}"', 1)
    (d / "policy.yaml").write_text(text)
    return d


def _run(data, policies):
    record_policy_change(Layout(data), check_policy(policies, NOW))


def test_history_one_line_per_policy_and_json(tmp_path, data_dir):
    new = _changed(tmp_path, "2026.12.1")
    _run(data_dir, POLICIES)
    _run(data_dir, new)
    result = runner.invoke(app, ["policy", "history", "--data", str(data_dir)])
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 2
    assert "2026.11.2" in lines[0] and "first recorded: policy.yaml" in lines[0]
    lp = load_policy(new)
    for part in ("2026.12.1", lp.digest[:12], "approved by Caldicott Guardian",
                 "effective 2026-09-01", "policy.yaml changed"):
        assert part in lines[1]
    as_json = runner.invoke(app, ["policy", "history", "--data", str(data_dir), "--json"])
    assert as_json.exit_code == 0
    entries = json.loads(as_json.stdout)
    assert [e["version"] for e in entries] == ["2026.11.2", "2026.12.1"]
    assert entries[1]["digest"] == lp.digest and entries[1]["changed"] == ["policy.yaml"]


def test_history_of_a_fresh_or_missing_data_folder(tmp_path, data_dir):
    empty = runner.invoke(app, ["policy", "history", "--data", str(data_dir)])
    assert empty.exit_code == 0 and "no policy recorded" in empty.stdout
    assert runner.invoke(app, ["policy", "history", "--data", str(data_dir), "--json"]).stdout \
        .strip() == "[]"
    missing = runner.invoke(app, ["policy", "history", "--data", str(tmp_path / "dta")])
    assert missing.exit_code == 1 and "does not exist" in missing.output


def test_history_warns_when_the_chain_is_broken(data_dir):
    _run(data_dir, POLICIES)
    log = Layout(data_dir).audit_log
    audit.append(log, "nightly-batch", {"n": 1})
    lines = log.read_text().splitlines()
    log.write_text(lines[0] + "\n")  # the last record removed: still a valid chain
    assert runner.invoke(app, ["policy", "history", "--data", str(data_dir)]).exit_code == 0
    rec = json.loads(lines[0])
    rec["payload"]["approved_by"] = "someone else"  # edited: the hash no longer matches
    log.write_text(json.dumps(rec) + "\n")
    result = runner.invoke(app, ["policy", "history", "--data", str(data_dir)])
    assert result.exit_code == 0 and "warning" in result.stderr and "edited" in result.stderr


def test_check_fails_when_the_content_changed_but_not_the_version(tmp_path, data_dir):
    _run(data_dir, POLICIES)
    same = runner.invoke(app, ["policy", "history", "--check", "--data", str(data_dir),
                               "--policies", str(POLICIES)])
    assert same.exit_code == 0 and "same as the latest recorded policy" in same.stdout
    changed = _changed(tmp_path)
    result = runner.invoke(app, ["policy", "history", "--check", "--data", str(data_dir),
                                 "--policies", str(changed)])
    assert result.exit_code == 1
    message = " ".join(result.stderr.split())
    line = load_policy(changed).version_line
    assert (f"policy.yaml:{line}: metadata.version: policy content changed (policy.yaml) but "
            "metadata.version is still 2026.11.2: bump it") in message
    bumped = _changed(tmp_path, "2026.12.1", name="bumped")
    ok = runner.invoke(app, ["policy", "history", "--check", "--data", str(data_dir),
                             "--policies", str(bumped)])
    assert ok.exit_code == 0 and "changed since 2026.11.2 and versioned" in ok.stdout


def test_check_on_a_fresh_data_folder_and_an_invalid_policy(tmp_path, data_dir):
    fresh = runner.invoke(app, ["policy", "history", "--check", "--data", str(data_dir),
                                "--policies", str(POLICIES)])
    assert fresh.exit_code == 0 and "no policy recorded yet" in fresh.stdout
    broken = tmp_path / "broken"
    shutil.copytree(POLICIES, broken)
    (broken / "extra.yaml").write_text("metadata:\n  version: a: b\n")
    result = runner.invoke(app, ["policy", "history", "--check", "--data", str(data_dir),
                                 "--policies", str(broken)])
    assert result.exit_code == 1 and "mapping values are not allowed here" in result.stderr


def test_dpia_to_stdout_and_to_a_0644_file(tmp_path):
    result = runner.invoke(app, ["policy", "dpia", "--policies", str(POLICIES)])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("# Data protection impact assessment")
    lp = load_policy(POLICIES)
    for name in (*lp.policy.purposes, *lp.policy.datasets):
        assert f"`{name}`" in result.stdout
    target = tmp_path / "dpia.md"
    written = runner.invoke(app, ["policy", "dpia", "--policies", str(POLICIES),
                                  "--out", str(target)])
    assert written.exit_code == 0 and f"wrote {target}" in " ".join(written.stdout.split())
    assert target.read_text() == result.stdout
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    target.chmod(0o600)  # an existing file is overwritten and made readable again
    assert runner.invoke(app, ["policy", "dpia", "--out", str(target),
                               "--policies", str(POLICIES)]).exit_code == 0
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    bad = runner.invoke(app, ["policy", "dpia", "--policies", str(POLICIES),
                              "--out", str(tmp_path / "no" / "such" / "dir.md")])
    assert bad.exit_code == 1 and "cannot write" in bad.output

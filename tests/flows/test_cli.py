"""The CLI is thin: check it parses, explains itself and fails with clear messages."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from typer.testing import CliRunner

from flows.cli import app
from pipeline.layout import Layout
from tests.conftest import POLICIES, POLICY

runner = CliRunner()


def test_help_lists_commands():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for cmd in ("run", "synth", "policy", "audit"):
        assert cmd in result.output
    assert "--fault-rate" in runner.invoke(app, ["synth", "--help"]).output


def test_synth_writes_files(tmp_path):
    result = runner.invoke(app, ["synth", "--out", str(tmp_path), "--users", "3", "--days", "5",
                                 "--seed", "1"])
    assert result.exit_code == 0, result.output
    assert list(tmp_path.rglob("*.jsonl.gz")) and (tmp_path / "ground_truth.csv").exists()


def test_policy_check_exit_codes(tmp_path):
    assert runner.invoke(app, ["policy", "check", str(POLICIES)]).exit_code == 0
    bad = tmp_path / "pol"
    shutil.copytree(POLICIES, bad)
    (bad / "policy.yaml").write_text((POLICIES / "policy.yaml").read_text().replace(
        "rounding_base: 5", "rounding_base: 1"))
    result = runner.invoke(app, ["policy", "check", str(bad)])
    assert result.exit_code == 1
    assert "publication.rounding_base" in result.output


def test_run_without_raw_folder_explains(tmp_path):
    result = runner.invoke(app, ["run", "--raw", str(tmp_path / "nope"), "--data", str(tmp_path)])
    assert result.exit_code == 1
    assert "does not exist" in result.output


def test_audit_verify_of_an_emptied_log_fails(tmp_path):
    (tmp_path / "audit").mkdir()
    (tmp_path / "audit" / "audit.jsonl").write_text("")
    result = runner.invoke(app, ["audit", "verify", "--data", str(tmp_path)])
    assert result.exit_code == 1 and "empty" in result.output


def test_quarantine_list_shows_reasons_not_values(tmp_path, sample_raw):
    from pipeline.run import stages
    from tests.conftest import NOW

    data = tmp_path / "data"
    for name, sha in stages.new_files(sample_raw, data)[:8]:
        stages.ingest_partition(sample_raw, name, sha, data, POLICY, NOW)
    result = runner.invoke(app, ["quarantine", "list", "--data", str(data), "--limit", "500"])
    assert result.exit_code == 0, result.output
    assert "part-0" in result.output and "user-" not in result.output
    assert runner.invoke(app, ["quarantine", "list", "--data", str(tmp_path / "none")]).exit_code == 1


def test_env_creates_prefect_home_in_a_new_data_folder(tmp_path, monkeypatch):
    import os

    from flows import env

    for var in ("PREFECT_HOME", "MHPIPE_CACHE", "TLDEXTRACT_CACHE"):
        monkeypatch.delenv(var, raising=False)
    old = os.umask(0o022)
    try:
        env.configure(tmp_path / "new" / "data")
        home = tmp_path / "new" / "data" / "orchestrator"
        assert os.environ["PREFECT_HOME"] == str(home) and home.is_dir()
        assert home.stat().st_mode & 0o777 == 0o700
    finally:
        os.umask(old)


def test_tracebacks_never_show_local_variables():
    assert app.pretty_exceptions_show_locals is False


def test_redact_reads_stdin_and_writes_jsonl():
    import json

    stdin = json.dumps({"id": "a", "text": "my name is Priya, call 07700 900123"}) + "\nnot json\n"
    result = runner.invoke(app, ["redact", "--policies", str(POLICIES)], input=stdin)
    assert result.exit_code == 1  # one bad line
    first = json.loads(result.stdout.splitlines()[0])
    assert first["id"] == "a" and "Priya" not in first["text"] and "07700" not in first["text"]
    assert "line 2: not valid JSON" in result.output


def test_erase_and_impact_commands(tmp_path):
    import json

    from pipeline.synth import generate
    from tests.conftest import NOW
    from tests.synthetic import run_batch

    raw, data = tmp_path / "raw", tmp_path / "data"
    generate(raw, users=8, days=10, seed=2)
    run_batch(raw, data)
    result = runner.invoke(app, ["policy", "impact", str(POLICIES), "--data", str(data),
                                 "--now", NOW, "--json"])
    assert result.exit_code == 0, result.output
    assert "intake" in json.loads(result.stdout)["retention"]

    import gzip
    first = next(raw.rglob("*.jsonl.gz"))
    user = json.loads(gzip.decompress(first.read_bytes()).splitlines()[0])["user_id"]
    result = runner.invoke(app, ["erase", "--user-id", "-", "--data", str(data),
                                 "--policies", str(POLICIES), "--json"], input=user + "\n")
    assert result.exit_code == 0, result.output
    receipt = json.loads(result.stdout)
    assert receipt["records_deleted"]["intake"] > 0 and user not in result.output


def test_audit_verify_names_the_first_bad_record(tmp_path):
    import json

    from pipeline.governance import audit

    log = tmp_path / "audit" / "audit.jsonl"
    for i in range(3):
        audit.append(log, "run", {"n": i})
    assert runner.invoke(app, ["audit", "verify", "--data", str(tmp_path)]).exit_code == 0
    lines = log.read_text().splitlines()
    rec = json.loads(lines[1])
    rec["payload"]["n"] = 7
    log.write_text("\n".join([lines[0], json.dumps(rec), lines[2]]) + "\n")
    result = runner.invoke(app, ["audit", "verify", "--data", str(tmp_path)])
    assert result.exit_code == 1 and "record 2" in result.output


def test_vault_export_is_private_audited_and_needs_the_key(tmp_path, monkeypatch):
    import json
    import shutil

    from pipeline.governance import audit
    from pipeline.synth import generate
    from tests.synthetic import run_batch

    raw, data = tmp_path / "raw", tmp_path / "data"
    generate(raw, users=12, days=10, seed=3)
    run_batch(raw, data)
    out_file = tmp_path / "review.jsonl"
    args = ["vault", "export", "--dataset", "qi_transcripts", "--out", str(out_file),
            "--reason", "quality review of week 47", "--data", str(data)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    rows = [json.loads(l) for l in out_file.read_text().splitlines()]
    assert rows and {"record_id", "subject", "text"} <= set(rows[0])
    assert out_file.stat().st_mode & 0o777 == 0o600
    last = audit.read(data / "audit" / "audit.jsonl")[-1]
    assert last["kind"] == "vault-export" and last["payload"]["records"] == len(rows)
    assert last["payload"]["reason"] == "quality review of week 47"
    assert runner.invoke(app, args).exit_code == 1  # never overwrites
    shutil.move(data / "keys" / "master.key", tmp_path / "elsewhere.key")
    result = runner.invoke(app, args[:5] + [str(tmp_path / "other.jsonl")] + args[6:])
    assert result.exit_code == 1 and "no master key" in result.output


def test_run_refuses_an_unknown_task_runner_or_a_dask_address_without_dask(tmp_path, sample_raw):
    result = runner.invoke(app, ["run", "--raw", str(sample_raw), "--data", str(tmp_path),
                                 "--task-runner", "spark"])
    assert result.exit_code == 1 and "process, dask" in result.output
    result = runner.invoke(app, ["run", "--raw", str(sample_raw), "--data", str(tmp_path),
                                 "--dask-address", "tcp://127.0.0.1:8786"])
    assert result.exit_code == 1 and "--task-runner dask" in result.output
    assert not (tmp_path / "vault").exists()
    help_text = runner.invoke(app, ["run", "--help"]).output
    for option in ("--task-runner", "--workers", "--dask-address", "--no-progress"):
        assert option in help_text


@pytest.mark.flow
def test_run_on_a_temporary_dask_cluster_matches_the_library_path(tmp_path, sample_raw):
    """`mhpipe run --task-runner dask --workers 2` (a temporary LocalCluster, started and
    stopped by prefect-dask) publishes the same tables as the stage functions run in order."""
    import json

    from pipeline.warehouse.publish import table_digest
    from tests.conftest import NOW
    from tests.synthetic import run_batch

    data = tmp_path / "dask"
    result = runner.invoke(app, ["run", "--init", "--raw", str(sample_raw), "--data", str(data),
                                 "--policies", str(POLICIES), "--now", NOW, "--task-runner",
                                 "dask", "--workers", "2", "--json", "--no-progress"])
    assert result.exit_code == 0, result.output[-2000:]
    text = result.stdout
    summary, _ = json.JSONDecoder().raw_decode(text[text.index("{"):])
    assert summary["ingest"]["balanced"] and summary["ingest"]["files_failed"] == []
    reference = tmp_path / "library"
    ref = run_batch(sample_raw, reference)
    assert summary["ingest"]["loaded"] == ref["ingest"]["loaded"]
    assert table_digest(Layout(data).release) == \
        table_digest(Layout(reference).release)


def _mhpipe(*args: str, env: dict | None = None) -> tuple[subprocess.CompletedProcess, float]:
    import os
    import sys
    import time

    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "flows.cli", *args], capture_output=True,
                          text=True, timeout=120, env={**os.environ, **(env or {})})
    return proc, time.monotonic() - start


def test_operator_mistakes_fail_fast_before_prefect_and_create_nothing(tmp_path, sample_raw):
    """A mistyped --data, a bad --now, a broken policy, a wrong key, a held lock: each is one
    line with a hint, in seconds, before Prefect starts, and nothing is created."""
    base = ["run", "--raw", str(sample_raw), "--policies", str(POLICIES), "--no-progress"]
    typo = tmp_path / "dta"
    proc, took = _mhpipe(*base, "--data", str(typo))
    assert proc.returncode == 1 and took < 10 and "--init" in proc.stderr
    assert not typo.exists() and not (tmp_path / "dta-published").exists()
    assert "prefect" not in (proc.stdout + proc.stderr).lower()
    empty = tmp_path / "empty"
    empty.mkdir()
    proc, _ = _mhpipe(*base, "--data", str(empty))
    assert proc.returncode == 1 and "no vault and no master key" in proc.stderr
    assert list(empty.iterdir()) == []
    proc, took = _mhpipe(*base, "--data", str(empty), "--now", "yesterday")
    assert proc.returncode == 1 and took < 10 and len(proc.stderr.strip().splitlines()) == 1
    proc, took = _mhpipe(*base, "--data", str(empty), "--now", "2026-08-01T00:00:00+00:00")
    assert proc.returncode == 1 and took < 10 and "takes effect on 2026-09-01" in proc.stderr
    broken = tmp_path / "policies"
    shutil.copytree(POLICIES, broken)
    (broken / "policy.yaml").write_text((broken / "policy.yaml").read_text().replace(
        "minimum_group_size: 10", "minimum_group_size: 1"))
    proc, took = _mhpipe("run", "--raw", str(sample_raw), "--policies", str(broken),
                         "--data", str(empty))
    assert proc.returncode == 1 and took < 10 and "minimum_group_size" in proc.stderr
    assert list(empty.iterdir()) == []


def test_a_wrong_master_key_or_a_held_lock_stops_the_run_before_prefect(tmp_path, sample_raw):
    import base64
    import os

    from pipeline.lock import run_lock
    from tests.synthetic import run_batch

    data = tmp_path / "data"
    run_batch(sample_raw, data)
    base = ["run", "--raw", str(sample_raw), "--policies", str(POLICIES), "--data", str(data)]
    wrong = base64.b64encode(os.urandom(32)).decode()
    proc, took = _mhpipe(*base, env={"MHPIPE_MASTER_KEY": wrong})
    assert proc.returncode == 1 and took < 10 and "master key" in proc.stderr
    with run_lock(data, "test"):
        proc, took = _mhpipe(*base)
    assert proc.returncode == 1 and took < 10 and "another run" in proc.stderr


def test_audit_verify_of_a_missing_log_is_an_error(tmp_path):
    result = runner.invoke(app, ["audit", "verify", "--data", str(tmp_path / "nope")])
    assert result.exit_code == 1 and "no audit log" in result.output


def test_eight_concurrent_exports_leave_one_intact_chain(tmp_path):
    """Eight `mhpipe vault export` processes at once: every one is audited, the chain does
    not fork, `audit verify` passes, and each record names the OS user by uid."""
    import os

    from pipeline.governance import audit
    from pipeline.synth import generate
    from tests.synthetic import run_batch

    raw, data = tmp_path / "raw", tmp_path / "data"
    generate(raw, users=8, days=5, seed=3)
    run_batch(raw, data)
    procs = [subprocess.Popen(
        [sys.executable, "-m", "flows.cli", "vault", "export", "--dataset", "qi_transcripts",
         "--out", str(tmp_path / f"review-{i}.jsonl"), "--reason", f"quality review batch {i}",
         "--data", str(data)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        env={**os.environ, "LOGNAME": "not-me", "USER": "not-me"}) for i in range(8)]
    assert all(p.wait(timeout=300) == 0 for p in procs)
    records = [r for r in audit.read(Layout(data).audit_log) if r["kind"] == "vault-export"]
    assert len(records) == 8 and len({r["seq"] for r in records}) == 8
    assert all(r["by"]["uid"] == os.getuid() and r["payload"]["who"] != "not-me" for r in records)
    result = runner.invoke(app, ["audit", "verify", "--data", str(data)])
    assert result.exit_code == 0, result.output


def test_version_prints_the_package_version_and_source_digest():
    from pipeline.run.outputs import code_version

    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.stdout.strip() == f"mhpipe {code_version()}"

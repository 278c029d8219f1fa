"""`mhpipe subject-export` and `mhpipe doctor`: thin commands that print counts and checks,
never an id, a pseudonym or a key."""

from __future__ import annotations

import base64
import json
import os

import pytest
from typer.testing import CliRunner

import flows.cli_subject  # noqa: F401 - registers the commands
from flows.cli import app
from pipeline.governance import audit
from pipeline.intake.pseudonym import pseudonymise, secret_name
from pipeline.layout import Layout
from pipeline.vault.stores import open_stores
from pipeline.synth import generate
from tests.conftest import NOW, POLICIES
from tests.synthetic import raw_events, run_batch

runner = CliRunner()


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("subject-cli")
    generate(root / "raw", users=20, days=20, seed=3)
    run_batch(root / "raw", root / "data", now=NOW)
    users = sorted({e["user_id"] for e in raw_events(root / "raw")})
    with open_stores(Layout(root / "data")) as (keys, _):
        intake = {u: pseudonymise(keys.secret(secret_name("intake")), "user", u) for u in users}
    return {"root": root, "data": root / "data", "users": users, "intake": intake}


def _export(world, stdin: str, name: str, *extra: str):
    out = world["root"] / name
    result = runner.invoke(app, ["subject-export", "--user-id", "-", "--data", str(world["data"]),
                                 "--policies", str(POLICIES), "--out", str(out), "--now", NOW,
                                 *extra], input=stdin)
    return result, out


def test_subject_export_prints_counts_only_and_writes_a_private_file(world):
    user = world["users"][0]
    result, out = _export(world, user + "\n", "mine.json")
    assert result.exit_code == 0, result.output
    assert "intake:" in result.output and "record(s)" in result.output
    for value in (user, world["intake"][user], "mine.json"):
        assert value not in result.output
    assert out.stat().st_mode & 0o777 == 0o600
    doc = json.loads(out.read_text())
    assert doc["counts"]["found"] and doc["datasets"]["intake"]["records"]
    others = set(world["intake"].values()) - {world["intake"][user]}
    assert not any(p in out.read_text() for p in others)
    record = audit.read(Layout(world["data"]).audit_log)[-1]
    assert record["kind"] == "subject-export" and user not in json.dumps(record)
    assert world["intake"][user] not in json.dumps(record)


def test_an_unknown_id_says_the_export_is_empty(world):
    result, out = _export(world, "user-unknown-to-us\n", "unknown.json")
    assert result.exit_code == 0, result.output
    assert "empty" in result.output and "user-unknown-to-us" not in result.output
    assert json.loads(out.read_text())["datasets"] == {}


def test_refusals_are_one_line_and_name_nobody(world):
    user = world["users"][1]
    existing = world["root"] / "existing.json"
    existing.write_text("{}")
    result, _ = _export(world, user + "\n", "existing.json")
    assert result.exit_code == 1 and "exists" in result.output and user not in result.output
    assert existing.read_text() == "{}"
    # an id on the command line is refused (and not repeated)
    result = runner.invoke(app, ["subject-export", "--user-id", user, "--data", str(world["data"]),
                                 "--out", str(world["root"] / "argv.json")])
    assert result.exit_code == 1 and "standard input" in result.output
    assert user not in result.output and not (world["root"] / "argv.json").exists()
    result, out = _export(world, "\n", "none.json")
    assert result.exit_code == 1 and "no user id" in result.output and not out.exists()
    publish = Layout(world["data"]).warehouse
    result, _ = _export(world, user + "\n", str(publish / "leak.json"))
    assert result.exit_code == 1 and "publish folder" in result.output
    assert not (publish / "leak.json").exists()


def test_doctor_passes_on_a_fresh_data_folder(world):
    result = runner.invoke(app, ["doctor", "--data", str(world["data"]), "--policies",
                                 str(POLICIES), "--json"])
    assert result.exit_code == 0, result.output
    checks = json.loads(result.stdout)
    assert [c for c in checks if c["status"] != "ok"] == []
    names = {c["name"] for c in checks}
    assert {"package prefect", "prefect importable", "PREFECT_HOME", "master key", "vault",
            "current release", "spaCy model", "policy", "disk", "TLDEXTRACT_CACHE"} <= names
    result = runner.invoke(app, ["doctor", "--data", str(world["data"]), "--policies",
                                 str(POLICIES)])
    assert result.exit_code == 0 and "0 failed" in result.output


def test_doctor_with_a_wrong_master_key_fails_and_never_shows_a_key(world, monkeypatch):
    real = Layout(world["data"]).master_key.read_text().strip()
    wrong = base64.b64encode(os.urandom(32)).decode()
    monkeypatch.setenv("MHPIPE_MASTER_KEY", wrong)
    result = runner.invoke(app, ["doctor", "--data", str(world["data"]), "--policies",
                                 str(POLICIES)])
    assert result.exit_code == 1
    line = next(l for l in result.output.splitlines() if l.startswith("master key"))
    assert "FAIL" in line and "hint:" in result.output
    for secret in (wrong, real, base64.b64decode(wrong).hex(), base64.b64decode(real).hex()):
        assert secret not in result.output

"""The researcher sandbox, attacked through `mhpipe query` as a hostile researcher would:
every escape from the published release fails with a clear message and changes nothing on
disk; ordinary queries work."""

from __future__ import annotations

import base64
import hashlib
import os

import pytest
from typer.testing import CliRunner

from flows.cli import app
from pipeline.warehouse import sandbox
from tests.pipeline.warehouse.test_release_boundary import published as publish_population


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    root = tmp_path_factory.mktemp("sandbox")
    _, data, layout = publish_population(root)
    return root, data, layout


def _snapshot(*folders) -> dict[str, tuple[str, int]]:
    out = {}
    for folder in folders:
        for p in sorted(folder.rglob("*")):
            if p.is_file():
                out[str(p)] = (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mode)
    return out


def _escapes(root, data, layout) -> dict[str, str]:
    key, vault, audit = layout.master_key, layout.vault, data / "audit" / "audit.jsonl"
    return {
        "read the master key": f"SELECT content FROM read_text('{key}')",
        "read the key as a blob": f"SELECT content FROM read_blob('{key}')",
        "read the process environment": "SELECT content FROM read_text('/proc/self/environ')",
        "read a csv": f"SELECT * FROM read_csv('{key}')",
        "list files": f"SELECT * FROM glob('{data}/**')",
        "attach the vault": f"ATTACH '{vault}' AS v (READ_ONLY)",
        "overwrite the audit log": f"COPY (SELECT 1) TO '{audit}'",
        "write a new file": f"COPY (SELECT 1) TO '{root}/leak.csv'",
        "export the database": f"EXPORT DATABASE '{root}/export'",
        "install an extension": "INSTALL httpfs",
        "load an extension": "LOAD httpfs",
        "turn file access back on": "SET enable_external_access = true",
        "reset file access": "RESET enable_external_access",
        "unlock the configuration": "SET lock_configuration = false",
        "spill to a chosen folder": f"SET temp_directory = '{root}/spill'",
        "write into the release": "CREATE TABLE stolen AS SELECT 1",
        "store a secret": "CREATE SECRET s (TYPE s3, KEY_ID 'a', SECRET 'b')",
        "read the environment": "SELECT getenv('MHPIPE_MASTER_KEY')",
    }


def test_every_escape_fails_clearly_and_changes_nothing(published, monkeypatch):
    root, data, layout = published
    key = layout.master_key.read_text().strip()
    monkeypatch.setenv("MHPIPE_MASTER_KEY", key)  # the worst case: the key is in the environment
    before = _snapshot(data, layout.warehouse)
    runner = CliRunner()
    for what, sql in _escapes(root, data, layout).items():
        result = runner.invoke(app, ["query", sql, "--data", str(data)])
        assert result.exit_code == 1, what
        assert "query refused or failed" in result.output, what
        assert key not in result.output and key[:16] not in result.output, what
    assert _snapshot(data, layout.warehouse) == before
    assert not (root / "leak.csv").exists() and not (root / "export").exists()
    assert not (root / "spill").exists()


def test_ordinary_queries_work_on_the_publish_folder_alone(published):
    _, data, layout = published
    result = CliRunner().invoke(app, ["query", "SELECT count(*) AS n FROM data_dictionary",
                                      "--publish", str(layout.warehouse)])
    assert result.exit_code == 0 and "n" in result.output
    bad = CliRunner().invoke(app, ["query", "SELECT 1", "--publish", str(layout.warehouse),
                                   "--release", "../../data/vault/vault"])
    assert bad.exit_code == 1 and "release number" in bad.output


def test_the_sandbox_settings_cannot_be_changed_from_sql(published):
    _, _, layout = published
    con = sandbox.connect(layout.release)
    try:
        got = dict(con.execute("SELECT name, value FROM duckdb_settings() WHERE name IN "
                               "('enable_external_access', 'lock_configuration')").fetchall())
    finally:
        con.close()
    assert got == {"enable_external_access": "false", "lock_configuration": "true"}


def test_a_symlinked_release_is_refused(tmp_path, published):
    _, data, layout = published
    link = tmp_path / "research.duckdb"
    link.symlink_to(layout.vault)
    with pytest.raises(sandbox.SandboxError):
        sandbox.connect(link)


def test_the_key_is_a_real_key(published):
    """Guard for the escape test: the string it looks for is the master key itself."""
    _, _, layout = published
    assert len(base64.b64decode(layout.master_key.read_text().strip())) == 32
    assert os.environ.get("MHPIPE_MASTER_KEY") is None


def test_query_prints_csv_json_and_markdown_with_nulls_kept_apart(published):
    import csv
    import io
    import json

    _, data, _ = published
    sql = ("SELECT dimension, grp, users, research_share FROM consent_coverage "
           "WHERE dimension = 'gender' ORDER BY grp")
    runner = CliRunner()
    as_csv = runner.invoke(app, ["query", sql, "--data", str(data), "--format", "csv"])
    as_json = runner.invoke(app, ["query", sql, "--data", str(data), "--format", "json"])
    as_md = runner.invoke(app, ["query", sql, "--data", str(data), "--format", "markdown"])
    assert as_csv.exit_code == as_json.exit_code == as_md.exit_code == 0, as_csv.output
    rows = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    objects = json.loads(as_json.stdout)
    assert [r["grp"] for r in rows] == [o["grp"] for o in objects] == ["female", "male",
                                                                        "non-binary"]
    # the group of 8 research users (non-binary): its share is suppressed, so NULL is an
    # empty CSV field, JSON null and "NULL" in Markdown, never the text "None"
    assert objects[2]["research_share"] is None and rows[2]["research_share"] == ""
    assert "| non-binary |" in as_md.stdout and "| NULL |" in as_md.stdout
    assert as_md.stdout.splitlines()[:2] == ["| dimension | grp | users | research_share |",
                                             "|---|---|---|---|"]
    assert "None" not in as_csv.stdout + as_json.stdout + as_md.stdout
    bad = runner.invoke(app, ["query", sql, "--data", str(data), "--format", "xml"])
    assert bad.exit_code == 1 and "--format must be one of" in bad.output

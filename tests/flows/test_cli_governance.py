"""`mhpipe policy check` on broken policies: exit 1, a message naming file and line."""

from __future__ import annotations

import re
import shutil

import pytest
from typer.testing import CliRunner

from flows.cli import app
from tests.conftest import POLICIES

runner = CliRunner()

# (what is broken, old text, new text)
BROKEN = [
    ("typo in a key", "    retention_days: 90\n", "    retention_dayz: 90\n"),
    ("unknown purpose", "purpose: quality_improvement", "purpose: quality_improvment"),
    ("negative retention", "    retention_days: 90\n", "    retention_days: -5\n"),
    ("unencrypted individual dataset", "    encrypted: true\n    retention_days: 90",
     "    encrypted: false\n    retention_days: 90"),
    ("unknown entity type", "    AGE: redact", "    AGE_GROUP: redact"),
    ("missing version", '  version: "2026.11.2"', '  versio: "2026.11.2"'),
    ("unknown operator", "    CREDIT_CARD: redact", "    CREDIT_CARD: shred"),
    ("unknown lawful basis", "lawful_basis: vital_interests", "lawful_basis: vibes"),
    ("suppression below the floor", "suppression_threshold: 7", "suppression_threshold: 2"),
    ("bad timestamp rule", "timestamps: exact", "timestamps: seconds"),
    ("consent purpose without versions", 'accepted_consent_versions: ["2"]', "accepted_consent_versions: []"),
    ("not a date", "effective_date: 2026-09-01", "effective_date: someday"),
]


@pytest.mark.parametrize("what,old,new", BROKEN, ids=[b[0] for b in BROKEN])
def test_broken_policy_fails_with_file_and_line(tmp_path, what, old, new):
    folder = tmp_path / "pol"
    shutil.copytree(POLICIES, folder)
    text = (folder / "policy.yaml").read_text()
    assert old in text, f"fixture out of date for: {what}"
    (folder / "policy.yaml").write_text(text.replace(old, new, 1))
    result = runner.invoke(app, ["policy", "check", str(folder)])
    assert result.exit_code == 1, result.output
    assert re.search(r"policy\.yaml:\d+: ", result.output), result.output


def test_shipped_policy_passes():
    result = runner.invoke(app, ["policy", "check", str(POLICIES)])
    assert result.exit_code == 0 and result.output.startswith("ok: policy")


def test_schema_is_generated_from_the_model_and_committed():
    import json

    from pipeline.policy import json_schema

    committed = json.loads((POLICIES / "policy.schema.json").read_text())
    assert committed == json.loads(json.dumps(json_schema())), "run: mhpipe policy schema"
    assert (POLICIES / "policy.yaml").read_text().startswith(
        "# yaml-language-server: $schema=policy.schema.json")


def test_diff_in_words(tmp_path):
    folder = tmp_path / "pol"
    shutil.copytree(POLICIES, folder)
    text = (folder / "policy.yaml").read_text()
    text = text.replace("    retention_days: 90\n", "    retention_days: 30\n", 1)
    text = text.replace("    AGE: redact", "    AGE: mask")
    text = text.replace("publication:", "  audit_only:\n    purpose: research\n    description: x\n"
                        "    level: aggregate\n    keeps: [sessions]\n    encrypted: false\n"
                        "    retention_days: 10\n\npublication:")
    (folder / "policy.yaml").write_text(text)
    result = runner.invoke(app, ["policy", "diff", str(POLICIES), str(folder)])
    assert result.exit_code == 1, result.output  # they differ: like diff(1)
    out = " ".join(result.output.split())
    assert "retention of dataset qi_transcripts: 90 -> 30 days (shorter" in out
    assert "datasets.qi_transcripts.operators.AGE: redact -> mask" in out
    assert "dataset added: audit_only" in out
    same = runner.invoke(app, ["policy", "diff", str(POLICIES), str(POLICIES)])
    assert same.exit_code == 0 and "no change" in same.output


def test_diff_shows_every_value_and_says_what_consent_changes_do(tmp_path):
    """Lower-case list values were read as markup and vanished ("languages: added ")."""
    import json

    folder = tmp_path / "pol"
    shutil.copytree(POLICIES, folder)
    text = (folder / "policy.yaml").read_text()
    text = text.replace('accepted_consent_versions: ["1", "2"]', 'accepted_consent_versions: ["2", "3"]', 1)
    text = text.replace("    minimum_age: 16\n", "    minimum_age: 18\n", 1)
    text = text.replace("keeps: [transcripts]", "keeps: [transcripts, profiles]", 1)
    (folder / "policy.yaml").write_text(text)
    result = runner.invoke(app, ["policy", "diff", str(POLICIES), str(folder)])
    assert result.exit_code == 1
    out = " ".join(result.output.split())
    assert ("purpose research: consent form version 1 is no longer accepted: people whose "
            "latest consent is on it leave the research population") in out
    assert "consent form version 3 is now accepted" in out
    assert "purpose research: minimum age 16 -> 18 (people known to be under 18 leave it" in out
    assert "keeps: added [profiles]" in out
    as_json = runner.invoke(app, ["policy", "diff", str(POLICIES), str(folder), "--json"])
    assert as_json.exit_code == 1 and len(json.loads(as_json.stdout)) == 3

"""`mhpipe publish --now`: a steward's early, audited publication."""

from __future__ import annotations

from typer.testing import CliRunner

from flows.cli import app
from pipeline import audit, stages
from tests.conftest import POLICIES
from tests.pipeline.warehouse.test_release_boundary import CLOCK, published


def test_publish_now_is_audited_with_its_reason_and_still_gated(tmp_path):
    _, data, _ = published(tmp_path)
    runner = CliRunner()
    refused = runner.invoke(app, ["publish", "--reason", "x", "--data", str(data),
                                  "--policies", str(POLICIES)])
    assert refused.exit_code == 1 and "--now" in refused.output
    result = runner.invoke(app, ["publish", "--now", "--reason", "erasure request 2027-004",
                                 "--data", str(data), "--policies", str(POLICIES),
                                 "--clock", CLOCK.replace(day=20).isoformat()])
    assert result.exit_code == 0, result.output
    assert "unchanged" in result.output  # nothing changed: the gated tables equal the current
    records = [r for r in audit.read(stages.Layout(data).audit_log) if r["kind"] == "publish-early"]
    assert records and records[-1]["payload"]["reason"] == "erasure request 2027-004"
    missing = runner.invoke(app, ["publish", "--now", "--reason", "x", "--data", str(tmp_path / "nope"),
                                  "--policies", str(POLICIES)])
    assert missing.exit_code == 1 and "no vault" in missing.output

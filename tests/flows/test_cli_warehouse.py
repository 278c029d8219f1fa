"""`mhpipe publish --now`: a steward's early, audited publication."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from flows.cli import app
from pipeline.governance import audit
from tests.conftest import POLICIES
from tests.pipeline.warehouse.test_release_boundary import CLOCK, published
from pipeline.layout import Layout


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
    records = [r for r in audit.read(Layout(data).audit_log) if r["kind"] == "publish-early"]
    assert records and records[-1]["payload"]["reason"] == "erasure request 2027-004"
    missing = runner.invoke(app, ["publish", "--now", "--reason", "x", "--data", str(tmp_path / "nope"),
                                  "--policies", str(POLICIES)])
    assert missing.exit_code == 1 and "no vault" in missing.output


def test_each_release_anchors_the_audit_head_and_verify_expect_uses_it(tmp_path):
    from pipeline.warehouse import sandbox
    from tests.pipeline.governance.test_audit import _rechain
    from tests.pipeline.warehouse.test_release_boundary import _person, _run, write

    raw, data, layout = published(tmp_path)
    audit.append(layout.audit_log, "nightly-batch", {"loaded": 1})
    write(raw, "day-2.jsonl", [e for i in range(12) for e in _person(f"c{i}", "male", phq=(20, 3))])
    out = _run(raw, data, clock=CLOCK.replace(month=2, day=2))
    assert out["warehouse_changed"]
    con = sandbox.connect(layout.release)
    try:
        head = con.execute("SELECT audit_head FROM releases").fetchall()[0][0]
    finally:
        con.close()
    records = audit.read(layout.audit_log)
    # the head when the release was built: the run's own record comes after it
    assert records[-1]["kind"] == "nightly-batch" and head == records[-2]["hash"]
    runner = CliRunner()
    ok = runner.invoke(app, ["audit", "verify", "--data", str(data), "--expect", head])
    assert ok.exit_code == 0 and audit.head(layout.audit_log) in ok.output
    records = audit.read(layout.audit_log)
    records[0]["payload"]["loaded"] = 2
    layout.audit_log.write_text("".join(json.dumps(r) + "\n" for r in _rechain(records)))
    bad = runner.invoke(app, ["audit", "verify", "--data", str(data), "--expect", head])
    assert bad.exit_code == 1 and "anchored head" in bad.output

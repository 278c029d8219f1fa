"""Canary leak scan: after the nightly flow, a retention sweep, a report and an erasure on
200 synthetic users, no identifier and no message text appears anywhere outside ciphertext:
not in the data folder, Prefect's home and database, temp files, captured output or logs."""

from __future__ import annotations

import gzip
import json
import logging
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import pytest

from pipeline.layout import Layout
from pipeline.governance.leakscan import MIN_CANARY, scan
from pipeline.synth import generate
from tests.conftest import NOW, POLICIES, POLICY
from tests.synthetic import identifier_values, raw_identifiers, raw_messages
from pipeline.run.outputs import build_outputs
from pipeline.vault.stores import open_stores

pytestmark = pytest.mark.flow


def canaries_of(raw: Path) -> list[str]:
    texts = raw_messages(raw)
    values = raw_identifiers(raw) | {t for t in texts.values() if len(t) < 20_000}
    for t in texts.values():  # the unique canary token in each user message
        values |= {w for w in t.split() if w.startswith("cnry")}
    values |= identifier_values(raw, texts)
    return sorted(v for v in values if len(v) >= MIN_CANARY)


@pytest.fixture(scope="module")
def harness_db():
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=180):
        import prefect.settings

        url = prefect.settings.PREFECT_SERVER_DATABASE_CONNECTION_URL.value()
        yield Path(url.split("///", 1)[1]).parent


def test_canaries_appear_nowhere(harness_db, tmp_path, capfd, caplog, monkeypatch):
    caplog.set_level(logging.DEBUG)
    # hermetic: this test's own temp folder, so nothing else on the machine can add to (or
    # hide from) what is scanned
    private_tmp = tmp_path / "tmp"
    private_tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(private_tmp))
    monkeypatch.setattr(tempfile, "tempdir", str(private_tmp))
    raw, data = tmp_path / "raw", tmp_path / "data"
    generate(raw, users=200, days=20, seed=77, fault_rate=0.02, canaries=True)
    canaries = canaries_of(raw)
    assert len(canaries) > 5000

    from flows.nightly import nightly_batch
    from flows.retention_sweep import retention_sweep
    from pipeline.governance.erasure import erase_user
    from pipeline.policy import load_policy
    from pipeline.warehouse.report import render

    nightly_batch(str(raw), str(data), str(POLICIES), NOW)
    retention_sweep(str(data), str(POLICIES), "2027-03-01T00:00:00+00:00")
    (data / "report.html").write_text(render(Layout(data).release))
    victim = json.loads(gzip.decompress(next(raw.rglob("*.jsonl.gz")).read_bytes()).splitlines()[0])
    with open_stores(Layout(data)) as (keys, vault):
        erase_user(vault, keys, load_policy(POLICIES).policy, victim["user_id"],
                   datetime.now(timezone.utc))
    build_outputs(data, POLICY, NOW)

    import os
    captured = capfd.readouterr()
    result = scan(canaries, [data, Layout(data).warehouse, Path(os.environ["PREFECT_HOME"]),
                             harness_db, private_tmp],
                  extra_text=[("stdout", captured.out), ("stderr", captured.err),
                              ("log records", caplog.text)])
    with capfd.disabled():  # the figures belong in the CI log
        print(f"\ncanary scan: {result.files} files, {result.bytes:,} bytes, "
              f"{len(canaries)} canaries, {len(result.hits)} hits")
    assert result.files >= 15 and result.bytes > 1_000_000
    assert result.hits == []


def test_a_deliberate_leak_is_caught(tmp_path, caplog):
    secret = "cnry0123456789ab"
    logging.getLogger("mhpipe.test").warning("processing message %s", secret)
    (tmp_path / "spill.bin").write_bytes(gzip.compress(secret.encode("utf-16-le")))
    result = scan([secret], [tmp_path], extra_text=[("log records", caplog.text)])
    assert {h[0] for h in result.hits} == {str(tmp_path / "spill.bin"), "log records"}
    assert all(secret not in h[2] for h in result.hits)

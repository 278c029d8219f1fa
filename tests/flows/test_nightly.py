"""`nightly-batch` end to end as a real Prefect flow under `prefect_test_harness`."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import duckdb
import pytest

from tests.conftest import NOW, POLICIES

pytestmark = pytest.mark.flow


@pytest.fixture(scope="module")
def harness():
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=180):
        import prefect.settings

        url = prefect.settings.PREFECT_SERVER_DATABASE_CONNECTION_URL.value()
        yield Path(url.split("///", 1)[1])


def _identifiers(raw: Path) -> set[str]:
    out = set()
    for f in raw.rglob("*.jsonl.gz"):
        for line in gzip.decompress(f.read_bytes()).splitlines():
            try:
                ev = json.loads(line)
            except ValueError:
                continue
            if isinstance(ev, dict):
                out |= {v for k, v in ev.items()
                        if k in ("user_id", "session_id", "event_id") and isinstance(v, str)}
    return out


def test_nightly_batch_runs_twice_idempotently_and_leaks_nothing(harness, sample_raw, data_dir):
    from flows.nightly import nightly_batch

    first = nightly_batch(str(sample_raw), str(data_dir), str(POLICIES), NOW)
    ing = first["ingest"]
    assert ing["balanced"] and ing["loaded"] > 0 and ing["quarantined"] > 0
    assert ing["messages"] > 0 and ing["entities"].get("PERSON", 0) > 0
    assert set(first["tables"]) == {"outcomes_by_group", "sessions_by_month"}

    second = nightly_batch(str(sample_raw), str(data_dir), str(POLICIES), NOW)
    assert second["ingest"]["files"] == 0 and second["ingest"]["loaded"] == 0
    assert second["tables"] == first["tables"] and not second["warehouse_changed"]

    # One audit record per run, chained, carrying the counts and policy hashes.
    from pipeline import audit
    log = data_dir / "audit" / "audit.jsonl"
    records = audit.read(log)
    assert [r["kind"] for r in records] == ["nightly-batch", "nightly-batch"]
    assert records[0]["payload"]["ingest"]["lines_read"] == ing["lines_read"]
    assert records[0]["payload"]["policy_files"]["policy.yaml"]
    assert audit.verify(log)[0]

    # Researchers get a documented warehouse.
    con = duckdb.connect(str(data_dir / "warehouse" / "research.duckdb"), read_only=True)
    undocumented = con.execute(
        "SELECT count(*) FROM data_dictionary WHERE description IS NULL").fetchone()[0]
    con.close()
    assert undocumented == 0

    # Nothing identifying reached Prefect's database (parameters, logs, task results).
    ids = [i for i in _identifiers(sample_raw) if len(i) > 8]
    db_bytes = b"".join(p.read_bytes() for p in harness.parent.glob(harness.name + "*"))
    assert len(db_bytes) > 0 and len(ids) > 100
    assert not [i for i in ids if i.encode() in db_bytes]


def test_invalid_policy_fails_the_flow_before_touching_data(harness, sample_raw, tmp_path):
    from flows.nightly import nightly_batch
    from pipeline.policy import PolicyError

    bad = tmp_path / "pol"
    bad.mkdir()
    (bad / "policy.yaml").write_text("metadata: {version: x}\n")
    data = tmp_path / "data"
    data.mkdir()
    with pytest.raises(PolicyError):
        nightly_batch(str(sample_raw), str(data), str(bad), NOW)
    assert list(data.iterdir()) == []


def test_retention_sweep_flow_deletes_and_audits(harness, sample_raw, data_dir):
    from flows.nightly import nightly_batch
    from flows.retention_sweep import retention_sweep
    from pipeline import audit

    nightly_batch(str(sample_raw), str(data_dir), str(POLICIES), NOW)
    later = "2027-06-01T00:00:00+00:00"  # past the 90-day QI retention for everything
    summary = retention_sweep(str(data_dir), str(POLICIES), later)
    assert summary["retention_deleted"].get("qi_transcripts", 0) > 0
    records = audit.read(data_dir / "audit" / "audit.jsonl")
    assert records[-1]["kind"] == "retention-sweep"
    assert records[-1]["payload"]["retention_deleted"] == summary["retention_deleted"]

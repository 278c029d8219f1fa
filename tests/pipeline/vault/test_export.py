"""Decrypting one dataset into a new private file (the audited workflow is run/workflows)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from pipeline.layout import Layout
from pipeline.vault.export import export_dataset
from pipeline.vault.store import NewRecord
from pipeline.vault.stores import open_stores

T0 = datetime(2026, 11, 1, tzinfo=timezone.utc)


def _vault_with_two_records(tmp_path, monkeypatch):
    monkeypatch.delenv("MHPIPE_MASTER_KEY", raising=False)
    layout = Layout(tmp_path / "data")
    layout.make_private()
    with open_stores(layout) as (_, vault):
        vault.put_records([
            NewRecord(f"r{i}", "review", f"s{i}",
                      {"text": f"hello {i}", "occurred_at": (T0 + timedelta(days=i)).isoformat()},
                      T0 + timedelta(days=400)) for i in (1, 5)], "2026.11.2")
    return layout


def test_an_export_writes_each_record_once_to_a_new_0600_file(tmp_path, monkeypatch):
    layout = _vault_with_two_records(tmp_path, monkeypatch)
    out = tmp_path / "out.jsonl"
    with open_stores(layout, read_only=True) as (_, vault):
        assert export_dataset(vault, "review", out) == 2
        rows = [json.loads(line) for line in out.read_text().splitlines()]
        assert sorted(r["text"] for r in rows) == ["hello 1", "hello 5"]
        assert (out.stat().st_mode & 0o777) == 0o600
        with pytest.raises(FileExistsError):
            export_dataset(vault, "review", out)
        assert export_dataset(vault, "review", tmp_path / "late.jsonl", T0 + timedelta(days=3)) == 1
        with pytest.raises(KeyError, match="no records"):
            export_dataset(vault, "absent", tmp_path / "none.jsonl")
    assert not (tmp_path / "none.jsonl").exists()

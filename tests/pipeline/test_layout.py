"""The data folder's layout: every path spelled once, the publish folder kept outside."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from pipeline.layout import Layout, LayoutError, parse_now


def test_every_private_path_is_inside_the_data_folder_and_the_release_is_outside(tmp_path):
    layout = Layout(tmp_path / "data")
    private = [layout.vault, layout.keystore, layout.master_key, layout.audit_log,
               layout.staging, layout.orchestrator_home, layout.cache, layout.run_lock,
               layout.outputs_state, layout.deid_eval, layout.population]
    assert all(layout.root in p.parents for p in private)
    assert len(set(private)) == len(private)  # no two things share a path
    assert layout.warehouse == tmp_path / "data-published"
    assert layout.release == tmp_path / "data-published" / "research.duckdb"


@pytest.mark.parametrize("publish", ["data", "data/pub", "."])
def test_a_publish_folder_inside_or_around_the_data_folder_is_refused(tmp_path, publish):
    with pytest.raises(LayoutError, match="outside the data folder"):
        Layout(tmp_path / "data", tmp_path / publish)


def test_make_private_creates_every_store_folder_as_0700(tmp_path):
    layout = Layout(tmp_path / "data")
    layout.make_private()
    for d in layout.private_dirs():
        assert d.is_dir() and (d.stat().st_mode & 0o777) == 0o700, d


def test_parse_now_reads_iso_and_assumes_utc():
    assert parse_now("2026-11-27T02:00:00") == datetime(2026, 11, 27, 2, tzinfo=timezone.utc)
    assert parse_now("2026-11-27T02:00:00+01:00").utcoffset().total_seconds() == 3600
    assert parse_now(None).tzinfo is not None

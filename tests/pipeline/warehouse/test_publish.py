"""Releases: disclosure rules hold in the file, builds are reproducible, a bad build never
replaces a good release, and readers are never broken by a swap."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from types import SimpleNamespace

import duckdb
import polars as pl
import pytest

from pipeline.layout import Layout
from pipeline.warehouse.tables import Table
from pipeline.warehouse.publish import (CATEGORY, RELEASES_KEPT, PublishError, publish, table_digest)
from pipeline.synth import generate
from tests.synthetic import run_batch

PUB = SimpleNamespace(suppression_threshold=7, rounding_base=5, minimum_group_size=10,
                      all_or_none_min_denominator=20)


def _release(tmp_path, name="data", users=80):
    raw, data = tmp_path / "raw", tmp_path / name
    if not raw.exists():
        generate(raw, users=users, days=40, seed=17, fault_rate=0.02)
    run_batch(raw, data)
    return Layout(data).release


def test_every_table_obeys_the_disclosure_rules(tmp_path):
    path = _release(tmp_path)
    con = duckdb.connect(str(path), read_only=True)
    checked = 0
    for (table,) in con.execute("SELECT table_name FROM duckdb_tables()").fetchall():
        for col, dtype in con.execute(
                "SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = ?", [table]).fetchall():
            values = [r[0] for r in con.execute(f'SELECT "{col}" FROM "{table}"').fetchall()]
            if dtype == "BIGINT" and col not in ("suppressed_cells",):
                assert all(v is None or v == 0 or (v > 7 and v % 5 == 0) for v in values), (table, col)
                checked += len(values)
            if dtype == "VARCHAR":
                assert all(v is None or CATEGORY.match(v) for v in values), (table, col)
    assert checked > 200
    undocumented = con.execute("SELECT count(*) FROM data_dictionary WHERE description IS NULL").fetchone()[0]
    columns = con.execute("SELECT count(*) FROM data_dictionary WHERE column_name IS NOT NULL").fetchone()[0]
    con.close()
    assert undocumented == 0 and columns > 40


def test_two_builds_from_the_same_input_are_identical(tmp_path):
    a, b = _release(tmp_path, "a"), _release(tmp_path, "b")
    assert table_digest(a) == table_digest(b)
    ca, cb = duckdb.connect(str(a), read_only=True), duckdb.connect(str(b), read_only=True)
    q = "SELECT * EXCLUDE (created_at) FROM releases"
    assert ca.execute(q).fetchall() == cb.execute(q).fetchall()
    ca.close()
    cb.close()


def _table(users: int) -> Table:
    frame = pl.DataFrame({"period": ["2026-Q3"], "dimension": ["overall"], "grp": ["all"],
                          "users": [users]})
    return Table("t", frame, "test table", {c: c for c in frame.columns})


def test_a_failed_build_leaves_the_previous_release(tmp_path):
    wh = tmp_path / "warehouse"
    path, _, rid, changed = publish(wh, [_table(20)], {}, PUB)
    assert changed and rid == "0001"
    before = table_digest(path)
    with pytest.raises(PublishError, match="small or not rounded"):
        publish(wh, [_table(3)], {}, PUB)
    with pytest.raises(PublishError, match="not a label"):
        publish(wh, [Table("t", pl.DataFrame({"users": [20], "why": ["x" * 200]}), "t",
                           {"users": "u", "why": "w"})], {}, PUB)
    assert table_digest(path) == before
    assert sorted(p.name for p in wh.iterdir()) == ["research-0001", "research-0001.duckdb",
                                                   "research.duckdb"]


def test_unchanged_tables_make_no_release_and_old_releases_are_pruned(tmp_path):
    wh = tmp_path / "warehouse"
    assert publish(wh, [_table(20)], {}, PUB)[3]
    assert not publish(wh, [_table(20)], {}, PUB)[3]
    for users in range(25, 25 + 5 * (RELEASES_KEPT + 2), 5):
        publish(wh, [_table(users)], {}, PUB)
    numbered = sorted(p.name for p in wh.glob("research-*.duckdb"))
    assert len(numbered) == RELEASES_KEPT and numbered[-1] == f"research-{RELEASES_KEPT + 3:04d}.duckdb"


def test_a_reader_keeps_working_while_releases_are_swapped(tmp_path):
    wh = tmp_path / "warehouse"
    path = publish(wh, [_table(20)], {}, PUB)[0]
    reader = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import duckdb, sys, time
        con = duckdb.connect({str(path)!r}, read_only=True)
        seen = {{con.execute("SELECT users FROM t").fetchone()[0]}}
        print("ready", flush=True)
        for _ in range(300):
            seen.add(con.execute("SELECT users FROM t").fetchone()[0])
            time.sleep(0.005)
        print(sorted(seen))
    """)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert reader.stdout.readline().strip() == "ready"  # it has the file open
    for users in (30, 40, 50, 60):
        publish(wh, [_table(users)], {}, PUB)
    out, err = reader.communicate(timeout=60)
    assert reader.returncode == 0, err
    assert out.strip() == "[20]"  # the file it opened stayed whole and unchanged
    con = duckdb.connect(str(path), read_only=True)
    assert con.execute("SELECT users FROM t").fetchone()[0] == 60  # new readers see the latest
    con.close()


def test_a_researchers_group_gets_read_access_and_others_none(tmp_path):
    import grp
    import os

    group = grp.getgrgid(os.getgid()).gr_name  # a group this user may hand files to
    wh = tmp_path / "published"
    path = publish(wh, [_table(20)], {}, PUB, group=group)[0]
    assert wh.stat().st_mode & 0o777 == 0o750 and path.stat().st_mode & 0o777 == 0o640
    assert path.stat().st_gid == os.getgid()
    with pytest.raises(PublishError, match="does not exist"):
        publish(tmp_path / "other", [_table(20)], {}, PUB, group="no-such-group-mhpipe")


def test_releases_older_than_the_aggregate_retention_are_deleted(tmp_path):
    from datetime import datetime, timedelta, timezone

    from pipeline.warehouse.publish import expire_releases

    wh = tmp_path / "published"
    publish(wh, [_table(20)], {}, PUB)
    publish(wh, [_table(30)], {}, PUB)
    now = datetime.now(timezone.utc)
    assert expire_releases(wh, 10, now) == 0
    assert expire_releases(wh, 10, now + timedelta(days=11)) == 3  # two numbered + current
    assert list(wh.glob("*.duckdb")) == []


def test_an_aggregate_dataset_of_another_purpose_is_refused(tmp_path):
    import shutil

    from pipeline.policy import PolicyError, load_policy
    from tests.conftest import POLICIES

    d = tmp_path / "p"
    shutil.copytree(POLICIES, d)
    text = (d / "policy.yaml").read_text().replace(
        "  research_outcomes:\n    purpose: research", "  research_outcomes:\n    purpose: quality_improvement")
    (d / "policy.yaml").write_text(text)
    with pytest.raises(PolicyError, match="aggregate dataset is the research warehouse"):
        load_policy(d)


def test_a_release_opens_in_duckdb_1x_and_comes_as_parquet_too(tmp_path):
    """The file is in DuckDB's v1.2.0 storage format (the header's version number is one
    DuckDB 1.x reads: 64-67; DuckDB 2.x writes 999 by default), and every table and view is
    also a Parquet file in research-NNNN/ with the same rows."""
    import struct

    import polars as pl

    from pipeline.warehouse import sandbox
    from pipeline.warehouse.release_files import parquet_dir

    path = _release(tmp_path, "a")
    header = path.read_bytes()[:20]
    assert header[8:12] == b"DUCK" and 64 <= struct.unpack("<Q", header[12:20])[0] <= 67
    folder = parquet_dir(path.parent, 1)
    con = sandbox.connect(path)
    try:
        names = [r[0] for r in con.execute(
            "SELECT table_name FROM duckdb_tables() UNION "
            "SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()]
        assert {"outcomes_by_group", "outcomes_by_intersection", "codebook", "releases",
                "data_dictionary"} <= set(names)
        for name in names:
            frame = con.sql(f'SELECT * FROM "{name}"').pl()
            assert pl.read_parquet(folder / f"{name}.parquet").equals(frame), name
    finally:
        con.close()
    assert sorted(p.name[:-8] for p in folder.iterdir()) == sorted(names)
    assert all(oct(p.stat().st_mode & 0o777) == oct(path.stat().st_mode & 0o777)
               for p in folder.iterdir())


def test_the_codebook_lists_every_label_and_types_are_real(tmp_path):
    from pipeline.warehouse import sandbox
    from pipeline.warehouse.labels import VOCABULARY

    con = sandbox.connect(_release(tmp_path, "a"))
    try:
        book = con.execute("SELECT dimension, grp FROM codebook").fetchall()
        types = dict(con.execute("SELECT column_name, data_type FROM data_dictionary "
                                 "WHERE table_name = 'releases' AND column_name IS NOT NULL").fetchall())
        used = con.execute("SELECT DISTINCT dimension, grp FROM outcomes_by_group "
                           "WHERE dimension NOT LIKE '% x %'").fetchall()
    finally:
        con.close()
    assert ("ethnicity", "Mixed or Multiple") in book and len(book) > sum(
        len(VOCABULARY[d]) for d in ("age_band", "gender"))
    assert set(used) <= set(book)
    assert types["created_at"].startswith("TIMESTAMP") and "NULL" not in types.values()

"""A release's files: numbered DuckDB files, their Parquet folders, and removal of both."""

from __future__ import annotations

import duckdb
import polars as pl

from pipeline.warehouse import release_files as rf


def _db(path, rows: int) -> None:
    con = duckdb.connect(str(path))
    con.execute(f"CREATE TABLE t AS SELECT range AS n FROM range({rows})")
    con.execute("CREATE VIEW v AS SELECT n * 2 AS m FROM t")
    con.close()


def test_numbered_names_and_ids_round_trip(tmp_path):
    for rid in (3, 12):
        rf.numbered(tmp_path, rid).touch()
    (tmp_path / "research.duckdb").touch()
    (tmp_path / "research-7.duckdb.tmp").touch()
    assert rf.numbered(tmp_path, "3").name == "research-0003.duckdb"
    assert rf.release_ids(tmp_path) == [3, 12]


def test_every_table_and_view_becomes_parquet_and_removal_takes_both(tmp_path):
    db = rf.numbered(tmp_path, 1)
    _db(db, 4)
    folder = rf.parquet_dir(tmp_path, 1)
    names = rf.write_parquet(db, folder, 0o644, None)
    assert names == ["t", "v"] and rf.parquet_ids(tmp_path) == [1]
    assert pl.read_parquet(folder / "v.parquet")["m"].to_list() == [0, 2, 4, 6]
    assert (folder / "t.parquet").stat().st_mode & 0o777 == 0o644
    rf.remove(tmp_path, 1)
    assert not db.exists() and not folder.exists() and rf.release_ids(tmp_path) == []

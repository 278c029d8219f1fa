"""The files of a numbered release in the publish folder, and the tools researchers use.

- `research-NNNN.duckdb`: written in DuckDB's v1.2.0 storage format, which DuckDB 1.x
  clients (the DuckDB CLI on PyPI, R's duckdb, DBeaver's driver, older Python) can open, as
  well as DuckDB 2.x. `research.duckdb` is a hard link to the current one.
- `research-NNNN/`: the same tables and views as Parquet, one file per table
  (`<table>.parquet`), for tools that do not speak DuckDB.

A release's files are created and deleted together (`remove`).
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from pipeline.warehouse import sandbox

STORAGE_VERSION = "v1.2.0"
NUMBERED = re.compile(r"research-(\d+)\.duckdb")


def numbered(warehouse_dir: Path, rid: int | str) -> Path:
    return warehouse_dir / f"research-{int(rid):04d}.duckdb"


def parquet_dir(warehouse_dir: Path, rid: int | str) -> Path:
    return warehouse_dir / f"research-{int(rid):04d}"


def release_ids(warehouse_dir: Path) -> list[int]:
    ids = []
    for p in warehouse_dir.glob("research-*.duckdb"):
        m = NUMBERED.fullmatch(p.name)
        if m:
            ids.append(int(m.group(1)))
    return sorted(ids)


def parquet_ids(warehouse_dir: Path) -> list[int]:
    return sorted(int(p.name[len("research-"):]) for p in warehouse_dir.glob("research-*")
                  if p.is_dir() and re.fullmatch(r"research-\d+", p.name))


def write_parquet(db: Path, folder: Path, file_mode: int, gid: int | None) -> list[str]:
    """Every table and view of the built release `db` (read in the sandbox) as
    `folder/<name>.parquet`. Returns the names written."""
    folder.mkdir(mode=0o700)
    con = sandbox.connect(db)
    try:
        names = [r[0] for r in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() "
            "UNION SELECT view_name FROM duckdb_views() WHERE NOT internal "
            "AND database_name = current_database() ORDER BY 1").fetchall()]
        for name in names:
            path = folder / f"{name}.parquet"
            con.sql(f'SELECT * FROM "{name}"').pl().write_parquet(path)
            os.chmod(path, file_mode)
            if gid is not None:
                os.chown(path, -1, gid)
    finally:
        con.close()
    return names


def remove(warehouse_dir: Path, rid: int) -> None:
    """Delete a numbered release: its DuckDB file and its Parquet folder."""
    numbered(warehouse_dir, rid).unlink(missing_ok=True)
    shutil.rmtree(parquet_dir(warehouse_dir, rid), ignore_errors=True)

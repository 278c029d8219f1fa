"""Publish the research warehouse: build a new DuckDB file aside, check it, swap it in.

Researchers only ever see a complete release: the new file is written under a temporary
name in the same folder, verified (only the expected tables, no identifier-like columns),
then renamed over `research.duckdb` in one atomic step. Table and column comments become a
`data_dictionary` view.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import duckdb

from .analytics import Table

WAREHOUSE_FILE = "research.duckdb"
FORBIDDEN_COLUMNS = {"subject", "user_id", "session_id", "event_id", "record_id", "text"}


class PublishError(Exception):
    pass


def _quote(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def build(path: Path, tables: list[Table]) -> None:
    con = duckdb.connect(str(path))
    try:
        for t in tables:
            bad = FORBIDDEN_COLUMNS & set(t.frame.columns)
            if bad:
                raise PublishError(f"table {t.name} has individual-level columns: {sorted(bad)}")
            con.register("_frame", t.frame.to_arrow())
            con.execute(f'CREATE TABLE "{t.name}" AS SELECT * FROM _frame')
            con.unregister("_frame")
            con.execute(f'COMMENT ON TABLE "{t.name}" IS {_quote(t.comment)}')
            for col in t.frame.columns:
                doc = t.columns.get(col)
                if doc is None:
                    raise PublishError(f"column {t.name}.{col} has no documentation")
                con.execute(f'COMMENT ON COLUMN "{t.name}"."{col}" IS {_quote(doc)}')
        con.execute("""
            CREATE VIEW data_dictionary AS
            SELECT t.table_name, NULL::VARCHAR AS column_name, NULL::VARCHAR AS data_type,
                   t.comment AS description
            FROM duckdb_tables() t WHERE t.schema_name = 'main'
            UNION ALL
            SELECT c.table_name, c.column_name, c.data_type, c.comment
            FROM duckdb_columns() c JOIN duckdb_tables() t USING (table_name)
            WHERE c.schema_name = 'main'
            ORDER BY 1, 2 NULLS FIRST
        """)
        con.execute("CHECKPOINT")
    finally:
        con.close()


def table_digest(path: Path) -> dict[str, str]:
    """SHA-256 of every table's rows (sorted), to show that a release changed or not."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        names = [r[0] for r in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main' ORDER BY 1"
        ).fetchall()]
        out = {}
        for name in names:
            rows = con.execute(f'SELECT * FROM "{name}" ORDER BY ALL').fetchall()
            out[name] = hashlib.sha256(repr(rows).encode()).hexdigest()
        return out
    finally:
        con.close()


def publish(warehouse_dir: Path, tables: list[Table]) -> tuple[Path, dict[str, str]]:
    """Build, verify and atomically swap in a new warehouse; return its path and digests."""
    warehouse_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(warehouse_dir, 0o755)  # researchers must reach the file; it holds aggregates only
    fd, tmp_name = tempfile.mkstemp(prefix=".building-", suffix=".duckdb", dir=warehouse_dir)
    os.close(fd)
    tmp = Path(tmp_name)
    tmp.unlink()  # duckdb creates the file itself
    try:
        build(tmp, tables)
        digests = table_digest(tmp)
        if set(digests) != {t.name for t in tables}:
            raise PublishError("the built warehouse does not hold exactly the expected tables")
        os.chmod(tmp, 0o644)  # researchers read it; it holds aggregates only
        target = warehouse_dir / WAREHOUSE_FILE
        os.replace(tmp, target)
        return target, digests
    finally:
        tmp.unlink(missing_ok=True)
        Path(str(tmp) + ".wal").unlink(missing_ok=True)

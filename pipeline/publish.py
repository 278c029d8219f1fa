"""Publish the research warehouse as numbered releases, by atomic swap.

A new release is built aside under a temporary name, verified (only the expected tables,
no individual-level or free-text column, disclosure rules and k-anonymity re-checked on the
built file, every table and column documented), then hard-linked as
`research-<release_id>.duckdb` and renamed over `research.duckdb` in one step. A researcher
who has the previous file open keeps reading it (the old inode lives on); a build that fails
verification never replaces a good release. The last RELEASES_KEPT releases are kept. When
the tables are identical to the current release's, no new release is made.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import duckdb
import polars as pl

from . import failpoints
from .analytics import Table

WAREHOUSE_FILE = "research.duckdb"
RELEASES_KEPT = 5
FORBIDDEN_COLUMNS = {"subject", "user_id", "session_id", "event_id", "record_id", "text"}
CATEGORY = re.compile(r"^[\w .,:+\-/()']{0,64}$")  # a released string is a label, never free text
SIZE_COLUMNS = ("users", "sessions")  # group sizes checked against k
NOT_COUNTS = {"release_id", "suppressed_cells"}  # not counts of people


class PublishError(Exception):
    pass


def _quote(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def frame_digest(frame: pl.DataFrame) -> str:
    rows = frame.sort(frame.columns, nulls_last=True).rows()
    return hashlib.sha256(repr((frame.columns, rows)).encode()).hexdigest()


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


def verify(path: Path, expected: set[str], threshold: int, base: int, k: int) -> None:
    """Re-check a built release from the file itself; raise PublishError on any breach."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        names = {r[0] for r in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main'").fetchall()}
        if names != expected:
            raise PublishError(f"release holds tables {sorted(names)}, expected {sorted(expected)}")
        undocumented = con.execute(
            "SELECT count(*) FROM data_dictionary WHERE description IS NULL OR description = ''"
        ).fetchone()[0]
        if undocumented:
            raise PublishError(f"{undocumented} table(s) or column(s) lack a description")
        for table in sorted(names):
            cols = con.execute(
                "SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = ?",
                [table]).fetchall()
            for col, dtype in cols:
                if col in NOT_COUNTS:
                    continue
                values = [r[0] for r in con.execute(f'SELECT "{col}" FROM "{table}"').fetchall()]
                if dtype in ("BIGINT", "INTEGER"):
                    bad = [v for v in values if v is not None and v != 0 and (v <= threshold or v % base)]
                    if bad:
                        raise PublishError(f"{table}.{col}: a count is small or not rounded")
                elif dtype == "VARCHAR":
                    if any(v is not None and not CATEGORY.match(v) for v in values):
                        raise PublishError(f"{table}.{col}: holds text that is not a label")
            for size in SIZE_COLUMNS:
                if size in {c for c, _ in cols}:
                    small = con.execute(
                        f'SELECT count(*) FROM "{table}" WHERE "{size}" IS NOT NULL AND "{size}" < ?',
                        [k]).fetchone()[0]
                    if small:
                        raise PublishError(f"{table}: {small} group(s) smaller than k = {k}")
    finally:
        con.close()


def table_digest(path: Path) -> dict[str, str]:
    """SHA-256 of every data table's rows in a release (the releases table excluded)."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        names = [r[0] for r in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main' "
            "AND table_name != 'releases' ORDER BY 1").fetchall()]
        return {n: frame_digest(con.sql(f'SELECT * FROM "{n}"').pl()) for n in names}
    finally:
        con.close()


def _release_ids(warehouse_dir: Path) -> list[int]:
    ids = []
    for p in warehouse_dir.glob("research-*.duckdb"):
        m = re.fullmatch(r"research-(\d+)\.duckdb", p.name)
        if m:
            ids.append(int(m.group(1)))
    return sorted(ids)


def _clean_interrupted(warehouse_dir: Path, target: Path) -> None:
    """Remove what a build killed half-way left: temporary files, and numbered releases that
    were never swapped in (newer than the current one)."""
    for leftover in warehouse_dir.glob(".building-*"):
        leftover.unlink(missing_ok=True)
    current = 0
    if target.exists():
        con = duckdb.connect(str(target), read_only=True)
        try:
            current = int(con.execute("SELECT release_id FROM releases").fetchone()[0])
        finally:
            con.close()
    for rid in _release_ids(warehouse_dir):
        if rid > current:
            (warehouse_dir / f"research-{rid:04d}.duckdb").unlink(missing_ok=True)


def releases_table(release_id: str, meta: dict) -> Table:
    row = {"release_id": release_id,
           "created_at": datetime.now(timezone.utc).replace(microsecond=0).isoformat(), **meta}
    frame = pl.DataFrame([row])
    docs = {
        "release_id": "Release number (the file research-<release_id>.duckdb)",
        "created_at": "When the release was published (UTC)",
        "policy_version": "Version of the data-steward policy in force",
        "policy_digest": "SHA-256 over the policy files' hashes",
        "code_version": "mhpipe version and a digest of its source",
        "input_people": "People in the pipeline's store (rounded)",
        "research_people": "People whose data may be used for research (rounded)",
        "suppressed_cells": "Count cells suppressed across the data tables of this release",
        "deid_model": "spaCy model of the de-identification engine",
        "deid_recall_synthetic": "Micro recall (masked as any type) on synthetic ground truth, from mhpipe deid-eval (NULL if not run)",
        "deid_recall_wnut_person": "PERSON recall on WNUT-17 dev, from mhpipe deid-eval (NULL if not run)",
        "deid_recall_wnut_location": "LOCATION recall on WNUT-17 dev, from mhpipe deid-eval (NULL if not run)",
        "deid_over_redaction": "Share of characters redacted on counsel_chat, from mhpipe deid-eval (NULL if not run)",
    }
    return Table("releases", frame, "This release: what it was built from and with.", docs)


def publish(warehouse_dir: Path, tables: list[Table], meta: dict, threshold: int, base: int,
            k: int) -> tuple[Path, dict[str, str], str, bool]:
    """Verify-and-swap a new release unless nothing changed. Returns (path, digests of the
    data tables, release id, whether a new release was made)."""
    warehouse_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(warehouse_dir, 0o755)  # researchers must reach the file; it holds aggregates only
    target = warehouse_dir / WAREHOUSE_FILE
    _clean_interrupted(warehouse_dir, target)
    digests = {t.name: frame_digest(t.frame) for t in tables}
    existing = _release_ids(warehouse_dir)
    if target.exists() and existing and table_digest(target) == digests:
        return target, digests, f"{existing[-1]:04d}", False
    release_id = f"{(existing[-1] + 1) if existing else 1:04d}"
    all_tables = tables + [releases_table(release_id, meta)]
    fd, tmp_name = tempfile.mkstemp(prefix=".building-", suffix=".duckdb", dir=warehouse_dir)
    os.close(fd)
    tmp = Path(tmp_name)
    tmp.unlink()  # duckdb creates the file itself
    try:
        build(tmp, all_tables)
        verify(tmp, {t.name for t in all_tables}, threshold, base, k)
        os.chmod(tmp, 0o644)
        numbered = warehouse_dir / f"research-{release_id}.duckdb"
        os.link(tmp, numbered)
        failpoints.hit("publish-swap")
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
        Path(str(tmp) + ".wal").unlink(missing_ok=True)
    for old in _release_ids(warehouse_dir)[:-RELEASES_KEPT]:
        (warehouse_dir / f"research-{old:04d}.duckdb").unlink(missing_ok=True)
    return target, digests, release_id, True

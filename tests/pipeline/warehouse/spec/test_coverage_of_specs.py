"""Every table a release holds has specs here: a new research table (one more Table from
`research.research_tables`) without a `test_<name>.py` in this folder fails, and so does a
new release-level table or view (from `publish`) that `test_release_tables.py` never names.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from pipeline.warehouse.publish import publish
from tests.pipeline.warehouse.spec.tables import EXACT, build, consent, session

HERE = Path(__file__).parent
NOT_A_TABLE = {"coverage_of_specs", "release_tables"}
ROWS = [consent("u1"), session("u1", "2026-09-07 10:00")]


def test_every_research_table_has_a_spec_file():
    tables = set(build(ROWS))
    specs = {p.stem.removeprefix("test_") for p in HERE.glob("test_*.py")} - NOT_A_TABLE
    assert tables == specs, (f"no spec file for {sorted(tables - specs)}; "
                             f"spec files for no table: {sorted(specs - tables)}")


def test_every_release_level_table_and_view_is_specified(tmp_path):
    tables = list(build(ROWS).values())
    path = publish(tmp_path, tables, {}, EXACT.publication)[0]
    with duckdb.connect(str(path), read_only=True) as con:
        names = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
        names |= {r[0] for r in con.execute(
            "SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()}
    release_level = names - {t.name for t in tables}
    source = (HERE / "test_release_tables.py").read_text()
    assert release_level and not [n for n in release_level if f"`{n}`" not in source], \
        f"release-level tables or views without a spec: {sorted(release_level)}"

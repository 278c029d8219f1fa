"""Publish the research warehouse as numbered releases, by atomic swap.

Releases live in their own folder (the publish folder), outside the private data folder, so
researchers never need access to the vault, keys or audit log. A new release is built aside
under a temporary name, verified from the built file itself (only the expected tables, no
individual-level column, every label in its closed vocabulary, every statistic re-checked
against the disclosure rules with the contributor counts the build kept in memory, every
table and column documented), then hard-linked as `research-<release_id>.duckdb` and renamed
over `research.duckdb` in one step. A researcher who has the previous file open keeps
reading it (the old inode lives on); a build that fails verification never replaces a good
release. The last RELEASES_KEPT releases are kept; `drop_retained` deletes the older ones
when someone left the population (erasure, withdrawal), and any retained release with a
label outside the vocabularies is deleted. When the tables are identical to the current
release's, no new release is made.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import duckdb
import polars as pl

from pipeline import failpoints
from pipeline.layout import WAREHOUSE_FILE  # the current release's file name
from pipeline.warehouse import disclosure_control as dc
from pipeline.warehouse import sandbox
from pipeline.warehouse.tables import Table
from pipeline.warehouse.labels import check_labels
from pipeline.warehouse.release_files import STORAGE_VERSION, parquet_dir, parquet_ids, release_ids, remove, write_parquet

RELEASES_KEPT = 5
FORBIDDEN_COLUMNS = {"subject", "user_id", "session_id", "event_id", "record_id", "text"}
CATEGORY = re.compile(r"^[\w .,:+\-/()']{0,64}$")  # a released string is a label, never free text
NOT_COUNTS = {"release_id", "suppressed_cells", "gate_cells_held", "gate_rows_carried",
              "minimum_group_size"}  # not people


class PublishError(Exception):
    pass


def _quote(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def frame_digest(frame: pl.DataFrame) -> str:
    rows = frame.sort(frame.columns, nulls_last=True).rows()
    return hashlib.sha256(repr((frame.columns, rows)).encode()).hexdigest()


def build(path: Path, tables: list[Table]) -> None:
    """Write the release file in DuckDB's v1.2.0 storage format (`release_files`): DuckDB 1.x
    and 2.x clients can both open it."""
    con = duckdb.connect()
    con.execute(f"ATTACH {_quote(str(path))} AS release (STORAGE_VERSION '{STORAGE_VERSION}')")
    con.execute("USE release")
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
        by_name = {t.name: t for t in tables}
        if "outcomes_by_group" in by_name:
            _intersection_view(con, by_name["outcomes_by_group"])
        con.execute("""
            CREATE VIEW data_dictionary AS
            SELECT t.table_name, NULL::VARCHAR AS column_name, NULL::VARCHAR AS data_type,
                   t.comment AS description
            FROM duckdb_tables() t WHERE t.schema_name = 'main'
            UNION ALL
            SELECT v.view_name, NULL, NULL, v.comment
            FROM duckdb_views() v WHERE v.schema_name = 'main' AND NOT v.internal
              AND v.database_name = current_database()
              AND v.view_name != 'data_dictionary'
            UNION ALL
            SELECT c.table_name, c.column_name, c.data_type, c.comment
            FROM duckdb_columns() c
            WHERE c.schema_name = 'main' AND c.table_name != 'data_dictionary'
              AND c.database_name = current_database()
            ORDER BY 1, 2 NULLS FIRST
        """)
        con.execute("CHECKPOINT release")
    finally:
        con.close()


INTERSECTION_VIEW = "outcomes_by_intersection"


def _intersection_view(con, outcomes: Table) -> None:
    """`outcomes_by_intersection`: the two-way rows of outcomes_by_group, their dimension and
    group split in two. A view, so both read the same protected cells: one table, protected
    once, with secondary suppression across the one-way and two-way sums."""
    stats = [c for c in outcomes.frame.columns if c not in ("period", "dimension", "grp")]
    cols = ", ".join(f'"{c}"' for c in stats)
    con.execute(f"""
        CREATE VIEW {INTERSECTION_VIEW} AS
        SELECT period,
               split_part(dimension, '{dc.CROSS}', 1) AS dimension_a,
               split_part(grp, '{dc.SEP}', 1) AS group_a,
               split_part(dimension, '{dc.CROSS}', 2) AS dimension_b,
               split_part(grp, '{dc.SEP}', 2) AS group_b, {cols}
        FROM outcomes_by_group WHERE dimension LIKE '%{dc.CROSS}%'""")
    con.execute(f"COMMENT ON VIEW {INTERSECTION_VIEW} IS " + _quote(
        "Two-way breakdowns of outcomes_by_group (ethnicity x age band, deprivation x gender, "
        "ethnicity x gender): the same cells, protected with the one-way ones. Rate ratios "
        "compare each intersection with the overall rate of the period."))
    docs = {"period": outcomes.columns["period"],
            "dimension_a": "First dimension of the breakdown", "group_a": "Group of the first dimension",
            "dimension_b": "Second dimension of the breakdown", "group_b": "Group of the second dimension",
            **{c: outcomes.columns[c] for c in stats}}
    for col, doc in docs.items():
        con.execute(f'COMMENT ON COLUMN {INTERSECTION_VIEW}."{col}" IS {_quote(doc)}')


def verify(path: Path, tables: list[Table], pub) -> None:
    """Re-check a built release from the file itself; raise PublishError on any breach."""
    expected = {t.name: t for t in tables}
    con = sandbox.connect(path)
    try:
        names = {r[0] for r in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main'").fetchall()}
        if names != set(expected):
            raise PublishError(f"release holds tables {sorted(names)}, expected {sorted(expected)}")
        undocumented = con.execute(
            "SELECT count(*) FROM data_dictionary WHERE description IS NULL OR description = ''"
        ).fetchall()[0][0]
        if undocumented:
            raise PublishError(f"{undocumented} table(s) or column(s) lack a description")
        for name in sorted(names):
            frame = con.sql(f'SELECT * FROM "{name}"').pl()
            problems = check_labels(frame)
            t = expected[name]
            if t.spec is not None and t.contributors is not None:
                problems += dc.check(frame, t.contributors, t.spec, pub)
            else:
                problems += _check_plain(frame, pub)
            if problems:
                raise PublishError(f"{name}: {len(problems)} breach(es), first: {problems[0]}")
    finally:
        con.close()


def _check_plain(frame: pl.DataFrame, pub) -> list[str]:
    """A table without a contributor spec (the one-row `releases` table): every integer is a
    count of people (0, or above the threshold and rounded) and every string a label."""
    problems = []
    for col, dtype in frame.schema.items():
        if col in NOT_COUNTS:
            continue
        values = frame[col].to_list()
        if dtype.is_integer() and not _noisy_unrounded(pub):
            if any(v is not None and v != 0 and (v <= pub.suppression_threshold
                                                 or v % pub.rounding_base) for v in values):
                problems.append(f"{col}: a count is small or not rounded")
        elif dtype == pl.String:
            if any(v is not None and not CATEGORY.match(v) for v in values):
                problems.append(f"{col}: holds text that is not a label")
    return problems


def _noisy_unrounded(pub) -> bool:
    """DP mode without suppression and rounding: noisy counts are published as they are."""
    return getattr(pub, "mode", None) == "dp" and not pub.dp.suppress_and_round


def labels_ok(path: Path) -> bool:
    """Whether every label in a (retained) release is in its vocabulary."""
    con = sandbox.connect(path)
    try:
        names = [r[0] for r in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main'").fetchall()]
        return not any(check_labels(con.sql(f'SELECT * FROM "{n}"').pl()) for n in names)
    finally:
        con.close()


def table_digest(path: Path) -> dict[str, str]:
    """SHA-256 of every data table's rows in a release (the releases table excluded)."""
    con = sandbox.connect(path)
    try:
        names = [r[0] for r in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main' "
            "AND table_name NOT IN ('releases', 'codebook') ORDER BY 1").fetchall()]
        return {n: frame_digest(con.sql(f'SELECT * FROM "{n}"').pl()) for n in names}
    finally:
        con.close()


def _clean_interrupted(warehouse_dir: Path, target: Path) -> None:
    """Remove what a build killed half-way left: temporary files, and numbered releases that
    were never swapped in (newer than the current one)."""
    for leftover in warehouse_dir.glob(".building-*"):
        if leftover.is_dir():
            shutil.rmtree(leftover, ignore_errors=True)
        else:
            leftover.unlink(missing_ok=True)
    current = 0
    if target.exists():
        con = sandbox.connect(target)
        try:
            current = int(con.execute("SELECT release_id FROM releases").fetchall()[0][0])
        finally:
            con.close()
    for rid in set(release_ids(warehouse_dir)) | set(parquet_ids(warehouse_dir)):
        if rid > current:
            remove(warehouse_dir, rid)


def releases_table(release_id: str, meta: dict) -> Table:
    row = {"release_id": release_id,
           "created_at": datetime.now(timezone.utc).replace(microsecond=0), **meta}
    types = {c: pl.String for c, v in row.items() if v is None or isinstance(v, str)}
    types["created_at"] = pl.Datetime("us", "UTC")
    types.update({c: pl.Float64 for c in row if c.startswith(("deid_recall", "deid_over", "rho_"))})
    types.update({c: pl.Int64 for c in row if c.endswith("_people") or c.startswith("gate_")
                  or c == "minimum_group_size"})
    frame = pl.DataFrame([row], schema_overrides=types)
    docs = {
        "release_id": "Release number (the file research-<release_id>.duckdb)",
        "created_at": "When the release was published (a timestamp with time zone, UTC)",
        "policy_version": "Version of the data-steward policy in force",
        "policy_digest": "SHA-256 over the policy files' hashes",
        "policy_approved_by": "Who approved the policy in force (its metadata.approved_by)",
        "policy_effective_date": "When the policy in force took effect (runs before it are refused)",
        "code_version": "mhpipe version and a digest of its source",
        "input_people": "People with a session: consent_coverage's overall users, as released there",
        "research_people": "Of those, people whose data may be used for research, as released in consent_coverage",
        "suppressed_cells": "Count cells suppressed across the data tables of this release",
        "deid_model": "spaCy model of the de-identification engine",
        "deid_recall_synthetic": "Micro recall (masked as any type) on synthetic ground truth, from mhpipe deid-eval (NULL if not run)",
        "deid_recall_wnut_person": "PERSON recall on WNUT-17 dev, from mhpipe deid-eval (NULL if not run)",
        "deid_recall_wnut_location": "LOCATION recall on WNUT-17 dev, from mhpipe deid-eval (NULL if not run)",
        "deid_over_redaction": "Share of characters redacted on counsel_chat, from mhpipe deid-eval (NULL if not run)",
        "minimum_group_size": "k of the disclosure rules: groups, means, percentiles and rates rest on at least this many people",
        "data_cutoff": "Events before this date (UTC) are used; only periods closed by it are reported",
        "publication": "Why this release was made: first release, scheduled (the policy's cadence) or early (mhpipe publish --now, audited with a reason)",
        "mechanism": "How the tables were protected: suppression, rounding and the cross-release gate, or zCDP Gaussian noise (OpenDP)",
        "rho_spent": "zCDP privacy loss (rho) this release spent per person (NULL outside dp mode)",
        "rho_cumulative_365d": "rho spent per person by all releases in the 365 days up to this one, this one included (NULL outside dp mode)",
        "gate_cells_held": "Cells held at their previous published value because fewer than k people changed them",
        "gate_rows_carried": "Rows of the previous release carried over because their group emptied",
        "audit_head": "Hash of the newest audit record when the release was built: mhpipe audit verify --expect <it> fails if the log was edited and re-chained since",
    }
    return Table("releases", frame, "This release: what it was built from and with.", docs)


def codebook_table(tables: list[Table]) -> Table:
    """Every group label a dimension can take (the closed vocabularies; for model_version,
    the versions in this release and the two catch-alls): what `grp` can hold."""
    from pipeline.warehouse.labels import CROSS_DIMENSIONS, DIMENSIONS, NOT_RECORDED, OTHER, VOCABULARY

    seen = {g for t in tables if "dimension" in t.frame.columns
            for g in t.frame.filter(pl.col("dimension") == "model_version")["grp"].to_list()}
    rows = [(d, g) for d in DIMENSIONS if d != "model_version" for g in sorted(VOCABULARY[d])]
    rows += [("model_version", g) for g in sorted(seen | {NOT_RECORDED, OTHER})]
    frame = pl.DataFrame(rows, schema={"dimension": pl.String, "grp": pl.String}, orient="row")
    return Table("codebook", frame,
                 "Every group label of every one-way dimension (two-way dimensions, "
                 f"{', '.join(CROSS_DIMENSIONS)}, read '<group of a> / <group of b>'). age_band: "
                 "age at the first session, 90+ top-coded; gender, ethnicity, language: controlled "
                 "vocabularies of self-reported answers; deprivation_quintile: from the decile; "
                 "region: from the postcode area; channel and model_version: of the session (the "
                 "first session for outcomes and engagement).",
                 {"dimension": "A grouping dimension of the research tables",
                  "grp": "A label the dimension's groups can take"})


def _modes(group: str | None) -> tuple[int, int, int | None]:
    """(folder mode, file mode, gid): readable by the researchers' group when one is named,
    else by every local user (the release holds disclosure-controlled aggregates only)."""
    if group is None:
        return 0o755, 0o644, None
    import grp

    try:
        return 0o750, 0o640, grp.getgrnam(group).gr_gid
    except KeyError:
        raise PublishError(f"researchers' group {group!r} does not exist on this machine") from None


def publish(warehouse_dir: Path, tables: list[Table], meta: dict, pub,
            group: str | None = None, before_swap=None) -> tuple[Path, dict[str, str], str, bool]:
    """Verify-and-swap a new release unless nothing changed. Returns (path, digests of the
    data tables, release id, whether a new release was made). `group`: the OS group of the
    researchers, who get read access (others none). `before_swap(release_id)` runs after
    verification and before the release becomes visible (what must be recorded first)."""
    dir_mode, file_mode, gid = _modes(group)
    warehouse_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(warehouse_dir, dir_mode)
    if gid is not None:
        os.chown(warehouse_dir, -1, gid)
    target = warehouse_dir / WAREHOUSE_FILE
    _clean_interrupted(warehouse_dir, target)
    purge_unsafe(warehouse_dir)
    digests = {t.name: frame_digest(t.frame) for t in tables}
    existing = release_ids(warehouse_dir)
    if target.exists() and existing and table_digest(target) == digests:
        return target, digests, f"{existing[-1]:04d}", False
    release_id = f"{(existing[-1] + 1) if existing else 1:04d}"
    all_tables = tables + [releases_table(release_id, meta), codebook_table(tables)]
    # built inside a private (0700) folder: a release that fails verification, or whose gate
    # history and DP spend are not recorded yet, is never readable by anyone else
    building = Path(tempfile.mkdtemp(prefix=".building-", dir=warehouse_dir))
    tmp = building / "release.duckdb"
    try:
        build(tmp, all_tables)
        verify(tmp, all_tables, pub)
        if before_swap is not None:  # while the file is still in the private folder
            before_swap(release_id)
        os.chmod(tmp, file_mode)
        if gid is not None:
            os.chown(tmp, -1, gid)
        write_parquet(tmp, building / "parquet", file_mode, gid)
        os.chmod(building / "parquet", dir_mode)
        if gid is not None:
            os.chown(building / "parquet", -1, gid)
        os.rename(building / "parquet", parquet_dir(warehouse_dir, release_id))
        numbered = warehouse_dir / f"research-{release_id}.duckdb"
        os.link(tmp, numbered)
        failpoints.hit("publish-swap")
        os.replace(tmp, target)
    finally:
        shutil.rmtree(building, ignore_errors=True)
    for old in release_ids(warehouse_dir)[:-RELEASES_KEPT]:
        remove(warehouse_dir, old)
    return target, digests, release_id, True


def purge_unsafe(warehouse_dir: Path) -> int:
    """Delete retained releases with a label outside the vocabularies (e.g. published by an
    older version that passed free text through). Returns how many were deleted."""
    gone = 0
    for rid in release_ids(warehouse_dir):
        path = warehouse_dir / f"research-{rid:04d}.duckdb"
        if not labels_ok(path):
            remove(warehouse_dir, rid)
            gone += 1
    target = warehouse_dir / WAREHOUSE_FILE
    if target.exists() and not labels_ok(target):
        target.unlink()
        gone += 1
    return gone


def drop_retained(warehouse_dir: Path) -> int:
    """Delete every retained release but the current one: used when someone left the
    population (erasure, withdrawal, expiry), whose data the older releases still hold."""
    current = None
    target = warehouse_dir / WAREHOUSE_FILE
    if target.exists():
        current = target.stat().st_ino
    gone = 0
    for rid in release_ids(warehouse_dir):
        path = warehouse_dir / f"research-{rid:04d}.duckdb"
        if path.stat().st_ino != current:
            remove(warehouse_dir, rid)
            gone += 1
    return gone


def expire_releases(warehouse_dir: Path, days: int, now: datetime) -> int:
    """Delete every release (numbered, and the current one) created more than `days` days
    before `now`: the aggregate dataset's retention applies to the warehouse too."""
    from datetime import timedelta

    gone = 0
    limit = now - timedelta(days=days)
    for rid, path in [*((r, warehouse_dir / f"research-{r:04d}.duckdb")
                        for r in release_ids(warehouse_dir)), (None, warehouse_dir / WAREHOUSE_FILE)]:
        if not path.exists():
            continue
        con = sandbox.connect(path)
        try:
            created = con.execute("SELECT created_at FROM releases").fetchall()[0][0]
        finally:
            con.close()
        if isinstance(created, str):  # releases before created_at was a timestamp
            created = datetime.fromisoformat(created)
        if created < limit:
            if rid is None:
                path.unlink()
            else:
                remove(warehouse_dir, rid)
            gone += 1
    return gone

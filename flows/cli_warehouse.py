"""`mhpipe` commands for the research warehouse: query, report, publish --now."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from pipeline.vault.crypto import CryptoError
from pipeline.lock import LockError

from .cli_base import DATA, POLICIES, PUBLISH, _fail, _layout, _load_or_fail, app, out



@app.command()
def query(
    sql: str = typer.Argument(..., help="SQL to run against the research warehouse (read-only)."),
    data: Path = DATA,
    publish: Optional[Path] = PUBLISH,
    release: Optional[str] = typer.Option(None, help="A numbered release, e.g. 0003 (default: the current one)."),
    fmt: str = typer.Option("table", "--format", metavar="table|csv|json|markdown",
                            help="Output: a table (NULL shown as NULL), CSV (NULL as an empty "
                                 "field), JSON (a list of objects, NULL as null) or a Markdown "
                                 "table (NULL as NULL)."),
) -> None:
    """Query a research release in the researcher sandbox and print the result.

    The release is opened read-only with file access, ATTACH, COPY/EXPORT and extensions off
    and DuckDB's settings locked. Researchers need only the publish folder (--publish).
    Example: mhpipe query "SELECT * FROM data_dictionary" """
    import duckdb

    from pipeline.warehouse.sandbox import SandboxError, connect

    os.environ.pop("MHPIPE_MASTER_KEY", None)  # nothing in this process needs the key
    if fmt not in FORMATS:
        _fail(f"--format must be one of {', '.join(FORMATS)}")
    path = _release_path(data, publish, release)
    try:
        con = connect(path)
    except SandboxError as exc:
        _fail(f"{exc}: run the nightly batch first, or give the publish folder (--publish)")
    try:
        cur = con.execute(sql)
        names = [d[0] for d in cur.description or []]
        rows = cur.fetchall()
    except duckdb.Error as exc:
        _fail(f"query refused or failed: {exc}")
    finally:
        con.close()
    if fmt == "table":
        t = Table(*names)
        for r in rows:
            t.add_row(*["NULL" if v is None else str(v) for v in r])
        out.print(t)
    else:
        typer.echo(render_rows(names, rows, fmt), nl=False)


FORMATS = ("table", "csv", "json", "markdown")


def render_rows(names: list[str], rows: list[tuple], fmt: str) -> str:
    """A query result as CSV, JSON or Markdown text (aggregates only: never escaped for markup,
    never wrapped)."""
    import csv
    import io
    import json

    if fmt == "csv":
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(names)
        w.writerows([["" if v is None else v for v in r] for r in rows])
        return buf.getvalue()
    if fmt == "json":
        return json.dumps([dict(zip(names, r)) for r in rows], default=str, indent=1) + "\n"

    def cell(v) -> str:
        return "NULL" if v is None else str(v).replace("|", "\\|")

    lines = ["| " + " | ".join(names) + " |", "|" + "---|" * len(names)]
    lines += ["| " + " | ".join(cell(v) for v in r) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def _release_path(data: Path, publish: Optional[Path], release: Optional[str]) -> Path:
    import re

    if release is not None and not re.fullmatch(r"\d{1,6}", release):
        _fail("--release takes a release number, e.g. 0003")
    from pipeline.warehouse.release_files import numbered

    layout = _layout(data, publish)
    return numbered(layout.warehouse, release) if release else layout.release


@app.command()
def report(
    data: Path = DATA,
    publish: Optional[Path] = PUBLISH,
    out_file: Optional[Path] = typer.Option(None, "--out", help="HTML file (default: ./research-report-<release id>.html)."),
) -> None:
    """Write a self-contained HTML report of the current release: safety alerts; safety first
    (flagged sessions never connected to a human, connected within each target, crises the AI
    may have missed); recovery rates with intervals by group against the overall rate;
    the consent gap by reason; and a Limitations section. Suppressed figures read
    "suppressed (fewer than k)". Reads the release in the researcher sandbox; needs only the
    publish folder."""
    from pipeline.warehouse.report import render
    from pipeline.warehouse.sandbox import SandboxError, connect

    path = _release_path(data, publish, None)
    try:
        con = connect(path)
    except SandboxError as exc:
        _fail(f"{exc}: run the nightly batch first, or give the publish folder (--publish)")
    release_id = con.execute("SELECT release_id FROM releases").fetchall()[0][0]
    con.close()
    target = out_file or Path(f"research-report-{release_id}.html")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render(path), encoding="utf-8")
    out.print(f"wrote {target}")


@app.command("publish")
def publish_cmd(
    now_flag: bool = typer.Option(False, "--now", help="Publish now, before the policy's next scheduled date."),
    reason: str = typer.Option(..., "--reason", help="Why the release cannot wait (goes into the audit log), e.g. 'erasure request 2026-117'."),
    data: Path = DATA,
    policies: Path = POLICIES,
    publish: Optional[Path] = PUBLISH,
    clock: Optional[str] = typer.Option(None, "--clock", help="Clock override (ISO 8601), for replays and tests."),
) -> None:
    """Publish a research release now, outside the policy's cadence (a data steward's early
    publication, e.g. so that an erasure takes effect at once). The release uses the periods
    closed so far, still passes the cross-release gate (or spends the DP budget), and the
    reason is audited. Prints the release id."""

    if not now_flag:
        _fail("say --now: releases otherwise follow the policy's publication.cadence")
    from pipeline.run.workflows import WorkflowError, publish_early

    os.umask(0o077)  # everything this command creates is private (the release folder aside)
    lp = _load_or_fail(policies)
    try:
        result = publish_early(_layout(data, publish), lp, reason, clock)
    except (CryptoError, LockError, WorkflowError) as exc:
        _fail(str(exc))
    cutoff = result["publication"]["cutoff"]
    out.print(f"release {result['release_id']} published (data before {cutoff})"
              if result["warehouse_changed"] else
              f"release {result['release_id']} unchanged: the gated tables equal the current ones")

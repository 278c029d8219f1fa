"""`mhpipe` commands for a person's access request (`subject-export`) and the installation
check (`doctor`). Thin: the work is in `pipeline/governance/subject_export.py` and `pipeline/run/doctor.py`;
only the orchestrator's checks live here, since the library never imports it."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape

from pipeline.vault.crypto import CryptoError
from pipeline.lock import LockError

from .cli_base import DATA, POLICIES, PUBLISH, _fail, _load_or_fail, app, console, out


@app.command("subject-export")
def subject_export(
    user_id: str = typer.Option(..., "--user-id", metavar="-",
                                help="Give '-' and the platform's user id on standard input "
                                     "(never on the command line, where shell history and ps "
                                     "would keep it)."),
    out_file: Path = typer.Option(..., "--out", help="New file for the JSON document (mode 0600; "
                                                     "never overwritten, never in the publish folder)."),
    data: Path = DATA,
    policies: Path = POLICIES,
    publish: Optional[Path] = PUBLISH,
    now: Optional[str] = typer.Option(None, help="Clock override (ISO 8601)."),
) -> None:
    """A person's access request (GDPR Art. 15): their records in every dataset (intake
    included), de-identified as stored, and the reasons of their quarantined lines, in one
    JSON document. Prints counts only; the id is never stored, logged or printed. Audited."""
    from pipeline.layout import parse_now
    from pipeline.governance.subject_export import SubjectExportError, export_subject

    os.umask(0o077)
    if user_id != "-":
        _fail("give --user-id - and the id on standard input (an id on the command line stays "
              "in shell history and is visible in ps)")
    user_id = sys.stdin.readline().strip()
    if not user_id:
        _fail("no user id on standard input")
    try:
        stamp = parse_now(now)
    except ValueError:
        _fail("--now is not an ISO 8601 time (e.g. 2026-11-27T02:00:00+00:00)")
    lp = _load_or_fail(policies)
    try:
        summary = export_subject(data, lp, user_id, out_file, stamp, publish)
    except (SubjectExportError, CryptoError, LockError) as exc:
        _fail(str(exc))
    if not summary["found"]:
        out.print("no records and no quarantined lines for this id: the export is empty "
                  "(written, and audited)")
    for dataset, n in summary["records"].items():
        out.print(f"{escape(dataset)}: {n} record(s)")
    out.print(f"quarantined lines: {summary['quarantined_lines']} "
              f"({summary['quarantined_lines_with_content']} with their content)")
    out.print(f"request {summary['request_id']}: written with mode 0600; audit record "
              f"{summary['audit_hash'][:16]}")


def _orchestrator_checks(data: Path):
    """Prefect importable and its home writable. PREFECT_HOME defaults to the data folder's
    as `mhpipe run` sets it; it is checked before the import (which would create it)."""
    import warnings
    from importlib import metadata

    from pipeline.run.doctor import FAIL, OK, Check, check_writable
    from pipeline.layout import Layout

    def checks() -> list[Check]:
        home = Path(os.environ.get("PREFECT_HOME") or Layout(data).orchestrator_home)
        results = [check_writable("PREFECT_HOME", home, "set PREFECT_HOME to a writable "
                                                         "folder, or check --data")]
        # as `mhpipe run` would set it; Prefect creates it on import, but never its parents,
        # so a missing data folder is not created
        os.environ.setdefault("PREFECT_HOME", str(home))
        os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
        old = os.umask(0o077)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                import prefect  # noqa: F401
            results.insert(0, Check("prefect importable", OK,
                                    f"prefect {metadata.version('prefect')}"))
        except Exception as exc:  # noqa: BLE001 - any failure to import is a failure
            results.insert(0, Check("prefect importable", FAIL,
                                    f"import failed ({type(exc).__name__})",
                                    "install the pinned environment: make venv"))
        finally:
            os.umask(old)
        return results
    return checks


@app.command()
def doctor(
    data: Path = DATA,
    policies: Path = POLICIES,
    publish: Optional[Path] = PUBLISH,
    json_out: bool = typer.Option(False, "--json", help="Print the results as a JSON list."),
) -> None:
    """Is this installation ready? Python, packages, the spaCy model, the policy, the master
    key (never shown), the stores, the publish folder and its release, Prefect, disk space and
    caches: one line each, with a hint on failure. Changes nothing. Exit 1 if a check fails."""
    from pipeline.run import doctor as lib

    with console.status("checking..."):
        results = lib.run_checks(data, policies, publish,
                                 packages=lib.PACKAGES + ("prefect",),
                                 extra=_orchestrator_checks(data))
    if json_out:
        out.print_json(json.dumps([r.as_dict() for r in results]))
    else:
        width = max(len(r.name) for r in results)
        style = {lib.OK: "green", lib.WARN: "yellow", lib.FAIL: "bold red"}
        for r in results:
            out.print(f"{escape(r.name):<{width}}  [{style[r.status]}]{r.status:<4}[/]  "
                      f"{escape(r.detail)}", highlight=False, soft_wrap=True)
            if r.hint and r.status != lib.OK:
                out.print(f"{'':<{width}}        hint: {escape(r.hint)}", highlight=False,
                          soft_wrap=True)
        bad = sum(r.status == lib.FAIL for r in results)
        warn = sum(r.status == lib.WARN for r in results)
        out.print(f"{len(results)} checks: {bad} failed, {warn} warning(s)", highlight=False)
    raise typer.Exit(1 if lib.failed(results) else 0)

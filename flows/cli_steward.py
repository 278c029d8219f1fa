"""`mhpipe policy history` and `mhpipe policy dpia`: data-steward views of the policy. The
work is in `pipeline.governance.policy_history` and `pipeline.governance.policy_dpia`; this only reads the folders
and prints."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape

from .cli_base import DATA, POLICIES, _fail, _layout, _load_or_fail, console, policy_app


def _audit_records(data: Path) -> list[dict]:
    """The audit log's records; a missing data folder, or a log that cannot be read, is one
    line on stderr and exit 1 (a mistyped --data must not read as "no history")."""
    from pipeline.governance import audit

    if not data.is_dir():
        _fail(f"data folder {escape(str(data))} does not exist: check --data")
    log = _layout(data).audit_log
    try:
        records = audit.read(log)
    except PermissionError:
        _fail(f"cannot read the audit log {escape(str(log))}: permission denied (run as the "
              "pipeline's user)")
    except (json.JSONDecodeError, UnicodeDecodeError):
        _fail(f"the audit log {escape(str(log))} is not valid JSON lines: run mhpipe audit verify")
    if records:
        ok, message = audit.verify(log)
        if not ok:
            console.print(f"[yellow]warning:[/] audit log {escape(str(log))}: {escape(message)}; "
                          "this history may be incomplete (mhpipe audit verify)", highlight=False)
    return records


@policy_app.command("history")
def policy_history_cmd(
    data: Path = DATA,
    policies: Path = POLICIES,
    json_out: bool = typer.Option(False, "--json", help="Print the history as a JSON list."),
    check: bool = typer.Option(
        False, "--check",
        help="Instead of the history, check the policy in --policies against the latest "
             "recorded one: exit 1 if its content changed but metadata.version did not (or "
             "reuses a version recorded for other content)."),
) -> None:
    """The versions of the policy that governed runs, from the audit log's policy-change
    records: one line each with when, version, digest, approver, effective date and files
    changed."""
    from pipeline.governance.policy_history import history, version_bumped

    records = _audit_records(data)
    if check:
        lp = _load_or_fail(policies)
        issue = version_bumped(records, lp)
        if issue is not None:
            _fail(escape(str(issue)))
        past = history(records)
        state = ("no policy recorded yet under " + str(data) if not past
                 else "same as the latest recorded policy" if past[-1].digest == lp.digest
                 else f"changed since {past[-1].version} and versioned")
        typer.echo(f"ok: policy {lp.version} (digest {lp.digest[:12]}): {state}")
        return
    entries = history(records)
    if json_out:
        typer.echo(json.dumps([e.as_dict() for e in entries], indent=2))
        return
    if not entries:
        typer.echo(f"no policy recorded under {data} yet: the first run records it")
    for e in entries:
        typer.echo(e.line())  # plain text: one line each, never wrapped or read as markup


@policy_app.command("dpia")
def policy_dpia_cmd(
    policies: Path = POLICIES,
    out_file: Optional[Path] = typer.Option(
        None, "--out", help="Write the Markdown here (mode 0644) instead of standard output."),
) -> None:
    """The policy as a readable Markdown document for a data protection impact assessment:
    purposes and lawful bases, datasets and retention, de-identification, disclosure control,
    safety, and the version, owner, approver and effective date."""
    from pipeline.governance.policy_dpia import dpia_markdown

    text = dpia_markdown(_load_or_fail(policies))
    if out_file is None:
        typer.echo(text, nl=False)
        return
    try:
        fd = os.open(out_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            os.fchmod(fh.fileno(), 0o644)  # for reviewers whatever the umask: it holds no data
            fh.write(text)
    except OSError as exc:
        _fail(f"cannot write {escape(str(out_file))}: {exc.strerror}")
    typer.echo(f"wrote {out_file}")

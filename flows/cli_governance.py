"""`mhpipe` commands for stewards and auditors: policies, quarantine, erasure, retention,
keys, audited vault export and the audit log."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from pipeline.vault.crypto import CryptoError
from pipeline.lock import LockError
from pipeline.policy import PolicyError

from pipeline.layout import Layout

from .cli_base import (DATA, POLICIES, PUBLISH, _fail, _layout, _load_or_fail, app, audit_app,
                       console, keys_app, out, policy_app, quarantine_app, vault_app)


@policy_app.command("check")
def policy_check(
    folder: Optional[Path] = typer.Argument(None, help="Policy folder (or --policies).",
                                            show_default=False),
    policies: Path = POLICIES,
    json_out: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Validate the policy files; errors name file, line, key and what is allowed."""
    from pipeline.policy import load_policy

    folder = folder if folder is not None else policies
    try:
        lp = load_policy(folder)
    except PolicyError as exc:
        if json_out:
            out.print_json(json.dumps({"ok": False, "issues": [str(i) for i in exc.issues]}))
        else:
            for issue in exc.issues:
                console.print(str(issue), style="red", markup=False)
        raise typer.Exit(1)
    if json_out:
        out.print_json(json.dumps({"ok": True, "version": lp.version, "digest": lp.digest,
                                   "files": sorted(lp.files)}))
    else:
        out.print(f"ok: policy {lp.version} ({len(lp.files)} file(s), digest {lp.digest[:12]})")


@quarantine_app.command("list")
def quarantine_list(
    data: Path = DATA,
    limit: int = typer.Option(200, min=1, help="Show at most this many lines."),
    json_out: bool = typer.Option(False, "--json", help="Print the lines as a JSON list."),
) -> None:
    """Quarantined lines: file, line, field and the rule broken. The lines themselves stay
    encrypted; this shows no values."""
    from pipeline.layout import Layout
    from pipeline.vault.stores import open_stores

    if not Layout(data).vault.exists():
        _fail(f"no vault under {data}: nothing has been ingested yet")
    try:
        with open_stores(Layout(data), read_only=True) as (_, vault):
            rows = vault.quarantine_reasons(limit)
    except CryptoError as exc:
        _fail(str(exc))
    if json_out:
        out.print_json(json.dumps([{"file": n, "line": ln, "field": f, "rule": r}
                                   for n, ln, f, r in rows]))
        return
    t = Table("file", "line", "field", "rule", title=f"quarantined lines (first {limit})",
              title_justify="left")
    for name, line, field, rule in rows:
        t.add_row(name, str(line), field, rule)
    out.print(t)


@policy_app.command("diff")
def policy_diff_cmd(old: Path = typer.Argument(..., help="Policy folder in force."),
                    new: Path = typer.Argument(..., help="Proposed policy folder."),
                    json_out: bool = typer.Option(False, "--json",
                                                  help="Print the changes as a JSON list.")) -> None:
    """What changed between two policy folders, in words (consent and retention changes with
    what they do to people). Exits 1 when the policies differ and 0 when they do not, like
    diff(1), so a script can tell."""
    from pipeline.governance.policy_diff import policy_diff

    a, b = _load_or_fail(old), _load_or_fail(new)
    lines = policy_diff(a.policy, b.policy)
    if json_out:
        out.print_json(json.dumps(lines))
    else:
        for line in lines or ["no change"]:
            out.print(f"- {line}", markup=False, highlight=False)  # values are never markup
    raise typer.Exit(1 if lines else 0)


@policy_app.command("impact")
def policy_impact_cmd(
    proposed: Path = typer.Argument(Path("policies"), help="Proposed policy folder."),
    current: Path = typer.Option(Path("policies"), help="Policy folder in force now."),
    data: Path = DATA,
    now: Optional[str] = typer.Option(None, help="Clock override (ISO 8601)."),
    json_out: bool = typer.Option(False, "--json", help="Print the figures as JSON."),
) -> None:
    """If PROPOSED took effect now: per dataset, how many records and people would be deleted
    by retention, newly excluded or newly included. Reads the vault; changes nothing."""
    from pipeline.governance.impact import policy_impact
    from pipeline.layout import Layout, parse_now
    from pipeline.vault.stores import open_stores

    new, cur = _load_or_fail(proposed), _load_or_fail(current)
    if not Layout(data).vault.exists():
        _fail(f"no vault under {data}: nothing has been ingested yet")
    try:
        with open_stores(Layout(data), read_only=True) as (keys, vault):
            figures = policy_impact(vault, keys, cur.policy, new.policy, parse_now(now))
    except CryptoError as exc:
        _fail(str(exc))
    if json_out:
        out.print_json(json.dumps(figures))
        return
    t = Table("dataset", "records deleted by retention", "people affected", title="retention",
              title_justify="left")
    for name, f in figures["retention"].items():
        t.add_row(name, str(f["records"]), str(f["subjects"]))
    out.print(t)
    d = Table("dataset", "people now", "newly excluded", "records erased", "newly included",
              title="consent and scope (individual datasets)", title_justify="left")
    for name, f in figures["datasets"].items():
        d.add_row(name, str(f["people_now"]), str(f["people_newly_excluded"]),
                  str(f["records_erased_by_exclusion"]), str(f["people_newly_included"]))
    out.print(d)
    p = Table("purpose", "people now", "after", "newly excluded", "newly included",
              title="purposes (research tables use 'research')", title_justify="left")
    for name, f in figures["purposes"].items():
        p.add_row(name, str(f["people_now"]), str(f["people_after"]), str(f["newly_excluded"]),
                  str(f["newly_included"]))
    out.print(p)


@policy_app.command("schema")
def policy_schema_cmd(out_file: Path = typer.Option(Path("policies/policy.schema.json"), "--out",
                                                    help="Where to write the schema.")) -> None:
    """Write the JSON Schema of policy files (generated from the model) for editors."""
    from pipeline.policy import json_schema

    out_file.write_text(json.dumps(json_schema(), indent=2, sort_keys=True) + "\n")
    out.print(f"wrote {out_file}")


@app.command()
def erase(
    user_id: str = typer.Option(..., "--user-id", help="The platform's user id; '-' reads it from standard input (keeps it out of shell history)."),
    data: Path = DATA,
    policies: Path = POLICIES,
    publish: Optional[Path] = PUBLISH,
    json_out: bool = typer.Option(False, "--json", help="Print the receipt as JSON."),
) -> None:
    """Erase one person (all purposes): vault rows deleted and data keys destroyed in every
    dataset, quarantined lines deleted, future events excluded, research tables rebuilt.
    Prints a receipt of counts; the id itself is never stored, logged or printed."""
    from pipeline.run.workflows import WorkflowError, erase_request

    os.umask(0o077)  # everything this command creates is private (the release folder aside)
    if user_id == "-":
        user_id = sys.stdin.readline().strip()
    lp = _load_or_fail(policies)
    try:
        receipt = erase_request(_layout(data, publish), lp, user_id)
    except (CryptoError, LockError, WorkflowError) as exc:
        _fail(str(exc))
    if json_out:
        out.print_json(json.dumps(receipt))
        return
    deleted = ", ".join(f"{k} {v}" for k, v in receipt["records_deleted"].items()) or "none"
    out.print(f"erased: records deleted per dataset: {deleted}; quarantined lines deleted "
              f"{receipt['quarantined_lines_deleted']}; later events excluded; warehouse "
              f"rebuilt, {receipt['retained_releases_deleted']} older release(s) deleted; "
              f"receipt {receipt['erasure_id']}, audit record {receipt['audit_hash'][:16]}",
              markup=False, highlight=False)


@app.command("retention-sweep")
def retention_sweep_cmd(data: Path = DATA, policies: Path = POLICIES,
                        now: Optional[str] = typer.Option(None, help="Clock override (ISO 8601).")) -> None:
    """Run the retention-sweep flow once: apply retentions, delete what has expired, audit."""
    from . import env

    env.configure(data)
    from .retention_sweep import retention_sweep

    try:
        summary = retention_sweep(str(data.resolve()), str(policies.resolve()), now)
    except (PolicyError, CryptoError, LockError) as exc:
        _fail(str(exc))
    deleted = summary["retention_deleted"]
    out.print("deleted: " + (", ".join(f"{k} {v}" for k, v in deleted.items()) or "nothing"))


@keys_app.command("rotate")
def keys_rotate(
    data: Path = DATA,
    new_key_file: Optional[Path] = typer.Option(None, help="The new master key (base64); needed when the current one comes from $MHPIPE_MASTER_KEY."),
    json_out: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Re-wrap every data key and secret under a new master key, without re-encrypting data.
    Resumable: if interrupted, run it again. Afterwards the old master key is not needed."""
    from pipeline.run.workflows import WorkflowError, rotate_keys

    try:
        result = rotate_keys(Layout(data), new_key_file)
    except (CryptoError, LockError, WorkflowError) as exc:
        _fail(str(exc))
    if json_out:
        out.print_json(json.dumps(result))
    else:
        out.print("rotated: " + ", ".join(f"{k} {v}" for k, v in result.items()
                                          if k != "audit_hash")
                  + f"; audit record {result['audit_hash'][:16]}", markup=False, highlight=False)
    if os.environ.get("MHPIPE_MASTER_KEY"):
        out.print("now replace $MHPIPE_MASTER_KEY with the new key")


@vault_app.command("export")
def vault_export(
    dataset: str = typer.Option(..., help="Dataset to decrypt (e.g. qi_transcripts)."),
    out_file: Path = typer.Option(..., "--out", help="New file to write (JSONL, mode 0600)."),
    reason: str = typer.Option(..., help="Why this access is needed (recorded in the audit log)."),
    since: Optional[str] = typer.Option(None, help="Only records on or after this date (ISO 8601)."),
    data: Path = DATA,
) -> None:
    """Decrypt a dataset for an authorised reviewer. Who, why, what and how many go into the
    audit log before the command returns."""
    from pipeline.run.workflows import WorkflowError, export_dataset

    try:
        n = export_dataset(Layout(data), dataset, out_file, reason, since)["records"]
    except (CryptoError, WorkflowError) as exc:
        _fail(str(exc))
    except KeyError as exc:
        _fail(str(exc.args[0]))
    out.print(f"exported {n} record(s) of {dataset} to {out_file} (mode 0600); access audited")


@audit_app.command("verify")
def audit_verify(
    data: Path = DATA,
    json_out: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    expect: Optional[str] = typer.Option(None, "--expect", metavar="HASH", help="A head hash kept outside the log (every release records one in releases.audit_head): fail unless the log still holds it, so a log that was edited and re-chained, truncated or emptied is caught."),
) -> None:
    """Recompute the hash chain of the audit log; exit 1 if anything was altered. Prints the
    head hash: keep it somewhere else (each research release also records it)."""
    from pipeline.governance.audit import verify
    from pipeline.layout import Layout

    if not Layout(data).audit_log.exists():
        _fail(f"no audit log under {data}: check --data (nothing to verify is not a pass)")
    ok, message = verify(Layout(data).audit_log, expect)
    if json_out:
        out.print_json(json.dumps({"ok": ok, "message": message}))
    else:
        (out if ok else console).print(("ok: " if ok else "[red]TAMPERED:[/] ") + message)
    raise typer.Exit(0 if ok else 1)

"""`mhpipe`: the command line. A thin layer over `pipeline` and `flows`.

Prefect is imported only by the commands that run a flow, after its environment
(PREFECT_HOME inside the data folder, analytics off) has been set.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from pipeline import failpoints
from pipeline.crypto import CryptoError
from pipeline.lock import LockError, run_lock
from pipeline.policy import PolicyError
from pipeline.stages import StorageError

app = typer.Typer(
    help="mhpipe: privacy-preserving batch pipeline for mental-health chat logs.",
    no_args_is_help=True,
    add_completion=False,
    # Typer's pretty tracebacks print every frame's local variables by default: those could
    # hold message text, identifiers or key material. Never.
    pretty_exceptions_show_locals=False,
)
policy_app = typer.Typer(help="Data-steward tools for policies/*.yaml.", no_args_is_help=True)
audit_app = typer.Typer(help="The tamper-evident audit log.", no_args_is_help=True)
keys_app = typer.Typer(help="Master key (KEK) management.", no_args_is_help=True)
vault_app = typer.Typer(help="Audited access to individual-level datasets.", no_args_is_help=True)
quarantine_app = typer.Typer(help="Invalid input lines kept (encrypted) with their reasons.",
                             no_args_is_help=True)
app.add_typer(policy_app, name="policy")
app.add_typer(quarantine_app, name="quarantine")
app.add_typer(keys_app, name="keys")
app.add_typer(vault_app, name="vault")
app.add_typer(audit_app, name="audit")
console = Console(stderr=True, soft_wrap=True)  # messages are never wrapped mid-path
out = Console()

RAW = typer.Option(Path("data/raw"), "--raw", help="Raw root: *.jsonl / *.jsonl.gz files under it.")
DATA = typer.Option(Path("data"), "--data", help="Data folder: vault, keys, warehouse, audit, Prefect home.")
POLICIES = typer.Option(Path("policies"), "--policies", help="Folder of policy YAML files.")
PUBLISH = typer.Option(
    None, "--publish", envvar="MHPIPE_PUBLISH_DIR", show_default=False,
    help="Folder of the published research releases, which researchers read (outside the "
         "private data folder). Default: '<data folder>-published' next to the data folder.")


def _fail(message: str, code: int = 1) -> None:
    console.print(f"[bold red]error:[/] {message}")
    raise typer.Exit(code)


def _layout(data: Path, publish: Optional[Path] = None):
    """The data folder's layout; a publish folder inside the data folder stops here."""
    from pipeline.stages import Layout, LayoutError

    try:
        return Layout(data, publish)
    except LayoutError as exc:
        _fail(str(exc))


@app.command()
def run(
    raw: Path = RAW,
    data: Path = DATA,
    policies: Path = POLICIES,
    now: Optional[str] = typer.Option(None, help="Clock override (ISO 8601), for replays and tests."),
    task_runner: str = typer.Option(
        "process", "--task-runner", metavar="process|dask",
        help="Where partitions (one per new raw file) are processed: 'process' = a pool of "
             "local worker processes, one model each (default); 'dask' = a Dask cluster "
             "through prefect-dask (see --dask-address)."),
    workers: Optional[int] = typer.Option(
        None, "--workers", min=1,
        help="Local worker processes, or LocalCluster workers with dask. Default: "
             "$MHPIPE_DEID_WORKERS or the number of CPU cores."),
    dask_address: Optional[str] = typer.Option(
        None, "--dask-address", metavar="tcp://HOST:8786",
        help="Scheduler of an existing Dask cluster (with --task-runner dask). Without it a "
             "temporary LocalCluster is started and stopped. Workers need the same raw and data "
             "folders (shared storage) and mhpipe installed."),
    json_out: bool = typer.Option(False, "--json", help="Print the run summary as JSON on stdout."),
    progress: bool = typer.Option(True, "--progress/--no-progress",
                                  help="Show a progress display while partitions run."),
    publish: Optional[Path] = PUBLISH,
    init: bool = typer.Option(False, "--init", help="Start a new data folder if --data does not exist yet (a new vault and master key). Without it a missing data folder is an error, so a mistyped --data never starts an empty pipeline."),
) -> None:
    """Run the nightly batch once: ingest new files (one partition each, in parallel), apply
    consent, de-identify, encrypt, enforce retention, publish the research warehouse and
    append an audit record.

    Exit codes: 0 done; 1 refused (bad policy, key, lock, disk); 2 line counts do not
    balance; 4 some partitions failed (the rest were published; they are retried next run)."""
    if not raw.is_dir():
        _fail(f"raw folder {raw} does not exist (make sample data with: mhpipe synth --out {raw})")
    from .runners import RUNNERS

    if task_runner not in RUNNERS:
        _fail(f"--task-runner must be one of {', '.join(RUNNERS)}")
    if dask_address and task_runner != "dask":
        _fail("--dask-address needs --task-runner dask")
    _preflight(data, policies, now, publish, init)
    from . import env
    from .reaper import guard

    stand_down = guard()  # helpers (Prefect's server, workers) die with this run, even on kill -9
    env.configure(data)
    if os.environ.get(failpoints.ENV):  # tests: a failpoint in a worker takes this run down
        os.environ[failpoints.MAIN_PID_ENV] = str(os.getpid())
    if workers:
        os.environ["MHPIPE_DEID_WORKERS"] = str(workers)
    from . import nightly
    from .progress import RunProgress
    from .runners import make_runner

    flow = nightly.nightly_batch.with_options(
        task_runner=make_runner(task_runner, workers, dask_address))
    failed = None
    try:
        with RunProgress(console, enabled=progress and not json_out) as bar:
            nightly.progress_hook = bar.update
            summary = flow(str(raw), str(data.resolve()), str(policies.resolve()), now,
                           str(publish.resolve()) if publish else None)
    except nightly.PartitionsFailed as exc:
        failed = str(exc)
        summary = _last_summary(data)
    except (PolicyError, CryptoError, LockError, StorageError) as exc:
        _fail(str(exc))
    finally:
        nightly.progress_hook = None
        stand_down()
    if json_out:
        out.print_json(json.dumps(summary))
    elif summary is not None:
        print_summary(summary)
    if failed:
        _fail(failed, 4)
    if not summary["ingest"]["balanced"]:
        _fail("line counts do not balance: see the summary above", 2)


def _preflight(data: Path, policies: Path, now: Optional[str], publish: Optional[Path],
               init: bool) -> None:
    """Everything a run can check without data, before Prefect starts (which takes 12-20 s):
    the clock override, the policy, the data folder, its master key and its lock. Each
    failure is one line with a hint."""
    from pipeline.crypto import MASTER_KEY_ENV
    from pipeline.keystore import KeyStore
    from pipeline.stages import KEY_PROVIDER_ENV, key_provider, parse_now

    if now is not None:
        try:
            parse_now(now)
        except ValueError:
            _fail(f"--now {now!r} is not an ISO 8601 time (e.g. 2026-11-27T02:00:00+00:00)")
    lp = _load_or_fail(policies)
    try:
        lp.check_in_effect(parse_now(now).date())
    except PolicyError as exc:
        _fail(str(exc.issues[0]))
    layout = _layout(data, publish)
    fresh = not (layout.vault.exists() or layout.keystore.exists())
    if not data.is_dir() and not init:
        _fail(f"data folder {data} does not exist: check --data, or start a new data folder "
              "with --init (a new vault and master key)")
    if fresh and not init and not (layout.master_key.exists() or os.environ.get(MASTER_KEY_ENV)
                                   or os.environ.get(KEY_PROVIDER_ENV)):
        _fail(f"{data} holds no vault and no master key: check --data, or start a new data "
              "folder with --init")
    if init and not data.is_dir():
        data.mkdir(parents=True, mode=0o700)
    if not fresh:
        try:
            with KeyStore(layout.keystore, key_provider(layout)):
                pass
        except CryptoError as exc:
            _fail(f"{exc} (the data folder's keys were made with another master key?)")
    try:
        with run_lock(data, "preflight"):
            pass
    except LockError as exc:
        _fail(str(exc))


def _last_summary(data: Path) -> dict | None:
    """The run's summary as its audit record holds it (the flow raised after writing it)."""
    from pipeline import audit

    records = [r for r in audit.read(data / "audit" / "audit.jsonl") if r["kind"] == "nightly-batch"]
    return {**records[-1]["payload"], "audit_hash": records[-1]["hash"]} if records else None


def print_summary(s: dict) -> None:
    ing = s["ingest"]
    t = Table(title="nightly-batch run summary", show_header=False, title_justify="left")
    t.add_column(style="bold")
    t.add_column(justify="right")
    t.add_row("policy version", s["policy_version"])
    t.add_row("new files", str(ing["files"]))
    t.add_row("lines read", str(ing["lines_read"]))
    t.add_row("  loaded", str(ing["loaded"]))
    t.add_row("  duplicates", str(ing["duplicates"]))
    t.add_row("  quarantined", str(ing["quarantined"]))
    t.add_row("  excluded (past retention on arrival, or erased person)", str(ing["excluded"]))
    t.add_row("counts balance", "yes" if ing["balanced"] else "[red]NO[/]")
    t.add_row("messages de-identified", str(ing["messages"]))
    if ing.get("messages_withheld"):
        t.add_row("message texts not kept (no model for locale)", str(ing["messages_withheld"]))
    t.add_row("identifiers replaced", ", ".join(f"{k} {v}" for k, v in ing["entities"].items()) or "0")
    for f in ing["files_failed"]:
        t.add_row("[red]file not ingested[/]", escape(f"{f['file']}: {f['error']}"))
    t.add_row("subjects in intake", str(s["subjects"]))
    t.add_row("usable per purpose", ", ".join(f"{k} {v}" for k, v in s["allowed"].items()))
    for d in s["datasets"]:
        t.add_row(f"dataset {d['dataset']}",
                  f"+{d['added']} records, {d['erased_subjects']} subjects erased")
    t.add_row("retention deleted", ", ".join(f"{k} {v}" for k, v in s["retention_deleted"].items()) or "0")
    if s.get("skipped"):
        t.add_row("outputs", "nothing they depend on changed: not rebuilt")
    t.add_row("warehouse", ("new release: " if s["warehouse_changed"] else "unchanged: ")
              + ", ".join(s["tables"]))
    pub = s.get("publication") or {}
    if pub:
        t.add_row("publication", f"{pub.get('reason')}; data before {pub.get('cutoff')}; "
                                 f"next scheduled {pub.get('next')}")
    if s.get("retained_releases_deleted"):
        t.add_row("older releases deleted (someone left the population)",
                  str(s["retained_releases_deleted"]))
    t.add_row("stage times (s)", ", ".join(f"{k} {v}" for k, v in s["timings_s"].items()))
    t.add_row("audit record", s["audit_hash"][:16])
    out.print(t)
    if ing["quarantine_rules"]:
        q = Table(title="quarantined lines by rule (values never shown)", title_justify="left")
        q.add_column("field: rule")
        q.add_column("lines", justify="right")
        for rule, n in ing["quarantine_rules"].items():
            q.add_row(escape(rule), str(n))
        out.print(q)


@app.command()
def synth(
    out_dir: Path = typer.Option(..., "--out", help="Folder to write <date>/part-NNNN.jsonl.gz into."),
    users: int = typer.Option(200, min=1, help="Number of synthetic users."),
    days: int = typer.Option(30, min=1, help="Days covered, from 2026-09-01."),
    seed: int = typer.Option(0, help="Random seed: same seed, same bytes."),
    fault_rate: float = typer.Option(0.0, min=0.0, max=0.99, help="Share of lines made invalid (every contract rule), plus half as many duplicates."),
    truth: Optional[Path] = typer.Option(None, help="Ground-truth CSV of inserted identifier spans (default: OUT/ground_truth.csv)."),
    files_per_day: int = typer.Option(1, min=1, help="Raw files per day."),
) -> None:
    """Write synthetic, contract-valid session logs with fake identifiers (Faker)."""
    from pipeline.synth import generate

    counts = generate(out_dir, users, days, seed, fault_rate, truth, files_per_day)
    out.print(f"wrote {counts['lines']} lines ({counts['events']} events, {counts['faults']} "
              f"made invalid, {counts['duplicates']} duplicates) in {counts['files']} files "
              f"under {out_dir}; {counts['truth_spans']} identifier spans in the ground truth")


@app.command()
def redact(
    in_file: Optional[Path] = typer.Option(None, "--in", help='JSONL of {"id", "text"} (default: standard input).'),
    out_file: Optional[Path] = typer.Option(None, "--out", help="Write JSONL here (default: standard output)."),
    policies: Path = POLICIES,
    dataset: Optional[str] = typer.Option(None, help="Use this dataset's operators (default: the policy's own)."),
) -> None:
    """De-identify JSONL records: writes {"id", "text", "entities": [{start, end, entity_type,
    score}]} with offsets into the original text. Bad lines are reported by number only."""
    import io

    from pipeline.policy import load_policy
    from pipeline.redact import BadLine, redact_lines

    try:
        policy = load_policy(policies).policy
    except PolicyError as exc:
        _fail(str(exc))
    source = open(in_file, encoding="utf-8") if in_file else io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8")
    sink = open(out_file, "w", encoding="utf-8") if out_file else sys.stdout
    bad = 0
    try:
        for item in redact_lines(source, policy, dataset):
            if isinstance(item, BadLine):
                bad += 1
                console.print(f"[yellow]line {item.line}:[/] {item.problem}")
            else:
                sink.write(json.dumps(item, ensure_ascii=False) + "\n")
    except KeyError as exc:
        _fail(str(exc.args[0]))
    finally:
        if in_file:
            source.close()
        if out_file:
            sink.close()
    if bad:
        raise typer.Exit(1)


@app.command("deid-eval")
def deid_eval(
    eval_dir: Path = typer.Option(Path("../shared/eval"), help="Folder with wnut17/ and counsel_chat/ (skipped if absent)."),
    users: int = typer.Option(150, min=10, help="Synthetic users for the ground-truth corpus."),
    out_file: Path = typer.Option(Path("data/deid-eval.json"), "--out", help="Write all figures here as JSON."),
) -> None:
    """Measure the de-identification engine: per-entity recall (masked as any type and as the
    right type), precision and F2 on synthetic ground truth and WNUT-17 dev; over-redaction
    and redacted durations on counsel_chat."""
    from pipeline.deid import analyze_texts
    from pipeline.deid_eval import run_all

    with console.status("evaluating (model load, three corpora)..."):
        results = run_all(analyze_texts, eval_dir if eval_dir.exists() else None, users)
    for corpus in ("synthetic", "wnut17_dev"):
        if corpus not in results:
            continue
        r = results[corpus]
        t = Table(title=f"{corpus}: micro precision {r['micro']['precision']}, recall {r['micro']['recall_any']}, F2 {r['micro']['f2']}",
                  title_justify="left")
        for col in ("entity", "spans", "recall (any type)", "recall (right type)", "F2 (right type)"):
            t.add_column(col, justify="left" if col == "entity" else "right")
        for name, e in r["entities"].items():
            t.add_row(name, str(e["spans"]), f"{e['recall_any']:.4f}", f"{e['recall_type']:.4f}", f"{e['f2_type']:.4f}")
        out.print(t)
    if "counsel_chat" in results:
        c = results["counsel_chat"]
        out.print(f"counsel_chat: {c['texts']} texts, over-redaction {c['over_redaction'] * 100:.2f}% of "
                  f"non-space characters, {c['durations_redacted']} duration phrases redacted")
        out.print("most redacted: " + ", ".join(f"{s} ({n})" for s, n in c["top_redacted"][:10]))
    out_file.parent.mkdir(parents=True, exist_ok=True)
    out_file.write_text(json.dumps(results, indent=2))
    out.print(f"figures written to {out_file}")


@app.command()
def query(
    sql: str = typer.Argument(..., help="SQL to run against the research warehouse (read-only)."),
    data: Path = DATA,
    publish: Optional[Path] = PUBLISH,
    release: Optional[str] = typer.Option(None, help="A numbered release, e.g. 0003 (default: the current one)."),
) -> None:
    """Query a research release in the researcher sandbox and print the result as a table.

    The release is opened read-only with file access, ATTACH, COPY/EXPORT and extensions off
    and DuckDB's settings locked. Researchers need only the publish folder (--publish).
    Example: mhpipe query "SELECT * FROM data_dictionary" """
    import duckdb

    from pipeline.warehouse.sandbox import SandboxError, connect

    os.environ.pop("MHPIPE_MASTER_KEY", None)  # nothing in this process needs the key
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
    t = Table(*names)
    for r in rows:
        t.add_row(*["NULL" if v is None else str(v) for v in r])
    out.print(t)


def _release_path(data: Path, publish: Optional[Path], release: Optional[str]) -> Path:
    import re

    if release is not None and not re.fullmatch(r"\d{1,6}", release):
        _fail("--release takes a release number, e.g. 0003")
    folder = publish if publish is not None else _layout(data).warehouse
    return folder / (f"research-{int(release):04d}.duckdb" if release else "research.duckdb")


@app.command()
def report(
    data: Path = DATA,
    publish: Optional[Path] = PUBLISH,
    out_file: Optional[Path] = typer.Option(None, "--out", help="HTML file (default: ./research-report-<release id>.html)."),
) -> None:
    """Write a self-contained HTML report of the current release: charts of outcome rates with
    intervals by group, escalation times, consent coverage, and a Limitations section. Reads
    the release in the researcher sandbox; needs only the publish folder."""
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


@app.command("scan-leaks")
def scan_leaks(
    canaries: Path = typer.Option(..., help="File of canary strings, one per line (8+ characters)."),
    paths: list[Path] = typer.Argument(..., help="Files or folders to scan."),
) -> None:
    """Look for canary strings in every file under PATHS, as UTF-8, UTF-16, base64, inside
    gzip and through DuckDB. Prints files and bytes scanned and each hit (file and canary
    number, never the value); exit 1 on any hit."""
    from pipeline.leakscan import scan

    values = [l for l in canaries.read_text(encoding="utf-8").splitlines() if l.strip()]
    with console.status("scanning..."):
        result = scan(values, paths)
    out.print(f"scanned {result.files} files, {result.bytes:,} bytes, {len(values)} canaries: "
              f"{len(result.hits)} hit(s)")
    for where, n, how in result.hits[:100]:
        out.print(f"[red]hit[/]: canary #{n} in {where} ({how})")
    raise typer.Exit(1 if result.hits else 0)


@policy_app.command("check")
def policy_check(folder: Path = typer.Argument(Path("policies"), help="Policy folder.")) -> None:
    """Validate the policy files; errors name file, line, key and what is allowed."""
    from pipeline.policy import load_policy

    try:
        lp = load_policy(folder)
    except PolicyError as exc:
        for issue in exc.issues:
            console.print(f"[red]{issue}[/]")
        raise typer.Exit(1)
    out.print(f"ok: policy {lp.version} ({len(lp.files)} file(s), digest {lp.digest[:12]})")


@quarantine_app.command("list")
def quarantine_list(
    data: Path = DATA,
    limit: int = typer.Option(200, min=1, help="Show at most this many lines."),
) -> None:
    """Quarantined lines: file, line, field and the rule broken. The lines themselves stay
    encrypted; this shows no values."""
    from pipeline.stages import Layout, open_stores

    if not Layout(data).vault.exists():
        _fail(f"no vault under {data}: nothing has been ingested yet")
    try:
        with open_stores(Layout(data), read_only=True) as (_, vault):
            rows = vault.quarantine_reasons(limit)
    except CryptoError as exc:
        _fail(str(exc))
    t = Table("file", "line", "field", "rule", title=f"quarantined lines (first {limit})",
              title_justify="left")
    for name, line, field, rule in rows:
        t.add_row(name, str(line), field, rule)
    out.print(t)


def _load_or_fail(folder: Path):
    from pipeline.policy import load_policy

    try:
        return load_policy(folder)
    except PolicyError as exc:
        for issue in exc.issues:
            console.print(f"[red]{issue}[/]")
        raise typer.Exit(1)


@policy_app.command("diff")
def policy_diff_cmd(old: Path = typer.Argument(..., help="Policy folder in force."),
                    new: Path = typer.Argument(..., help="Proposed policy folder.")) -> None:
    """What changed between two policy folders, in words."""
    from pipeline.policy_diff import policy_diff

    a, b = _load_or_fail(old), _load_or_fail(new)
    lines = policy_diff(a.policy, b.policy)
    for line in lines or ["no change"]:
        out.print(f"- {line}")


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
    from pipeline.impact import policy_impact
    from pipeline.stages import Layout, open_stores, parse_now

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
) -> None:
    """Erase one person (all purposes): vault rows deleted and data keys destroyed in every
    dataset, quarantined lines deleted, future events excluded, research tables rebuilt.
    Prints a receipt of counts; the id itself is never stored, logged or printed."""
    from datetime import datetime, timezone

    from pipeline import stages
    from pipeline.erasure import erase_user

    os.umask(0o077)  # everything this command creates is private (the release folder aside)
    if user_id == "-":
        user_id = sys.stdin.readline().strip()
    if not user_id:
        _fail("no user id given")
    lp = _load_or_fail(policies)
    layout = _layout(data, publish)
    if not layout.vault.exists():
        _fail(f"no vault under {data}: nothing has been ingested yet")
    try:
        with run_lock(data, "erase"):
            # Partitions staged by an interrupted run were sealed before this erasure: drop
            # them first (a staged partition is also re-checked against erasures on reuse).
            discarded = stages.sweep_staging(data, set())
            with stages.open_stores(layout) as (keys, vault):
                receipt = erase_user(vault, keys, lp.policy, user_id, datetime.now(timezone.utc))
            receipt["staged_partitions_discarded"] = discarded
            outputs = stages.build_outputs(data, policies, publish_dir=publish)
    except (CryptoError, LockError) as exc:
        _fail(str(exc))
    receipt["warehouse_rebuilt"] = True
    receipt["retained_releases_deleted"] = outputs.get("retained_releases_deleted", 0)
    receipt["tables"] = outputs["tables"]
    receipt["audit_hash"] = stages.write_audit(data, "erasure", receipt)
    out.print_json(json.dumps(receipt))


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
    from pipeline import stages

    if not now_flag:
        _fail("say --now: releases otherwise follow the policy's publication.cadence")
    os.umask(0o077)  # everything this command creates is private (the release folder aside)
    _load_or_fail(policies)
    _layout(data, publish)
    if not stages.Layout(data).vault.exists():
        _fail(f"no vault under {data}: nothing has been ingested yet")
    try:
        result = stages.publish_now(data, policies, reason, clock, publish)
    except (CryptoError, LockError, ValueError) as exc:
        _fail(str(exc))
    cutoff = result["publication"]["cutoff"]
    out.print(f"release {result['release_id']} published (data before {cutoff})"
              if result["warehouse_changed"] else
              f"release {result['release_id']} unchanged: the gated tables equal the current ones")


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
) -> None:
    """Re-wrap every data key and secret under a new master key, without re-encrypting data.
    Resumable: if interrupted, run it again. Afterwards the old master key is not needed."""
    from pipeline import keys, stages

    layout = stages.Layout(data)
    if not layout.keystore.exists():
        _fail(f"no key store under {data}")
    try:
        with run_lock(data, "keys rotate"):
            result = keys.rotate(layout.keystore, layout.master_key, new_key_file)
    except (CryptoError, LockError) as exc:
        _fail(str(exc))
    result["audit_hash"] = stages.write_audit(data, "key-rotation", result)
    out.print_json(json.dumps(result))
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
    from pipeline import audit, stages
    from pipeline.export import export_dataset

    layout = stages.Layout(data)
    if not layout.vault.exists():
        _fail(f"no vault under {data}")
    if out_file.exists():
        _fail(f"{out_file} exists; exports never overwrite")
    if len(reason.strip()) < 10:
        _fail("give a reason of at least 10 characters")
    start = stages.parse_now(since) if since else None
    try:
        with stages.open_stores(layout, read_only=True) as (_, vault):
            n = export_dataset(vault, dataset, out_file, start)
    except CryptoError as exc:
        _fail(str(exc))
    except KeyError as exc:
        _fail(str(exc.args[0]))
    stages.write_audit(data, "vault-export", {
        "who": audit.who()["user"], "reason": reason.strip(), "dataset": dataset,
        "since": since, "records": n, "out_file": str(out_file.resolve())})
    out.print(f"exported {n} record(s) of {dataset} to {out_file} (mode 0600); access audited")


@audit_app.command("verify")
def audit_verify(
    data: Path = DATA,
    expect: Optional[str] = typer.Option(None, "--expect", metavar="HASH", help="A head hash kept outside the log (every release records one in releases.audit_head): fail unless the log still holds it, so a log that was edited and re-chained, truncated or emptied is caught."),
) -> None:
    """Recompute the hash chain of the audit log; exit 1 if anything was altered. Prints the
    head hash: keep it somewhere else (each research release also records it)."""
    from pipeline.audit import verify
    from pipeline.stages import Layout

    if not Layout(data).audit_log.exists():
        _fail(f"no audit log under {data}: check --data (nothing to verify is not a pass)")
    ok, message = verify(Layout(data).audit_log, expect)
    (out if ok else console).print(("ok: " if ok else "[red]TAMPERED:[/] ") + message)
    raise typer.Exit(0 if ok else 1)


def main() -> None:
    app(prog_name="mhpipe")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

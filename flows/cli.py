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
from rich.markup import escape
from rich.table import Table

from pipeline import failpoints
from pipeline.vault.crypto import CryptoError
from pipeline.lock import LockError, run_lock
from pipeline.policy import PolicyError
from pipeline.run.stages import StorageError

from .cli_base import DATA, POLICIES, PUBLISH, RAW, _fail, _layout, _load_or_fail, app, console, out


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
    quiet: bool = typer.Option(False, "--quiet", "-q",
                               help="No progress display and no summary table; errors and "
                                    "warnings only (the exit code says how the run went)."),
    log_level: Optional[str] = typer.Option(
        None, "--log-level", metavar="DEBUG|INFO|WARNING|ERROR", show_default=False,
        help="Level of Prefect's log lines on the console. Default: WARNING while the progress "
             "display runs (log lines would break it up), else INFO."),
) -> None:
    """Run the nightly batch once: ingest new files (one partition each, in parallel), apply
    consent, de-identify, encrypt, enforce retention, publish the research warehouse and
    append an audit record.

    Exit codes: 0 done; 1 refused (bad policy, key, lock, disk); 2 line counts do not
    balance; 3 safety alert: a new AI model version is less safe than the one before (the
    run itself completed; see the summary and the `safety-alert` artifact); 4 some
    partitions failed (the rest were published; they are retried next run). When several
    hold, the first of 4, 2, 3 is returned."""
    if not raw.is_dir():
        _fail(f"raw folder {raw} does not exist (make sample data with: mhpipe synth --out {raw})")
    from .runners import RUNNERS

    if task_runner not in RUNNERS:
        _fail(f"--task-runner must be one of {', '.join(RUNNERS)}")
    if dask_address and task_runner != "dask":
        _fail("--dask-address needs --task-runner dask")
    showing = progress and not json_out and not quiet
    level = (log_level or ("WARNING" if quiet or showing else "INFO")).upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        _fail("--log-level must be DEBUG, INFO, WARNING or ERROR")
    os.environ["PREFECT_LOGGING_LEVEL"] = level
    _preflight(data, policies, now, publish, init)
    if not (quiet or json_out):
        console.print("starting Prefect's temporary server (12-20 s on a small machine)...")
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
        with RunProgress(console, enabled=showing) as bar:
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
    elif summary is not None and not quiet:
        print_summary(summary)
    if failed:
        _fail(failed, 4)
    if not summary["ingest"]["balanced"]:
        _fail("line counts do not balance: see the summary above", 2)
    if summary.get("safety_alerts"):
        _fail(f"safety alert: {len(summary['safety_alerts'])} finding(s) of the model-version "
              "safety gate need human review (see the summary above)", 3)


def _preflight(data: Path, policies: Path, now: Optional[str], publish: Optional[Path],
               init: bool) -> None:
    """Everything a run can check without data, before Prefect starts (which takes 12-20 s):
    the clock override, the policy, the data folder, its master key and its lock. Each
    failure is one line with a hint."""
    from pipeline.vault.crypto import MASTER_KEY_ENV
    from pipeline.vault.keystore import KeyStore
    from pipeline.layout import parse_now
    from pipeline.vault.stores import KEY_PROVIDER_ENV, key_provider

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
    from pipeline.governance import audit
    from pipeline.governance.policy_history import version_bumped

    # a policy whose content changed under the same metadata.version would be audited as
    # the old one: refused before anything is touched
    issue = version_bumped(audit.read(layout.audit_log), lp) if layout.audit_log.exists() else None
    if issue:
        _fail(str(issue))
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
    from pipeline.governance import audit
    from pipeline.layout import Layout
    from pipeline.run.nightly import AUDIT_KIND

    records = [r for r in audit.read(Layout(data).audit_log) if r["kind"] == AUDIT_KIND]
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
    for a in s.get("safety_alerts") or []:
        t.add_row("[bold red]SAFETY ALERT[/]", escape(
            f"{a['model_version']} worse than {a['previous_version']} on {a['measure']} "
            f"({a['share']:.0%} vs {a['previous_share']:.0%}); review {a['review']}"))
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
    unsafe_model: bool = typer.Option(
        False, "--unsafe-model",
        help="Also roll out a model version (mh-assist-1.4) that never connects a flagged "
             "session to a human: the model-version safety gate of `mhpipe run` must catch it."),
) -> None:
    """Write synthetic, contract-valid session logs with fake identifiers (Faker)."""
    from pipeline.synth import generate

    counts = generate(out_dir, users, days, seed, fault_rate, truth, files_per_day,
                      unsafe_model=unsafe_model)
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
    from pipeline.deid.redact import BadLine, redact_lines

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
    eval_dir: Path = typer.Option(Path("../shared/eval"), help="Folder with tab/, btc/, wnut17/ and counsel_chat/ (absent sets are skipped)."),
    users: int = typer.Option(150, min=10, help="Synthetic users for the ground-truth corpus."),
    out_file: Path = typer.Option(Path("data/deid-eval.json"), "--out", help="Write all figures here as JSON."),
) -> None:
    """Measure the de-identification engine on every set: recall per label (masked as any
    type, on what the redaction masked, with 95% intervals), masked characters outside
    annotated spans, over-redaction, and duration phrases or clinical words masked. The
    synthetic set shows what the generator knows; the external sets show generalisation."""
    from pipeline.deid import analyze_texts
    from pipeline.deid.evaluate import run_all

    with console.status("evaluating (model load, every set)..."):
        results = run_all(analyze_texts, eval_dir if eval_dir.exists() else None, users)
    r = results["synthetic"]
    t = Table(title=f"synthetic (generator, not evidence): micro recall {r['micro']['recall_any']}",
              title_justify="left")
    for col in ("entity", "spans", "recall (any type)", "recall (right type)"):
        t.add_column(col, justify="left" if col == "entity" else "right")
    for name, e in r["entities"].items():
        t.add_row(name, str(e["spans"]), f"{e['recall_any']:.4f}", f"{e['recall_type']:.4f}")
    out.print(t)
    for corpus, r in results.items():
        if corpus == "synthetic":
            continue
        t = Table(title=f"{corpus}: {r['texts']} texts, {r['over_redaction'] * 100:.2f}% of characters masked, "
                        f"{r['masked_outside_annotations'] * 100:.1f}% of masked outside annotations, "
                        f"{r['durations_redacted']} durations and {r['clinical_terms_redacted']} clinical words masked",
                  title_justify="left")
        if not r["labels"]:  # no annotations (counsel_chat): the title says it all
            out.print(t.title)
            continue
        for col in ("label", "spans", "recall (any type)", "95% interval"):
            t.add_column(col, justify="left" if col == "label" else "right")
        for label, e in r["labels"].items():
            t.add_row(label, str(e["spans"]), f"{e['recall_any']:.4f}", f"{e['ci95'][0]:.3f}-{e['ci95'][1]:.3f}")
        out.print(t)
    out_file.parent.mkdir(parents=True, exist_ok=True)
    out_file.write_text(json.dumps(results, indent=2))
    out.print(f"figures written to {out_file}")


@app.command("scan-leaks")
def scan_leaks(
    canaries: Path = typer.Option(..., help="File of canary strings, one per line (8+ characters)."),
    paths: list[Path] = typer.Argument(..., help="Files or folders to scan."),
) -> None:
    """Look for canary strings in every file under PATHS, as UTF-8, UTF-16, base64, inside
    gzip and through DuckDB. Prints files and bytes scanned and each hit (file and canary
    number, never the value); exit 1 on any hit."""
    from pipeline.governance.leakscan import scan

    values = [l for l in canaries.read_text(encoding="utf-8").splitlines() if l.strip()]
    with console.status("scanning..."):
        result = scan(values, paths)
    out.print(f"scanned {result.files} files, {result.bytes:,} bytes, {len(values)} canaries: "
              f"{len(result.hits)} hit(s)")
    for where, n, how in result.hits[:100]:
        out.print(f"[red]hit[/]: canary #{n} in {where} ({how})")
    raise typer.Exit(1 if result.hits else 0)


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def serve(ctx: typer.Context) -> None:
    """Serve the scheduled deployments: start `prefect server` on 127.0.0.1 and serve
    nightly-batch (02:00) and retention-sweep (03:30) until Ctrl-C. Options: --raw, --data,
    --policies, --publish, --port (4200), --timezone (UTC); see `python -m flows.serve -h`."""
    from . import serve as serving

    serving.main(list(ctx.args))


# the other commands register themselves on `app` when imported
from . import cli_governance, cli_steward, cli_subject, cli_warehouse  # noqa: E402,F401 - they register commands


def main() -> None:
    app(prog_name="mhpipe")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

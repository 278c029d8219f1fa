"""`nightly-batch`: the scheduled flow. Orchestration only; the work is in `pipeline.stages`.

Hygiene: parameters are paths and an optional clock override; task results are counts and
hashes. No task caches or persists results (`NO_CACHE`, `persist_result=False`), and the
flow itself persists nothing, so Prefect's database and storage never see data.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Callable

import sqlite3
from concurrent.futures.process import BrokenProcessPool

import duckdb
from prefect import flow, get_run_logger, task
from prefect.states import Completed
from prefect.cache_policies import NO_CACHE
from prefect.futures import as_completed
from prefect.tasks import exponential_backoff

from pipeline import run_summary, stages
from pipeline.lock import run_lock

from . import env
from .runners import IN_POOL, make_runner, placement

_SAFE = dict(cache_policy=NO_CACHE, persist_result=False)

# In-process progress hook for the CLI (never a flow parameter): called with a dict of
# counts (partitions done/total, bytes done/total, messages done, file name).
progress_hook: Callable[[dict[str, Any]], None] | None = None

# Transient failures are retried with exponential back-off (10 s, 20 s, 40 s, with jitter);
# anything else (a bug, a corrupt store) fails the partition at once.
RETRIES = 3
TRANSIENT = (OSError, TimeoutError, ConnectionError, sqlite3.OperationalError,
             duckdb.IOException, BrokenProcessPool)


def _transient(task, task_run, state) -> bool:
    try:
        state.result()
    except TRANSIENT:
        return True
    except BaseException:
        return False
    return False


_RETRY = dict(retries=RETRIES, retry_delay_seconds=exponential_backoff(backoff_factor=10),
              retry_jitter_factor=0.5, retry_condition_fn=_transient)


@task(name="check-policy", task_run_name="check-policy", **_SAFE)
def check_policy(policies: str, now: str | None = None) -> dict[str, Any]:
    return stages.check_policy(Path(policies), now)


@task(name="check-keys", task_run_name="check-keys", **_SAFE)
def check_keys(data: str) -> dict[str, Any]:
    return stages.check_keys(Path(data))


@task(name="discover", task_run_name="discover", **_SAFE)
def discover(raw: str, data: str) -> list[tuple[str, str]]:
    return stages.new_files(Path(raw), Path(data))


@task(name="refused-files", task_run_name="refused-files", **_SAFE)
def refused_files(raw: str) -> list[dict[str, str]]:
    return stages.refused_files(Path(raw))


@task(name="check-disk", task_run_name="check-disk", **_SAFE)
def check_disk(raw: str, data: str, names: list[str]) -> dict[str, int]:
    return stages.check_disk(Path(raw), Path(data), names)


@task(name="stage", task_run_name="stage {name}", **_RETRY, **_SAFE)
def stage(raw: str, name: str, sha256: str, data: str, policies: str, now: str | None,
          where: str) -> dict[str, Any]:
    """Parse, validate, de-identify and seal one raw file, in the local worker pool or in
    this task's own process (a Dask worker); text is analysed in that one process."""
    args = (Path(raw), name, sha256, Path(data), Path(policies), now, 1)
    if where == IN_POOL:
        from pipeline.deid import run_in_pool

        return run_in_pool(stages.stage_partition, *args)
    return stages.stage_partition(*args)


@task(name="commit", task_run_name="commit {count} partition(s)", **_SAFE)
def commit(data: str, shas: list[str], count: int) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """Move staged partitions into the vault in discovery order (in the flow's process),
    one transaction each; a partition that fails stays staged for the next run."""
    done = []

    def each(part: dict[str, Any]) -> None:
        done.append(part)
        if progress_hook:
            progress_hook({"phase": "commit", "done": len(done), "total": count,
                           "file": part["file"]})

    return stages.commit_partitions(Path(data), shas, each)


@task(name="sweep-staging", task_run_name="sweep-staging", **_SAFE)
def sweep_staging(data: str, keep: list[str]) -> int:
    return stages.sweep_staging(Path(data), set(keep))


@task(name="retention", task_run_name="retention", **_SAFE)
def retention(data: str, policies: str, now: str | None) -> dict[str, int]:
    return stages.enforce_retention(Path(data), Path(policies), now)


@task(name="build-outputs", task_run_name="build-outputs", **_SAFE)
def build_outputs(data: str, policies: str, now: str | None, publish: str | None) -> dict[str, Any]:
    return stages.build_outputs(Path(data), Path(policies), now,
                                Path(publish) if publish else None)


@task(name="release-artifact", task_run_name="release-artifact", **_SAFE)
def release_artifact(data: str, publish: str | None) -> None:
    """Headline figures of the release as a Prefect markdown artifact (aggregates only)."""
    from prefect.artifacts import create_markdown_artifact

    from pipeline.warehouse.report import headline_markdown

    release = stages.Layout(Path(data), Path(publish) if publish else None).release
    create_markdown_artifact(key="research-release", markdown=headline_markdown(release),
                             description="Disclosure-controlled headline figures")


@task(name="safety-alert", task_run_name="safety-alert", **_SAFE)
def safety_alert(alerts: list[dict[str, Any]]) -> None:
    """The model-version safety gate fired: error-level log lines and a markdown artifact
    (aggregates and what to review; never a person). `mhpipe run` exits 3."""
    from prefect.artifacts import create_markdown_artifact

    from pipeline.warehouse.safety_gate import Alert, alerts_markdown

    log = get_run_logger()
    for a in alerts:
        log.error(Alert(**{k: v for k, v in a.items() if k != "review"}).message())
    create_markdown_artifact(key="safety-alert", markdown=alerts_markdown(alerts),
                             description="Model-version safety gate: needs human review")


@task(name="audit", task_run_name="audit", **_SAFE)
def write_audit(data: str, payload: dict[str, Any], kind: str = "nightly-batch") -> str:
    return stages.write_audit(Path(data), kind, payload)


class PartitionsFailed(Exception):
    """Some partitions failed; the others were committed and published. The failed files are
    not registered, so the next run picks them up again."""


def _run_name() -> str:
    """Flow runs are named after the flow and the run's clock: "nightly-batch 2026-11-27
    02:00Z", never a random "vague-hornet"."""
    from prefect.runtime import flow_run

    return f"nightly-batch {stages.parse_now(flow_run.parameters.get('now')):%Y-%m-%d %H:%MZ}"


@flow(name="nightly-batch", flow_run_name=_run_name, persist_result=False, log_prints=False,
      task_runner=make_runner("process"))
def nightly_batch(raw: str, data: str, policies: str, now: str | None = None,
                  publish: str | None = None) -> dict[str, Any]:
    """Ingest new raw files (one partition each, in parallel), refresh consented datasets,
    enforce retention, publish the research warehouse (to `publish`, default `<data>-published/`
    next to the data folder), audit."""
    env.configure(data)  # served or worker-run flows: private files, local caches
    # one "Finished in state Completed()" per task drowned the lines that matter
    logging.getLogger("prefect.task_runs").setLevel(logging.WARNING)
    log = get_run_logger()
    stages.Layout(Path(data), Path(publish) if publish else None)  # a bad publish folder: stop now
    policy = check_policy(policies, now)  # fail closed: nothing is touched before this passes
    with run_lock(Path(data), "nightly-batch"):
        summary = _nightly(raw, data, policies, now, policy, log, publish)
    run_summary_artifact(summary)
    # Unreadable files (corrupt gzip) are recorded and done with; failed partitions are not.
    failed = run_summary.failed_partitions(summary)
    if failed:
        raise PartitionsFailed(
            f"{len(failed)} partition(s) failed and will be retried next run: "
            + ", ".join(f["file"] for f in failed[:10]) + (", ..." if len(failed) > 10 else ""))
    bad = run_summary.unreadable(summary)
    if bad:  # not green: an operator must look at the file
        log.warning("%d file(s) could not be read or were refused: %s", len(bad),
                    ", ".join(f["file"] for f in bad[:10]))
        return Completed(name="Completed with warnings", data=summary,
                         message=f"{len(bad)} file(s) could not be read or were refused")
    return summary


@task(name="run-summary", task_run_name="run-summary", **_SAFE)
def run_summary_artifact(summary: dict[str, Any]) -> None:
    """Counts, quarantine by rule and files not ingested, as a markdown artifact."""
    from prefect.artifacts import create_markdown_artifact

    create_markdown_artifact(key="run-summary", markdown=run_summary.markdown(summary),
                             description="What this run read, loaded, quarantined and published")


def _stage_all(raw: str, data: str, policies: str, now: str | None,
               files: list[tuple[str, str]], log) -> list[dict[str, Any] | None]:
    """Stage every partition on the task runner; None for a partition that failed."""
    where = _placement()
    sizes = {name: _size(raw, name) for name, _ in files}
    futures = [stage.submit(raw, name, sha, data, policies, now, where)
               for name, sha in files]
    index = {id(f): i for i, f in enumerate(futures)}
    results: list[dict[str, Any] | None] = [None] * len(files)
    done_bytes = messages = done = 0
    for fut in as_completed(futures):
        i = index[id(fut)]
        name = files[i][0]
        try:
            results[i] = fut.result()
        except Exception as exc:  # noqa: BLE001 - a failed partition must not stop the rest
            log.error("partition %s failed (%s); it will be retried next run",
                      name, type(exc).__name__)
        done += 1
        done_bytes += sizes[name]
        messages += (results[i] or {}).get("messages", 0)
        if progress_hook:
            progress_hook({"phase": "stage", "done": done, "total": len(files),
                           "bytes_done": done_bytes, "bytes_total": sum(sizes.values()),
                           "messages": messages, "file": name})
    return results


def _placement() -> str:
    """Where partitions run under the flow's task runner (`runners.placement`)."""
    from prefect.context import FlowRunContext

    ctx = FlowRunContext.get()
    return placement(ctx.task_runner if ctx else None)


def _size(raw: str, name: str) -> int:
    try:
        return (Path(raw) / name).stat().st_size
    except OSError:
        return 0


def _nightly(raw: str, data: str, policies: str, now: str | None, policy: dict[str, Any], log,
             publish: str | None = None) -> dict[str, Any]:
    timer = stages.Timer()
    with timer.stage("keys"):
        check_keys(data)
    with timer.stage("discover"):
        files = discover(raw, data)  # reads only
        refused = refused_files(raw)  # symbolic links, devices, unsafe names: never read
    # Before anything is written (retention, the staging sweep): a run that could fill the
    # disk stops here with the stores as they were.
    check_disk(raw, data, [name for name, _ in files])
    with timer.stage("retention"):
        # Before any commit, so that records written in this run are never shifted by a
        # retention change.
        deleted = retention(data, policies, now)
    with timer.stage("discover"):
        sweep_staging(data, [sha for _, sha in files])
    log.info("policy %s; %d new file(s)", policy["version"], len(files))
    with timer.stage("stage"):
        staged = _stage_all(raw, data, policies, now, files, log) if files else []
    failed = [{"file": name, "error": "partition failed"}
              for (name, _), result in zip(files, staged) if result is None]
    ready = [sha for (_, sha), result in zip(files, staged) if result is not None]
    with timer.stage("commit"):
        parts, bad = commit(data, ready, len(ready)) if ready else ([], [])
    names = dict((sha, name) for name, sha in files)
    failed += [{"file": names[b["sha256"]], "error": b["error"]} for b in bad]
    ingest_summary = stages.summarise_ingest(parts)
    ingest_summary["files_failed"] += failed + refused
    with timer.stage("outputs"):
        outputs = build_outputs(data, policies, now, publish)
        if not outputs.get("skipped"):
            release_artifact(data, publish)
    if outputs.get("safety_alerts"):
        safety_alert(outputs["safety_alerts"])
    summary = {
        "policy_version": policy["version"],
        "policy_digest": policy["digest"],
        "policy_files": policy["files"],
        "ingest": ingest_summary,
        "ingest_all_time": stages.registry_totals(Path(data)),
        "retention_deleted": deleted,
        **outputs,
        "timings_s": timer.times,
    }
    summary["policy_changed"] = stages.record_policy_change(Path(data), policy)
    summary["audit_hash"] = write_audit(data, summary)
    log.info(
        "read %d lines: loaded %d, duplicates %d, quarantined %d, excluded %d; %d partition(s) failed",
        ingest_summary["lines_read"], ingest_summary["loaded"], ingest_summary["duplicates"],
        ingest_summary["quarantined"], ingest_summary["excluded"], len(failed),
    )
    return summary

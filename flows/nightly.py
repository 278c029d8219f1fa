"""`nightly-batch`: the scheduled flow. Orchestration only; the work is in `pipeline.run.stages`.

Hygiene: parameters are paths and an optional clock override; task results are counts and
hashes. No task caches or persists results (`NO_CACHE`, `persist_result=False`), and the
flow itself persists nothing, so Prefect's database and storage never see data.
"""

from __future__ import annotations

import logging
from functools import partial
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

from pipeline.layout import Layout, parse_now
from pipeline.policy import LoadedPolicy
from pipeline.run import stages
from pipeline.run import summary as run_summary
from pipeline.run.nightly import PartitionsFailed, run_nightly
from pipeline.governance import audit
from pipeline.run.outputs import build_outputs

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


def _step(fn: Callable[..., Any], name: str, **opts: Any):
    """One step of the sequence as a task: same function, same arguments, no caching."""
    return task(fn, name=name, task_run_name=name, **_SAFE, **opts)


# The sequence's steps (pipeline.run.nightly) by name, each as a task.
TASKS = {
    "check-keys": _step(stages.check_keys, "check-keys"),
    "discover": _step(stages.new_files, "discover"),
    "refused-files": _step(stages.refused_files, "refused-files"),
    "check-disk": _step(stages.check_disk, "check-disk"),
    "retention": _step(stages.enforce_retention, "retention"),
    "sweep-staging": _step(stages.sweep_staging, "sweep-staging"),
    "build-outputs": _step(build_outputs, "build-outputs"),
    "registry-totals": _step(stages.registry_totals, "registry-totals"),
    "audit": _step(audit.record, "audit"),
}


def as_task(step: str, fn: Callable[..., Any], *args: Any) -> Any:
    """`call` for the library's sequences: run the step as its task."""
    if step == "commit":
        return commit(*args)
    return TASKS[step](*args)


check_policy = _step(stages.check_policy, "check-policy")


@task(name="stage", task_run_name="stage {name}", **_RETRY, **_SAFE)
def stage(raw: Path, name: str, sha256: str, data: Path, policy: LoadedPolicy, now: str | None,
          where: str) -> dict[str, Any]:
    """Parse, validate, de-identify and seal one raw file, in the local worker pool or in
    this task's own process (a Dask worker); text is analysed in that one process."""
    args = (raw, name, sha256, data, policy, now, 1)
    if where == IN_POOL:
        from pipeline.deid import run_in_pool

        return run_in_pool(stages.stage_partition, *args)
    return stages.stage_partition(*args)


@task(name="commit", task_run_name="commit {count} partition(s)", **_SAFE)
def _commit(data: Path, shas: list[str], count: int,
            each: Callable[[dict[str, Any]], None] | None) -> tuple[list, list]:
    """Move staged partitions into the vault in discovery order (in the flow's process),
    one transaction each; a partition that fails stays staged for the next run."""
    return stages.commit_partitions(data, shas, each)


def commit(data: Path, shas: list[str], each=None) -> tuple[list, list]:
    return _commit(data, shas, len(shas), each)


@task(name="release-artifact", task_run_name="release-artifact", **_SAFE)
def release_artifact(release: Path) -> None:
    """Headline figures of the release as a Prefect markdown artifact (aggregates only)."""
    from prefect.artifacts import create_markdown_artifact

    from pipeline.warehouse.report import headline_markdown

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


@task(name="run-summary", task_run_name="run-summary", **_SAFE)
def run_summary_artifact(summary: dict[str, Any]) -> None:
    """Counts, quarantine by rule and files not ingested, as a markdown artifact."""
    from prefect.artifacts import create_markdown_artifact

    create_markdown_artifact(key="run-summary", markdown=run_summary.markdown(summary),
                             description="What this run read, loaded, quarantined and published")


def _run_name() -> str:
    """Flow runs are named after the flow and the run's clock: "nightly-batch 2026-11-27
    02:00Z", never a random "vague-hornet"."""
    from prefect.runtime import flow_run

    return f"nightly-batch {parse_now(flow_run.parameters.get('now')):%Y-%m-%d %H:%MZ}"


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
    layout = Layout(Path(data), Path(publish) if publish else None)  # a bad publish folder: stop now
    policy = check_policy(Path(policies), now)  # fail closed: nothing is touched before this passes

    # No closures here: Dask pickles this function by value, with the globals it names.
    commits = _CommitProgress()
    stage_all = partial(_stage_counted, Path(raw), layout.root, policy, now, log, commits)
    summary = run_nightly(Path(raw), layout, policy, now, call=as_task, stage_all=stage_all,
                          on_commit=commits.update, log=log)
    if not summary.get("skipped") and layout.release.exists():
        release_artifact(layout.release)
    if summary.get("safety_alerts"):
        safety_alert(summary["safety_alerts"])
    run_summary_artifact(summary)
    # Unreadable files (corrupt gzip) are recorded and done with; failed partitions are not.
    failed = run_summary.failed_partitions(summary)
    if failed:
        raise PartitionsFailed([f["file"] for f in failed])
    bad = run_summary.unreadable(summary)
    if bad:  # not green: an operator must look at the file
        log.warning("%d file(s) could not be read or were refused: %s", len(bad),
                    ", ".join(f["file"] for f in bad[:10]))
        return Completed(name="Completed with warnings", data=summary,
                         message=f"{len(bad)} file(s) could not be read or were refused")
    return summary


class _CommitProgress:
    """Reports the commit step to `progress_hook`: how many of the staged partitions are in."""

    def __init__(self) -> None:
        self.ready = 0
        self.done = 0

    def update(self, part: dict[str, Any]) -> None:
        self.done += 1
        if progress_hook:
            progress_hook({"phase": "commit", "done": self.done, "total": self.ready,
                           "file": part["file"]})


def _stage_counted(raw: Path, data: Path, policy: LoadedPolicy, now: str | None, log,
                   commits: _CommitProgress, files: list[tuple[str, str]]) -> list[dict[str, Any] | None]:
    results = _stage_all(raw, data, policy, now, files, log)
    commits.ready = sum(r is not None for r in results)
    return results


def _stage_all(raw: Path, data: Path, policy: LoadedPolicy, now: str | None,
               files: list[tuple[str, str]], log) -> list[dict[str, Any] | None]:
    """Stage every partition on the task runner; None for a partition that failed."""
    where = _placement()
    sizes = {name: _size(raw, name) for name, _ in files}
    futures = [stage.submit(raw, name, sha, data, policy, now, where)
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

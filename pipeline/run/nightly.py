"""The nightly sequence, written once: the flow (each step as an orchestrator task), the
CLI and the tests all run it through `run_nightly`.

Keys checked -> new files found -> disk checked -> retention -> stale staging swept ->
partitions staged (in parallel where the caller can) -> committed in discovery order ->
outputs built and published on the cadence -> policy change and run audited. Under the
run lock, with the policy loaded once (`stages.check_policy`): the outputs, the release and
the audit record all carry that one policy's digest.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Callable

from pipeline.governance import audit
from pipeline.layout import Layout
from pipeline.lock import run_lock
from pipeline.policy import LoadedPolicy
from pipeline.run import outputs, stages
from pipeline.run.summary import STAGE_FAILED, Timer, failure, summarise_ingest

AUDIT_KIND = "nightly-batch"

# call(step, fn, *args): how a step runs. Default: in this process. The flow passes one
# that runs the step as its task (same function, same arguments).
Call = Callable[..., Any]
# stage_all(files) -> counts per file, None where staging failed (the flow stages in parallel)
StageAll = Callable[[list[tuple[str, str]]], list[dict[str, Any] | None]]


def direct(step: str, fn: Callable[..., Any], *args: Any) -> Any:
    return fn(*args)


class PartitionsFailed(Exception):
    """Some partitions failed; the others were committed and published. The failed files are
    not registered, so the next run picks them up again. Names files, never data."""

    def __init__(self, files: list[str]) -> None:
        self.files = files
        super().__init__(f"{len(files)} partition(s) failed and will be retried next run: "
                         + ", ".join(files[:10]) + (", ..." if len(files) > 10 else ""))


def record_policy_change(layout: Layout, policy: LoadedPolicy) -> bool:
    """Append a `policy-change` audit record when the policy digest differs from the one the
    last run recorded (the first run records the initial policy)."""
    described = stages.describe_policy(policy)
    log = layout.audit_log
    last = next((r for r in reversed(audit.read(log)) if "policy_digest" in r["payload"]), None)
    if last is not None and last["payload"]["policy_digest"] == policy.digest:
        return False
    audit.append(log, "policy-change", {
        "previous_version": last["payload"].get("policy_version") if last else None,
        "previous_digest": last["payload"]["policy_digest"] if last else None,
        "policy_version": policy.version, "policy_digest": policy.digest,
        "policy_files": policy.files, "approved_by": described["approved_by"],
        "effective_date": described["effective_date"]})
    return True


def run_nightly(raw: Path, layout: Layout, policy: LoadedPolicy, now: str | None = None, *,
                call: Call = direct, stage_all: StageAll | None = None,
                on_commit: Callable[[dict[str, Any]], None] | None = None,
                log: logging.Logger | logging.LoggerAdapter | None = None) -> dict[str, Any]:
    """Run the nightly sequence once under the run lock; returns the audited summary (counts
    and hashes). Partitions that fail are listed in `ingest.files_failed` (typed, see
    `summary.KINDS`) and do not stop the rest; the caller decides how to end the run
    (`summary.failed_partitions`)."""
    raw, data = Path(raw), layout.root
    log = log or logging.getLogger("mhpipe.nightly")
    with run_lock(data, AUDIT_KIND):
        return _sequence(raw, data, layout, policy, now, call, stage_all, on_commit, log)


def _stage_in_order(raw: Path, data: Path, policy: LoadedPolicy, now: str | None,
                    call: Call, files: list[tuple[str, str]], log) -> list[dict[str, Any] | None]:
    results: list[dict[str, Any] | None] = []
    for name, sha in files:
        try:
            results.append(call("stage", stages.stage_partition, raw, name, sha, data, policy, now))
        except Exception as exc:  # noqa: BLE001 - a failed partition must not stop the rest
            log.error("partition %s failed (%s); it will be retried next run",
                      name, type(exc).__name__)
            results.append(None)
    return results


def _sequence(raw: Path, data: Path, layout: Layout, policy: LoadedPolicy, now: str | None,
              call: Call, stage_all: StageAll | None, on_commit, log) -> dict[str, Any]:
    timer = Timer()
    with timer.stage("keys"):
        call("check-keys", stages.check_keys, data)
    with timer.stage("discover"):
        files = call("discover", stages.new_files, raw, data)  # reads only
        refused = call("refused-files", stages.refused_files, raw)  # never read
    # Before anything is written (retention, the staging sweep): a run that could fill the
    # disk stops here with the stores as they were.
    call("check-disk", stages.check_disk, raw, data, [name for name, _ in files])
    with timer.stage("retention"):
        # Before any commit, so that records written in this run are never shifted by a
        # retention change.
        deleted = call("retention", stages.enforce_retention, data, policy, now)
    with timer.stage("discover"):
        call("sweep-staging", stages.sweep_staging, data, {sha for _, sha in files})
    log.info("policy %s; %d new file(s)", policy.version, len(files))
    with timer.stage("stage"):
        if not files:
            staged = []
        elif stage_all is not None:
            staged = stage_all(files)
        else:
            staged = _stage_in_order(raw, data, policy, now, call, files, log)
    failed = [{"file": name, **failure(STAGE_FAILED)}
              for (name, _), result in zip(files, staged) if result is None]
    ready = [sha for (_, sha), result in zip(files, staged) if result is not None]
    with timer.stage("commit"):
        parts, bad = (call("commit", stages.commit_partitions, data, ready, on_commit)
                      if ready else ([], []))
    names = {sha: name for name, sha in files}
    failed += [{"file": names[b["sha256"]], "kind": b["kind"], "error": b["error"]} for b in bad]
    ingest = summarise_ingest(parts)
    ingest["files_failed"] += failed + refused
    with timer.stage("outputs"):
        built = call("build-outputs", outputs.build_outputs, data, policy, now, layout.publish)
    described = stages.describe_policy(policy)
    summary = {
        "policy_version": described["version"],
        "policy_digest": described["digest"],
        "policy_files": described["files"],
        "ingest": ingest,
        "ingest_all_time": call("registry-totals", stages.registry_totals, data),
        "retention_deleted": deleted,
        **built,
        "timings_s": timer.times,
    }
    summary["policy_changed"] = record_policy_change(layout, policy)
    summary["audit_hash"] = call("audit", audit.record, layout.audit_log, AUDIT_KIND, summary)
    log.info("read %d lines: loaded %d, duplicates %d, quarantined %d, excluded %d; "
             "%d partition(s) failed", ingest["lines_read"], ingest["loaded"],
             ingest["duplicates"], ingest["quarantined"], ingest["excluded"], len(failed))
    return summary

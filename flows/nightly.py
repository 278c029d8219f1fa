"""`nightly-batch`: the scheduled flow. Orchestration only; the work is in `pipeline.stages`.

Hygiene: parameters are paths and an optional clock override; task results are counts and
hashes. No task caches or persists results (`NO_CACHE`, `persist_result=False`), and the
flow itself persists nothing, so Prefect's database and storage never see data.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from pipeline import stages
from pipeline.lock import run_lock

_SAFE = dict(cache_policy=NO_CACHE, persist_result=False)

# In-process progress hook for the CLI (never a flow parameter): called with
# (files done, files total, file name).
progress_hook: Callable[[int, int, str], None] | None = None


@task(name="check-policy", **_SAFE)
def check_policy(policies: str) -> dict[str, Any]:
    return stages.check_policy(Path(policies))


@task(name="check-keys", **_SAFE)
def check_keys(data: str) -> dict[str, Any]:
    return stages.check_keys(Path(data))


@task(name="discover", **_SAFE)
def discover(raw: str, data: str) -> list[tuple[str, str]]:
    return stages.new_files(Path(raw), Path(data))


@task(name="check-disk", **_SAFE)
def check_disk(raw: str, data: str, names: list[str]) -> dict[str, int]:
    return stages.check_disk(Path(raw), Path(data), names)


@task(name="ingest", task_run_name="ingest {name}", retries=2, retry_delay_seconds=[2, 10],
      **_SAFE)
def ingest(raw: str, name: str, sha256: str, data: str, policies: str,
           now: str | None) -> dict[str, Any]:
    return stages.ingest_partition(Path(raw), name, sha256, Path(data), Path(policies), now)


@task(name="retention", **_SAFE)
def retention(data: str, policies: str, now: str | None) -> dict[str, int]:
    return stages.enforce_retention(Path(data), Path(policies), now)


@task(name="build-outputs", **_SAFE)
def build_outputs(data: str, policies: str, now: str | None) -> dict[str, Any]:
    return stages.build_outputs(Path(data), Path(policies), now)


@task(name="release-artifact", **_SAFE)
def release_artifact(data: str) -> None:
    """Headline figures of the release as a Prefect markdown artifact (aggregates only)."""
    from prefect.artifacts import create_markdown_artifact

    create_markdown_artifact(key="research-release", markdown=stages.headline_markdown(Path(data)),
                             description="Disclosure-controlled headline figures")


@task(name="audit", **_SAFE)
def write_audit(data: str, payload: dict[str, Any], kind: str = "nightly-batch") -> str:
    return stages.write_audit(Path(data), kind, payload)


@flow(name="nightly-batch", persist_result=False, log_prints=False)
def nightly_batch(raw: str, data: str, policies: str, now: str | None = None) -> dict[str, Any]:
    """Ingest new raw files, refresh consented datasets, enforce retention, publish, audit."""
    log = get_run_logger()
    policy = check_policy(policies)  # fail closed: nothing is touched before this passes
    with run_lock(Path(data), "nightly-batch"):
        return _nightly(raw, data, policies, now, policy, log)


def _nightly(raw: str, data: str, policies: str, now: str | None, policy: dict[str, Any], log) -> dict[str, Any]:
    timer = stages.Timer()
    with timer.stage("keys"):
        check_keys(data)
    with timer.stage("retention"):
        # First, so that records written in this run are never shifted by a retention change.
        deleted = retention(data, policies, now)
    with timer.stage("discover"):
        files = discover(raw, data)
    log.info("policy %s; %d new file(s)", policy["version"], len(files))
    check_disk(raw, data, [name for name, _ in files])
    parts = []
    with timer.stage("ingest"):
        for i, (name, sha) in enumerate(files, start=1):
            parts.append(ingest(raw, name, sha, data, policies, now))
            if progress_hook:
                progress_hook(i, len(files), name)
    ingest_summary = stages.summarise_ingest(parts)
    with timer.stage("outputs"):
        outputs = build_outputs(data, policies, now)
        release_artifact(data)
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
        "read %d lines: loaded %d, duplicates %d, quarantined %d, excluded %d",
        ingest_summary["lines_read"], ingest_summary["loaded"], ingest_summary["duplicates"],
        ingest_summary["quarantined"], ingest_summary["excluded"],
    )
    return summary

"""`retention-sweep`: apply the policy's retentions and delete what has expired, on its own
schedule (the nightly batch does the same as its first step). Orchestration only."""

from __future__ import annotations

from typing import Any

from pathlib import Path

from prefect import flow, get_run_logger

from pipeline.lock import run_lock

from . import env
from .nightly import check_keys, check_policy, retention, write_audit


@flow(name="retention-sweep", persist_result=False, log_prints=False)
def retention_sweep(data: str, policies: str, now: str | None = None) -> dict[str, Any]:
    """Delete every vault record past its dataset's retention; audit the counts."""
    env.configure(data)  # served or worker-run flows: private files, local caches
    policy = check_policy(policies, now)  # fail closed before touching anything
    with run_lock(Path(data), "retention-sweep"):
        check_keys(data)
        deleted = retention(data, policies, now)
    summary = {"policy_version": policy["version"], "policy_digest": policy["digest"],
               "policy_files": policy["files"], "retention_deleted": deleted}
    summary["audit_hash"] = write_audit(data, summary, "retention-sweep")
    get_run_logger().info("retention sweep deleted %d record(s)", sum(deleted.values()))
    return summary

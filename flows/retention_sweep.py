"""`retention-sweep`: apply the policy's retentions and delete what has expired, on its own
schedule (the nightly batch does the same as its first step). Orchestration only."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger

from pipeline.layout import Layout
from pipeline.run.workflows import retention_sweep as sweep

from . import env
from .nightly import as_task, check_policy


@flow(name="retention-sweep", persist_result=False, log_prints=False)
def retention_sweep(data: str, policies: str, now: str | None = None) -> dict[str, Any]:
    """Delete every vault record past its dataset's retention; audit the counts."""
    env.configure(data)  # served or worker-run flows: private files, local caches
    policy = check_policy(Path(policies), now)  # fail closed before touching anything
    summary = sweep(Layout(Path(data)), policy, now, call=as_task)
    deleted = summary["retention_deleted"]
    get_run_logger().info("retention sweep deleted %d record(s)", sum(deleted.values()))
    return summary

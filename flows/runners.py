"""Task runners: where each partition (one new raw file) is processed.

- `process` (default): partitions are Prefect tasks on a `ThreadPoolTaskRunner`; each one
  hands its whole partition (parse, validate, de-identify, seal) to a local pool of worker
  processes (`pipeline.deid.run_in_pool`), one per core, each with the model loaded once when
  it starts. CPU-bound work runs in processes; Prefect's per-task bookkeeping stays in the
  flow's process, where it is cheap. (Prefect's own `ProcessPoolTaskRunner` starts a Prefect
  engine per task: measured here, 7.6 s of overhead for 30 empty tasks.)
- `dask`: `prefect-dask`'s `DaskTaskRunner`, on an existing cluster (`--dask-address
  tcp://HOST:8786`) or a temporary `LocalCluster` of worker processes. A partition runs in
  the Dask worker's own process, which loads the model on its first partition and keeps it.
  Workers must see the same raw and data folders (shared storage) and have mhpipe installed.

Nothing but paths, file names and hashes is sent to a worker; results are counts.
"""

from __future__ import annotations

from typing import Any

RUNNERS = ("process", "dask")
IN_POOL = "pool"      # the partition runs in the local pool of worker processes
IN_TASK = "in-task"   # the partition runs where the task runs (a Dask worker)


def make_runner(kind: str = "process", workers: int | None = None,
                dask_address: str | None = None) -> Any:
    """A Prefect task runner of this kind (see the module docstring)."""
    from pipeline.deid import default_workers

    workers = workers or default_workers()
    if kind == "process":
        from prefect.task_runners import ThreadPoolTaskRunner

        return ThreadPoolTaskRunner(max_workers=workers)
    if kind == "dask":
        from prefect_dask import DaskTaskRunner

        if dask_address:
            return DaskTaskRunner(address=dask_address)
        return DaskTaskRunner(cluster_kwargs={
            "n_workers": workers, "threads_per_worker": 1, "processes": True,
            "dashboard_address": None})
    raise ValueError(f"unknown task runner {kind!r}: use one of {', '.join(RUNNERS)}")


def placement(runner: Any) -> str:
    """Where a partition's work runs under `runner`: the local process pool when tasks are
    threads of the flow's process; in the task itself otherwise (a Dask worker process)."""
    from prefect.task_runners import ThreadPoolTaskRunner

    return IN_POOL if runner is None or isinstance(runner, ThreadPoolTaskRunner) else IN_TASK

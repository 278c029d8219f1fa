"""Task runners and the progress display (no flow is run here)."""

from __future__ import annotations

import pytest
from prefect.task_runners import ThreadPoolTaskRunner
from prefect_dask import DaskTaskRunner
from rich.console import Console

from flows.progress import RunProgress
from flows.runners import IN_POOL, IN_TASK, make_runner, placement


def test_process_runner_keeps_tasks_in_threads_and_partitions_in_the_pool():
    runner = make_runner("process", workers=3)
    assert isinstance(runner, ThreadPoolTaskRunner) and runner._max_workers == 3
    assert placement(runner) == IN_POOL


def test_dask_runner_uses_an_address_or_a_temporary_local_cluster():
    remote = make_runner("dask", dask_address="tcp://10.0.0.5:8786")
    assert isinstance(remote, DaskTaskRunner) and remote.address == "tcp://10.0.0.5:8786"
    local = make_runner("dask", workers=2)
    assert local.address is None
    assert local.cluster_kwargs["n_workers"] == 2 and local.cluster_kwargs["processes"] is True
    assert placement(local) == IN_TASK


def test_unknown_runner_is_refused():
    with pytest.raises(ValueError, match="process, dask"):
        make_runner("spark")


def test_progress_shows_partitions_messages_rate_and_eta():
    import io

    console = Console(file=io.StringIO(), force_terminal=True, width=200)
    with RunProgress(console) as bar:
        bar.update({"phase": "stage", "done": 3, "total": 10, "bytes_done": 300,
                    "bytes_total": 1000, "messages": 4500, "file": "2026-09-01/part-0001.jsonl.gz"})
        task = bar.progress.tasks[0]
        assert task.fields["parts"] == "3/10 partitions"
        assert task.fields["msgs"].startswith("4,500 messages, ") and task.fields["msgs"].endswith(" msg/s")
        assert task.completed == 300 and task.total == 1000
        assert "part-0001" in task.description
        bar.update({"phase": "commit", "done": 2, "total": 10, "file": "x"})
        assert bar.progress.tasks[0].fields["parts"] == "2/10 partitions"
    assert "partitions" in console.file.getvalue()

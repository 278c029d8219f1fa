"""`flows.progress.RunProgress`: what the CLI's progress bar shows for each event."""

from __future__ import annotations

import io
import re

from rich.console import Console

from flows.progress import RunProgress


def _progress(enabled: bool = True) -> tuple[RunProgress, io.StringIO]:
    out = io.StringIO()
    return RunProgress(Console(file=out, width=200, force_terminal=False), enabled), out


def _staged(**kw):
    event = {"file": "2026/11/a.jsonl.gz", "done": 1, "total": 4, "bytes_done": 300,
             "bytes_total": 1200, "messages": 1234}
    event.update(kw)
    return event


def test_a_staged_partition_moves_the_bar_by_bytes():
    bar, _ = _progress()
    with bar:
        bar.update(_staged())
        task = bar.progress.tasks[0]
        assert task.description == "staged 2026/11/a.jsonl.gz"
        assert (task.completed, task.total) == (300, 1200)
        assert task.fields["parts"] == "1/4 partitions"
        assert re.fullmatch(r"1,234 messages, [\d,]+ msg/s", task.fields["msgs"])


def test_commit_phase_changes_the_label_only():
    bar, _ = _progress()
    with bar:
        bar.update(_staged())
        bar.update({"phase": "commit", "done": 2, "total": 4})
        task = bar.progress.tasks[0]
        assert task.description == "committing"
        assert task.fields["parts"] == "2/4 partitions"
        assert (task.completed, task.total) == (300, 1200)  # bytes untouched


def test_file_names_are_not_read_as_markup():
    bar, _ = _progress()
    with bar:
        bar.update(_staged(file="[bold red]x.jsonl"))
        assert bar.progress.tasks[0].description == r"staged \[bold red]x.jsonl"


def test_an_empty_input_still_has_a_total():
    bar, _ = _progress()
    with bar:
        bar.update(_staged(bytes_done=0, bytes_total=0, messages=0))
        assert bar.progress.tasks[0].total == 1


def test_disabled_writes_nothing():
    bar, out = _progress(enabled=False)
    with bar:
        bar.update(_staged())
        bar.update({"phase": "commit", "done": 4, "total": 4})
    assert out.getvalue() == ""

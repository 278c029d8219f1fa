"""The CLI's progress display for a nightly run: partitions and messages done, rate, ETA.

Fed by `flows.nightly.progress_hook` with counts and file names only (never content). The
ETA comes from bytes of raw input done versus waiting, which tracks work better than a
count of files of different sizes.
"""

from __future__ import annotations

import time
from typing import Any

from rich.markup import escape
from rich.console import Console
from rich.progress import (BarColumn, Progress, TaskProgressColumn, TextColumn,
                           TimeElapsedColumn, TimeRemainingColumn)


class RunProgress:
    def __init__(self, console: Console, enabled: bool = True):
        self.enabled = enabled
        self.progress = Progress(
            TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(),
            TextColumn("{task.fields[parts]}"), TextColumn("{task.fields[msgs]}"),
            TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
            console=console, transient=True, disable=not enabled)
        self.task = None
        self.started = time.monotonic()

    def __enter__(self) -> "RunProgress":
        self.progress.__enter__()
        self.task = self.progress.add_task("partitions", total=None, parts="", msgs="")
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.__exit__(*exc)

    def update(self, event: dict[str, Any]) -> None:
        """One partition staged (or committed): refresh the display."""
        if event.get("phase") == "commit":
            self.progress.update(self.task, description="committing",
                                 parts=f"{event['done']}/{event['total']} partitions")
            return
        elapsed = max(time.monotonic() - self.started, 1e-6)
        rate = event["messages"] / elapsed
        self.progress.update(
            self.task, description=f"staged {escape(event['file'])}",
            total=max(event["bytes_total"], 1), completed=event["bytes_done"],
            parts=f"{event['done']}/{event['total']} partitions",
            msgs=f"{event['messages']:,} messages, {rate:,.0f} msg/s")

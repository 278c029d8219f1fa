"""One run at a time per data folder: an exclusive, non-blocking lock (flock) on
`<data>/.run.lock`. A second run exits at once with a clear message; the lock is released by
the kernel when the process ends, so a killed run never leaves a stale lock."""

from __future__ import annotations

import fcntl
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from pipeline.layout import Layout


class LockError(Exception):
    pass


@contextmanager
def run_lock(data: Path, what: str = "run") -> Iterator[None]:
    data = Path(data)
    data.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(Layout(data).run_lock, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "another process"
            raise LockError(f"another run is using the data folder {data} ({holder}); "
                            "try again when it has finished") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()}, {what}".encode(), 0)
        yield
    finally:
        os.close(fd)  # closing releases the lock

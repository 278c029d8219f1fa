"""`kill -9` of `mhpipe run`: nothing it started is alive 5 seconds later (issue 15)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import POLICIES, ROOT


def _processes_of(home: Path) -> list[int]:
    """Every live process started with this PREFECT_HOME: the run and all its helpers."""
    needle = f"PREFECT_HOME={home}".encode()
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                status = (proc / "stat").read_text().split()
                if status[2] != "Z" and needle in (proc / "environ").read_bytes().split(b"\0"):
                    found.append(int(proc.name))
            except (OSError, IndexError):
                pass
    return found


@pytest.mark.flow
def test_kill_9_of_a_run_leaves_no_process_behind(tmp_path, sample_raw):
    home = tmp_path / "prefect"
    env = {**os.environ, "PREFECT_HOME": str(home)}
    run = subprocess.Popen(
        [sys.executable, "-m", "flows.cli", "run", "--init", "--raw", str(sample_raw),
         "--data", str(tmp_path / "data"), "--policies", str(POLICIES), "--no-progress"],
        env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and len(_processes_of(home)) < 3:
            time.sleep(0.5)  # the run, Prefect's server and workers
        helpers = [p for p in _processes_of(home) if p != run.pid]
        assert helpers, "the run started no helper to leave behind"
        os.kill(run.pid, signal.SIGKILL)
        run.wait(timeout=10)
        time.sleep(5)
        assert _processes_of(home) == []
    finally:
        for pid in _processes_of(home):
            os.kill(pid, signal.SIGKILL)

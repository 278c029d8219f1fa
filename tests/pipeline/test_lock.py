from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from pipeline.lock import LockError, run_lock


def test_second_run_is_refused_with_a_clear_message(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sys, time
        from pipeline.lock import run_lock
        with run_lock({str(tmp_path)!r}, "nightly-batch"):
            print("held", flush=True)
            sys.stdin.readline()
    """)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(LockError, match=r"another run is using the data folder .*nightly-batch"):
            with run_lock(tmp_path):
                pass
    finally:
        holder.stdin.write("\n")
        holder.stdin.flush()
        holder.wait(timeout=30)
    with run_lock(tmp_path):  # released when the holder ended
        pass


def test_a_killed_holder_leaves_no_stale_lock(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import os, signal
        from pipeline.lock import run_lock
        with run_lock({str(tmp_path)!r}):
            os.kill(os.getpid(), signal.SIGKILL)
    """)])
    holder.wait(timeout=30)
    assert holder.returncode == -9
    with run_lock(tmp_path):
        pass

"""Nothing a run started outlives it, `kill -9` included.

`mhpipe run` starts helpers: Prefect's temporary API server (unauthenticated, its database
open), a pool of de-identification workers, perhaps a Dask LocalCluster. A SIGKILLed run
cannot stop them itself, and they would go on serving or staging after the data folder's
lock is gone. So the run leads its own process group (where its helpers are started) and
forks a tiny reaper first. The reaper waits on a pipe whose only writer is the run: when the
run ends normally it says "stand down"; when the run dies in any way the pipe closes and the
reaper kills the whole group (and then itself, being in it).

From an interactive shell the run already leads its process group (job control), so Ctrl-C
behaves as before; started by another program, it makes a group of its own.
"""

from __future__ import annotations

import os
import signal
from typing import Callable

_STAND_DOWN = b"x"


def guard() -> Callable[[], None]:
    """Start the reaper; returns the function the run calls when it ends normally."""
    if os.getpgid(0) != os.getpid():
        try:
            os.setpgid(0, 0)
        except OSError:  # e.g. a session leader: cannot lead a new group, no guard
            return lambda: None
    group = os.getpgid(0)
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the reaper: no Python cleanup, no threads, one blocking read
        try:
            os.close(write_end)
            said = os.read(read_end, 1)
            if said != _STAND_DOWN:
                os.killpg(group, signal.SIGKILL)
        finally:
            os._exit(0)
    os.close(read_end)

    def stand_down() -> None:
        try:
            os.write(write_end, _STAND_DOWN)
            os.close(write_end)
            os.waitpid(pid, 0)
        except OSError:
            pass

    return stand_down

"""Named points where a test can kill the process (SIGKILL, as a crash or an OOM kill would),
to prove that a re-run reaches the same result. Inert unless $MHPIPE_FAILPOINT names the
point ("name" kills at its first hit, "name:3" at its third). "name=TAG" raises
`InjectedFailure` instead, at every hit tagged TAG (a partition's file name): a failure that
is not transient, so it is not retried."""

from __future__ import annotations

import os
import signal
from collections import Counter

ENV = "MHPIPE_FAILPOINT"
MAIN_PID_ENV = "MHPIPE_FAILPOINT_PID"
POINTS = (
    "keys-checked", "retention-mid", "retention-done", "deid-done:2", "staged:2",
    "ingest-before-commit:1",
    "ingest-before-commit:3", "ingest-after-commit:2", "datasets-mid", "before-publish",
    "release-recorded", "publish-swap", "before-audit", "after-audit",
)
_hits: Counter[str] = Counter()


class InjectedFailure(Exception):
    """Raised by a "name=TAG" failpoint (tests only)."""


def hit(name: str, tag: str | None = None) -> None:
    spec = os.environ.get(ENV)
    if not spec:
        return
    if "=" in spec:
        want, _, want_tag = spec.partition("=")
        if want == name and tag == want_tag:
            raise InjectedFailure(f"injected failure at {name}")
        return
    want, _, nth = spec.partition(":")
    if want != name:
        return
    _hits[name] += 1
    if _hits[name] == int(nth or 1):
        # In a worker process, take the whole run down (the main process named itself in
        # $MHPIPE_FAILPOINT_PID), as a machine crash would.
        main = int(os.environ.get(MAIN_PID_ENV) or os.getpid())
        if main != os.getpid():
            os.kill(main, signal.SIGKILL)
        os.kill(os.getpid(), signal.SIGKILL)

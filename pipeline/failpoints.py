"""Named points where a test can kill the process (SIGKILL, as a crash or an OOM kill would),
to prove that a re-run reaches the same result. Inert unless $MHPIPE_FAILPOINT names the
point ("name" kills at its first hit, "name:3" at its third)."""

from __future__ import annotations

import os
import signal
from collections import Counter

ENV = "MHPIPE_FAILPOINT"
POINTS = (
    "keys-checked", "retention-mid", "retention-done", "deid-done:2", "ingest-before-commit:1",
    "ingest-before-commit:3", "ingest-after-commit:2", "datasets-mid", "before-publish",
    "publish-swap", "before-audit", "after-audit",
)
_hits: Counter[str] = Counter()


def hit(name: str) -> None:
    spec = os.environ.get(ENV)
    if not spec:
        return
    want, _, nth = spec.partition(":")
    if want != name:
        return
    _hits[name] += 1
    if _hits[name] == int(nth or 1):
        os.kill(os.getpid(), signal.SIGKILL)

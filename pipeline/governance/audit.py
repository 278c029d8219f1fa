"""Tamper-evident audit log: append-only JSON lines, each carrying the SHA-256 of the last.

A record holds counts, hashes, versions and timings, never data, and the OS user who wrote
it (by uid, from the kernel, not from the environment). Every writer goes through `append`,
which holds an exclusive lock on the log while it reads the head and writes, so concurrent
commands never fork the chain. `verify` recomputes the chain and reports the first record
that was edited, removed or reordered. A chain can be recomputed by someone who edits the
file, so its head is also *anchored* outside the log: each research release records it
(`releases.audit_head`) and `verify(expect=...)` fails unless that record is still there.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import pwd
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

GENESIS = "0" * 64


def _digest(record: dict[str, Any]) -> str:
    body = {k: v for k, v in record.items() if k != "hash"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def read(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def who() -> dict[str, Any]:
    """The OS user of this process, from the kernel (environment variables can lie)."""
    uid = os.getuid()
    try:
        name = pwd.getpwuid(uid).pw_name
    except KeyError:
        name = None
    return {"uid": uid, "user": name}


@contextmanager
def _locked(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path.parent / ".audit.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # waits: writers take turns, none is lost
        yield
    finally:
        os.close(fd)


def append(path: Path, kind: str, payload: dict[str, Any]) -> dict[str, Any]:
    with _locked(path):
        records = read(path)
        prev = records[-1] if records else None
        record = {
            "seq": (prev["seq"] + 1) if prev else 1,
            "at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "kind": kind,
            "by": who(),
            "payload": payload,
            "prev_hash": prev["hash"] if prev else GENESIS,
        }
        record["hash"] = _digest(record)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        with os.fdopen(fd, "a") as fh:
            fh.write(json.dumps(record, sort_keys=True) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
    return record


def record(path: Path, kind: str, payload: dict[str, Any]) -> str:
    """Append one record of a workflow (a run, an erasure, an export, a rotation); returns its
    hash. The failpoints let the kill tests stop a process either side of the write."""
    from pipeline import failpoints

    failpoints.hit("before-audit")
    digest = append(path, kind, payload)["hash"]
    failpoints.hit("after-audit")
    return digest


def head(path: Path) -> str | None:
    """Hash of the newest record (what releases anchor), or None for no log."""
    records = read(path)
    return records[-1]["hash"] if records else None


def verify(path: Path, expect: str | None = None) -> tuple[bool, str]:
    """Recompute the chain. With `expect` (an anchored head, e.g. from a release), the log
    must also still hold the record with that hash: a log edited and re-chained, truncated
    or emptied then fails."""
    prev_hash, seq = GENESIS, 0
    hashes = set()
    for i, record in enumerate(read(path), start=1):
        if record.get("prev_hash") != prev_hash or record.get("seq") != seq + 1:
            return False, f"record {i}: chain broken (a record was removed, inserted or reordered)"
        if _digest(record) != record.get("hash"):
            return False, f"record {i}: contents do not match its hash (edited)"
        prev_hash, seq = record["hash"], record["seq"]
        hashes.add(prev_hash)
    if seq == 0:
        return False, "the audit log is empty (an emptied log is not a pass)"
    if expect is not None and expect not in hashes:
        return False, (f"the anchored head {expect[:16]} is not in the log: it was edited and "
                       "re-chained, or records were removed")
    return True, f"{seq} records, chain intact; head {prev_hash}"

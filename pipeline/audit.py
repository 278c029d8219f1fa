"""Tamper-evident audit log: append-only JSON lines, each carrying the SHA-256 of the last.

A record holds counts, hashes, versions and timings, never data. `verify` recomputes the
chain and reports the first record that was edited, removed or reordered.
"""

from __future__ import annotations

import hashlib
import json
import os
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


def append(path: Path, kind: str, payload: dict[str, Any]) -> dict[str, Any]:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    records = read(path)
    prev = records[-1] if records else None
    record = {
        "seq": (prev["seq"] + 1) if prev else 1,
        "at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "kind": kind,
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


def verify(path: Path) -> tuple[bool, str]:
    prev_hash, seq = GENESIS, 0
    for i, record in enumerate(read(path), start=1):
        if record.get("prev_hash") != prev_hash or record.get("seq") != seq + 1:
            return False, f"record {i}: chain broken (a record was removed, inserted or reordered)"
        if _digest(record) != record.get("hash"):
            return False, f"record {i}: contents do not match its hash (edited)"
        prev_hash, seq = record["hash"], record["seq"]
    return True, f"{seq} records, chain intact"

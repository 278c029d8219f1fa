"""Audited access: decrypt a dataset for an authorised reviewer into a private file.

The caller appends the audit record (who, why, dataset, how many, where); this module never
logs. The output file is created 0600 and refuses to overwrite an existing file."""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path

from pipeline.vault.store import Vault


def export_dataset(vault: Vault, dataset: str, out: Path, since: datetime | None = None) -> int:
    if dataset not in vault.datasets():
        raise KeyError(f"no records in dataset {dataset!r}")
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    n = 0
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        for record_id, subject, payload in vault.read(dataset):
            stamp = payload.get("occurred_at")
            if since is not None and stamp is not None and datetime.fromisoformat(stamp) < since:
                continue
            fh.write(json.dumps({"record_id": record_id, "subject": subject, **payload},
                                ensure_ascii=False, sort_keys=True) + "\n")
            n += 1
    return n

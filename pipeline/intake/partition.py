"""Partitions: one raw file is prepared on its own, anywhere, then committed in order.

`stage` is the expensive, parallel half (parse, validate, pseudonymise, de-identify, seal).
It only *reads* the vault, so any number of partitions can be staged at once, in threads,
processes or Dask workers, and writes one partition folder under `data/staging/<sha256>/`:

    records.parquet     the vault's own columns: pseudonymous ids, key id, nonce, ciphertext
    quarantine.parquet  invalid lines, sealed under the file's key, with their reasons
    outcome.json        the line accounting and counts (no values)

The folder is written as `<sha256>.tmp` and renamed when complete, so a staged partition is
either whole or absent. Nothing in it is clearer than the vault itself.

`commit` is the cheap, serial half: it moves one staged partition into the vault in a single
transaction (records, quarantine, ingest note) and removes the folder. Committing in the
discovery order makes the result independent of which partition finished first. A run that
is killed after staging re-uses the staged folder (when made under the same policy); one
killed after committing finds the file registered and the leftover folder is removed.
"""

from __future__ import annotations

import json
import os
import shutil
from collections import Counter
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable

import polars as pl

from pipeline import failpoints
from pipeline.intake.ingest import RawFile, parse_file
from pipeline.intake.prepare import prepare_file
from pipeline.layout import Layout
from pipeline.policy import LoadedPolicy
from pipeline.vault.store import FileOutcome, Vault, seal_quarantine, seal_records



class StagingError(Exception):
    """A staged partition is missing or unreadable (names the partition, never data)."""


def staging_root(data: Path) -> Path:
    return Layout(Path(data)).staging


def _folder(data: Path, sha256: str) -> Path:
    return staging_root(data) / sha256


def stage(raw: Path, name: str, sha256: str, data: Path, policy: LoadedPolicy,
          now: str | None, analyze: Callable) -> dict[str, Any]:
    """Prepare one raw file into a staged partition; returns its counts (no data)."""
    from pipeline.layout import parse_now
    from pipeline.vault.stores import open_stores

    layout = Layout(Path(data))
    os.environ.setdefault("MHPIPE_CACHE", str(layout.cache))
    final = _folder(data, sha256)
    done = _read_outcome(final)
    if done is not None and done.get("policy_digest") == policy.digest and _still_valid(layout, final):
        return done["summary"]  # staged by a run that was stopped before committing it
    failpoints.hit("stage", name)
    parsed = parse_file(RawFile(Path(raw) / name, name, sha256))
    # The vault is only read; data keys for new subjects go to the key store.
    with open_stores(layout, read_only=True) as (keys, vault):
        prep = prepare_file(parsed, vault, keys, analyze, policy, parse_now(now))
        records = seal_records(keys, prep.records, policy.version)
        quarantine = seal_quarantine(keys, sha256, name, parsed.quarantined)
    o = prep.result.outcome
    rules = Counter(f"{q.field}: {q.rule}" for q in parsed.quarantined)
    summary = {
        "file": name, "sha256": sha256, "lines_read": o.lines_read, "loaded": o.loaded,
        "duplicates": o.duplicates, "quarantined": o.quarantined, "excluded": o.excluded,
        "file_error": o.file_error, "messages": prep.result.messages,
        "messages_withheld": prep.result.withheld,
        "entities": dict(prep.result.entities), "quarantine_rules": dict(rules),
        "commit": prep.commit,
    }
    tmp = final.with_name(final.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True, mode=0o700)
    os.chmod(staging_root(data), 0o700)
    records.write_parquet(tmp / "records.parquet")
    quarantine.write_parquet(tmp / "quarantine.parquet")
    meta = {"policy_digest": policy.digest, "outcome": asdict(o), "summary": summary}
    (tmp / "outcome.json").write_text(json.dumps(meta, sort_keys=True))
    for f in tmp.iterdir():
        os.chmod(f, 0o600)
    failpoints.hit("staged")
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)
    return summary


def _still_valid(layout, folder: Path) -> bool:
    """A partition staged by an earlier, interrupted run may be committed as it is only if
    every data key it was sealed under still exists (retention may have shredded some since)
    and none of its subjects has been erased since."""
    from pipeline.vault.stores import open_stores

    try:
        records = pl.read_parquet(folder / "records.parquet", columns=["subject", "key_id"])
        quarantine = pl.read_parquet(folder / "quarantine.parquet", columns=["key_id"])
    except (OSError, pl.exceptions.PolarsError):
        return False
    key_ids = set(records["key_id"].to_list()) | set(quarantine["key_id"].to_list())
    with open_stores(layout, read_only=True) as (keys, vault):
        if not keys.has_keys(key_ids):
            return False
        return not (set(records["subject"].to_list()) & vault.erased_subjects())


def _read_outcome(folder: Path) -> dict[str, Any] | None:
    try:
        return json.loads((folder / "outcome.json").read_text())
    except (FileNotFoundError, ValueError):
        return None


def commit(vault: Vault, data: Path, sha256: str) -> dict[str, Any]:
    """Move a staged partition into the vault (one transaction); returns the counts as
    recorded (records that an earlier partition of the run already holds become
    duplicates)."""
    folder = _folder(data, sha256)
    meta = _read_outcome(folder)
    if meta is None:
        raise StagingError(f"partition {sha256[:12]} is not staged (or its folder is damaged)")
    summary = dict(meta["summary"])
    if summary.pop("commit", True):
        outcome = FileOutcome(**meta["outcome"])
        records = pl.read_parquet(folder / "records.parquet")
        quarantine = pl.read_parquet(folder / "quarantine.parquet")
        failpoints.hit("ingest-before-commit")
        recorded = vault.commit_sealed(outcome, records, quarantine)
        failpoints.hit("ingest-after-commit")
        summary["loaded"], summary["duplicates"] = recorded.loaded, recorded.duplicates
    shutil.rmtree(folder, ignore_errors=True)
    return summary


def sweep(data: Path, keep: set[str]) -> int:
    """Remove every staging folder except finished ones of the partitions in `keep` (files
    still waiting to be committed). Returns how many were removed."""
    root = staging_root(data)
    if not root.exists():
        return 0
    removed = 0
    for folder in root.iterdir():
        if folder.name.endswith(".tmp") or folder.name not in keep:
            shutil.rmtree(folder, ignore_errors=True)
            removed += 1
    return removed

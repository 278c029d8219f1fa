"""The nightly batch's steps: coarse functions that take paths, ids and the run's policy.

The sequence that calls them is `nightly.run_nightly`; the orchestration layer (`flows/`)
runs each as a task. Every argument is a path, an id, a clock or the run's `LoadedPolicy`
(loaded and validated once per run; its digest is what the audit and the release record),
and every return value is a count or a hash, never data, so nothing sensitive can end up
in an orchestrator's database or result storage. Each step opens the stores it needs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from pipeline import failpoints
from pipeline.deid import analyze_texts
from pipeline.governance import retention
from pipeline.intake import partition
from pipeline.intake.ingest import discover, expanded_size, refused
from pipeline.layout import Layout, parse_now
from pipeline.policy import LoadedPolicy, load_policy
from pipeline.run.summary import COMMIT_FAILED, REFUSED, failure
from pipeline.vault.store import Vault
from pipeline.vault.stores import open_stores


def check_policy(policies: Path, now: str | None = None) -> LoadedPolicy:
    """Load and validate the policy folder once for the run and check it is in effect on the
    run's date (raises PolicyError). Every later step receives this object, never the path,
    so one run cannot build under one policy and audit another."""
    lp = load_policy(Path(policies))
    lp.check_in_effect(parse_now(now).date())
    return lp


def describe_policy(lp: LoadedPolicy) -> dict[str, Any]:
    """What the audit records about the run's policy: version, digest, file hashes, approver
    and effective date."""
    md = lp.policy.metadata
    return {"version": lp.version, "digest": lp.digest, "files": lp.files,
            "approved_by": md.approved_by, "effective_date": md.effective_date.isoformat()}


def check_keys(data: Path) -> dict[str, Any]:
    """Open the stores once: fails early on a missing or wrong master key. Makes the data
    folder and its stores private (0700) first."""
    layout = Layout(data)
    layout.make_private()
    with open_stores(layout) as (keys, _):
        kek = keys.provider.kek_id
    failpoints.hit("keys-checked")
    return {"kek_id": kek}


def new_files(raw: Path, data: Path) -> list[tuple[str, str]]:
    """(relative name, sha256) of raw files not ingested yet, in a stable order."""
    layout = Layout(data)
    with open_stores(layout) as (_, vault):
        done = vault.ingested_shas()
    seen: set[str] = set()
    out = []
    for f in discover(raw):
        if f.sha256 not in done and f.sha256 not in seen:  # same bytes twice = one file
            seen.add(f.sha256)
            out.append((f.name, f.sha256))
    return out


def refused_files(raw: Path) -> list[dict[str, str]]:
    """Raw entries that are never read (symbolic links, devices, unsafe names), to report."""
    return [{"file": name, **failure(REFUSED, why)} for name, why in refused(Path(raw))]


MIN_FREE_BYTES = 200 * 1024 * 1024  # never start with less than this free in the data folder
SPACE_FACTOR = 4  # room for the raw input several times over: vault, WAL, release, temp


class StorageError(Exception):
    """Not enough room to run safely: stop before writing anything."""


def check_disk(raw: Path, data: Path, names: list[str]) -> dict[str, int]:
    """Refuse to start when the data folder's disk could fill up mid-run."""
    import shutil

    need = MIN_FREE_BYTES + SPACE_FACTOR * sum(expanded_size(Path(raw) / n)
                                               for n in names if (Path(raw) / n).exists())
    Path(data).mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(data).free
    if free < need:
        raise StorageError(f"not enough free disk space for {data}: {free // 2**20} MiB free, "
                           f"{need // 2**20} MiB needed; free space or move the data folder")
    return {"free_bytes": free, "needed_bytes": need}


def ingest_partition(raw: Path, name: str, sha256: str, data: Path, policy: LoadedPolicy,
                     now: str | None = None) -> dict[str, Any]:
    """Stage and commit one raw file in this process (the sequential path). Returns counts."""
    stage_partition(raw, name, sha256, data, policy, now)
    return commit_partition(data, sha256)


def stage_partition(raw: Path, name: str, sha256: str, data: Path, policy: LoadedPolicy,
                    now: str | None = None, deid_workers: int | None = None) -> dict[str, Any]:
    """Parse, validate, de-identify and seal one raw file into a staged partition (reads
    the vault only, so partitions can be staged in parallel). `deid_workers=1` analyses
    text in this process: right when the caller already runs one partition per core."""
    from functools import partial

    return partition.stage(Path(raw), name, sha256, Path(data), policy, now,
                           partial(analyze_texts, workers=deid_workers))


def commit_partition(data: Path, sha256: str) -> dict[str, Any]:
    """Move one staged partition into the vault (one transaction). Returns its counts."""
    with Vault(Layout(Path(data)).vault, None) as vault:  # type: ignore[arg-type]
        return partition.commit(vault, Path(data), sha256)


# Checkpoint the vault after this much write-ahead log: often enough to bound the memory
# DuckDB holds for uncheckpointed changes, rarely enough that rewriting the primary-key
# index at each checkpoint does not make committing many partitions quadratic.
CHECKPOINT_WAL_BYTES = 128 * 2**20


def commit_partitions(data: Path, shas: list[str],
                      each: Callable[[dict[str, Any]], None] | None = None
                      ) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """Move staged partitions into the vault in this order, one transaction each, with the
    vault opened once. Returns (counts of each partition committed, failures). A partition
    that fails to commit stays staged and unregistered, so the next run commits it; it
    does not stop the ones after it. `each` is called with every partition's counts."""
    done, failed = [], []
    with Vault(Layout(Path(data)).vault, None) as vault:  # type: ignore[arg-type]
        registered = vault.ingested_shas()
        for sha in shas:
            if sha in registered:  # committed already (a retried call): nothing to do
                continue
            try:
                done.append(partition.commit(vault, Path(data), sha))
                vault.checkpoint_if_over(CHECKPOINT_WAL_BYTES)
            except Exception as exc:  # noqa: BLE001 - reported by type, never by message
                failed.append({"sha256": sha, **failure(COMMIT_FAILED, type(exc).__name__)})
                continue
            if each:
                each(done[-1])
    return done, failed


def sweep_staging(data: Path, keep: set[str]) -> int:
    """Remove staged partitions that will not be committed (already ingested, unfinished, or
    of files no longer waiting). Returns how many folders were removed."""
    return partition.sweep(Path(data), keep)


def enforce_retention(data: Path, policy: LoadedPolicy, now: str | None = None) -> dict[str, int]:
    """Apply the policy's retentions, delete every record past expiry, shred unused keys."""
    with open_stores(Layout(data)) as (_, vault):
        deleted = retention.enforce(vault, policy.policy, parse_now(now))
    failpoints.hit("retention-done")
    return deleted


def registry_totals(data: Path) -> dict[str, int]:
    """All-time line accounting from the ingest registry (committed with the data, so it
    includes files of runs that were killed before writing their audit record)."""
    with open_stores(Layout(data)) as (_, vault):
        return vault.registry_totals()

"""The nightly batch as a few coarse stage functions, each taking paths and ids only.

These are what the orchestration layer (`flows/`) calls as tasks: every argument and every
return value is a path, an id, a count or a hash, never data, so nothing sensitive can end
up in an orchestrator's database or result storage. Each stage opens the stores it needs.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator

from . import audit, failpoints, retention
from .consent import allowed_subjects, latest_profile
from .crypto import load_master_key
from .datasets import sync_datasets
from .deid import analyze_texts
from .ingest import discover
from .intake import INTAKE_DATASET, read_intake
from .keystore import KeyStore
from .policy import LoadedPolicy, load_policy
from .vault import Vault
from .warehouse.analytics import research_tables
from .warehouse.publish import WAREHOUSE_FILE, drop_retained, publish

PUBLISH_GROUP_ENV = "MHPIPE_PUBLISH_GROUP"  # OS group of the researchers (read access)
PUBLISHED = "-published"  # default publish folder: "<data folder>-published" next to it


class LayoutError(ValueError):
    """A publish folder that would expose, or sit inside, the private data folder."""


@dataclass(frozen=True)
class Layout:
    """Where everything the pipeline keeps lives: one private data folder (mode 0700), and
    the publish folder for researchers outside it (default: `<data>-published/` next to it)."""

    root: Path
    publish: Path | None = None

    def __post_init__(self) -> None:
        root, pub = Path(self.root).absolute(), self.warehouse.absolute()
        if pub == root or root in pub.parents or pub in root.parents:
            raise LayoutError(f"the publish folder {self.warehouse} must be outside the data "
                              f"folder {self.root} (and must not contain it): researchers "
                              "read it, the data folder is private")

    @property
    def vault(self) -> Path:
        return self.root / "vault" / "vault.duckdb"

    @property
    def keystore(self) -> Path:
        return self.root / "keys" / "keystore.sqlite"

    @property
    def master_key(self) -> Path:
        return self.root / "keys" / "master.key"

    @property
    def warehouse(self) -> Path:
        """The publish folder: numbered releases and `research.duckdb`."""
        if self.publish is not None:
            return Path(self.publish)
        root = Path(self.root).absolute()
        return root.parent / f"{root.name}{PUBLISHED}"

    @property
    def release(self) -> Path:
        return self.warehouse / WAREHOUSE_FILE

    @property
    def staging(self) -> Path:
        return self.root / "staging"

    @property
    def prefect_home(self) -> Path:
        return self.root / "prefect"

    @property
    def population(self) -> Path:
        """Intake pseudonyms of the research population of the last build (private): when
        someone leaves it, retained releases that still hold them are deleted."""
        return self.vault.parent / "published-population.parquet"

    def private_dirs(self) -> list[Path]:
        return [self.root, self.vault.parent, self.keystore.parent, self.audit_log.parent,
                self.staging, self.prefect_home, self.cache]

    def make_private(self) -> None:
        """Create the data folder and its stores' folders as 0700 and tighten any that exist
        (keys, vault with its quarantine, audit, staging, Prefect home, caches)."""
        for d in self.private_dirs():
            d.mkdir(parents=True, exist_ok=True, mode=0o700)
            os.chmod(d, 0o700)

    @property
    def audit_log(self) -> Path:
        return self.root / "audit" / "audit.jsonl"

    @property
    def cache(self) -> Path:
        return self.root / "cache"


def parse_now(now: str | None) -> datetime:
    if now is None:
        return datetime.now(timezone.utc)
    stamp = datetime.fromisoformat(now)
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=timezone.utc)


KEY_PROVIDER_ENV = "MHPIPE_KEY_PROVIDER"


def key_provider(layout: Layout):
    """The master key: `$MHPIPE_KEY_PROVIDER` ("package.module:factory", a callable returning
    a `crypto.KeyProvider`, e.g. a cloud KMS client) or the local key (environment or file).
    On a brand-new data folder a local master key file is created."""
    spec = os.environ.get(KEY_PROVIDER_ENV)
    if spec:
        import importlib

        module, _, factory = spec.partition(":")
        return getattr(importlib.import_module(module), factory)()
    first_run = not layout.keystore.exists() and not layout.vault.exists()
    return load_master_key(layout.master_key, create=first_run)


@contextmanager
def open_stores(layout: Layout, read_only: bool = False) -> Iterator[tuple[KeyStore, Vault]]:
    """Key store and vault, opened with the configured master key. `read_only` opens the
    vault for reading only, which several processes may do at once (e.g. a report while a
    run stages partitions)."""
    provider = key_provider(layout)
    with KeyStore(layout.keystore, provider) as keys, \
            Vault(layout.vault, keys, read_only=read_only) as vault:
        yield keys, vault


def check_policy(policies: Path) -> dict[str, Any]:
    """Validate the policy folder (raises PolicyError) and return its version and hashes."""
    lp = load_policy(policies)
    return {"version": lp.version, "digest": lp.digest, "files": lp.files}


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


MIN_FREE_BYTES = 200 * 1024 * 1024  # never start with less than this free in the data folder
SPACE_FACTOR = 4  # room for the raw input several times over: vault, WAL, release, temp


class StorageError(Exception):
    """Not enough room to run safely: stop before writing anything."""


def check_disk(raw: Path, data: Path, names: list[str]) -> dict[str, int]:
    """Refuse to start when the data folder's disk could fill up mid-run."""
    import shutil

    need = MIN_FREE_BYTES + SPACE_FACTOR * sum((Path(raw) / n).stat().st_size
                                               for n in names if (Path(raw) / n).exists())
    Path(data).mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(data).free
    if free < need:
        raise StorageError(f"not enough free disk space for {data}: {free // 2**20} MiB free, "
                           f"{need // 2**20} MiB needed; free space or move the data folder")
    return {"free_bytes": free, "needed_bytes": need}


def ingest_partition(
    raw: Path, name: str, sha256: str, data: Path, policies: Path, now: str | None = None
) -> dict[str, Any]:
    """Stage and commit one raw file in this process (the sequential path). Returns counts."""
    stage_partition(raw, name, sha256, data, policies, now)
    return commit_partition(data, sha256)


def stage_partition(raw: Path, name: str, sha256: str, data: Path, policies: Path,
                    now: str | None = None, deid_workers: int | None = None) -> dict[str, Any]:
    """Parse, validate, de-identify and seal one raw file into a staged partition (reads
    the vault only, so partitions can be staged in parallel). `deid_workers=1` analyses
    text in this process: right when the caller already runs one partition per core."""
    from functools import partial

    from . import partition

    return partition.stage(Path(raw), name, sha256, Path(data), Path(policies), now,
                           partial(analyze_texts, workers=deid_workers))


def commit_partition(data: Path, sha256: str) -> dict[str, Any]:
    """Move one staged partition into the vault (one transaction). Returns its counts."""
    from . import partition

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
    from . import partition

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
                failed.append({"sha256": sha, "error": f"commit failed ({type(exc).__name__})"})
                continue
            if each:
                each(done[-1])
    return done, failed


def sweep_staging(data: Path, keep: set[str]) -> int:
    """Remove staged partitions that will not be committed (already ingested, unfinished, or
    of files no longer waiting). Returns how many folders were removed."""
    from . import partition

    return partition.sweep(Path(data), keep)


def enforce_retention(data: Path, policies: Path, now: str | None = None) -> dict[str, int]:
    """Apply the policy's retentions, delete every record past expiry, shred unused keys."""
    policy = load_policy(policies)
    with open_stores(Layout(data)) as (_, vault):
        deleted = retention.enforce(vault, policy.policy, parse_now(now))
    failpoints.hit("retention-done")
    return deleted


OUTPUT_STATE = "outputs-state.json"


def _output_key(vault: Vault, policy: LoadedPolicy, stamp: datetime) -> str:
    """What the outputs depend on: the vault's state, the policy, the code and the day
    (ages and consent windows move with the date)."""
    from .deid import model_name

    eval_file = vault.path.parent.parent / "deid-eval.json"  # figures quoted in `releases`
    eval_digest = (hashlib.sha256(eval_file.read_bytes()).hexdigest()
                   if eval_file.exists() else "-")
    parts = [vault.fingerprint(), policy.digest, code_version(), stamp.date().isoformat(),
             model_name(), eval_digest]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()


def build_outputs(data: Path, policies: Path, now: str | None = None,
                  publish_dir: Path | None = None) -> dict[str, Any]:
    """Consent ledger -> individual-level datasets -> research warehouse.

    Streams the vault: the aggregates read every event except messages (decrypted a batch
    at a time, messages skipped before parsing), and the transcript datasets decrypt only
    messages they do not hold yet. When nothing the outputs depend on changed since the
    last build (vault state, policy, code, day), the build is skipped. Releases go to
    `publish_dir` (default: `<data>-published/` next to the data folder)."""
    layout = Layout(data, publish_dir)
    layout.make_private()
    policy: LoadedPolicy = load_policy(policies)
    stamp = parse_now(now)
    state_file = layout.vault.parent / OUTPUT_STATE
    with open_stores(layout) as (keys, vault):
        key = _output_key(vault, policy, stamp)
        try:
            prev = json.loads(state_file.read_text())
        except (FileNotFoundError, ValueError):
            prev = None
        if (prev and prev.get("key") == key and layout.release.exists()
                and prev.get("warehouse") == str(layout.warehouse.absolute())):
            return {**prev["outputs"], "datasets": [], "warehouse_changed": False,
                    "skipped": True}
        frames = read_intake(vault, messages=False)
        subjects = vault.subjects(INTAKE_DATASET)
        birth_years = latest_profile(frames["profile"]).select("subject", "birth_year").drop_nulls()
        allowed = allowed_subjects(frames["consent"], birth_years, subjects, policy.policy, stamp)
        synced = sync_datasets(frames, allowed, vault, keys, policy, stamp, subjects)
        key = _output_key(vault, policy, stamp)
    failpoints.hit("before-publish")
    pub = policy.policy.publication
    research = allowed.get("research", set())
    tables = research_tables(frames, research, pub)
    meta = release_meta(layout, policy, len(subjects), len(research),
                        sum(t.suppressed_cells for t in tables), pub)
    _, digests, release_id, changed = publish(layout.warehouse, tables, meta, pub,
                                              os.environ.get(PUBLISH_GROUP_ENV) or None)
    dropped = _track_population(layout, research)
    outputs = {
        "subjects": len(subjects),
        "allowed": {p: len(s) for p, s in sorted(allowed.items())},
        "tables": digests,
        "release_id": release_id,
    }
    tmp = state_file.with_suffix(".tmp")
    tmp.write_text(json.dumps({"key": key, "outputs": outputs,
                               "warehouse": str(layout.warehouse.absolute())}, sort_keys=True))
    os.chmod(tmp, 0o600)
    os.replace(tmp, state_file)
    return {**outputs, "datasets": [s.__dict__ for s in synced], "warehouse_changed": changed,
            "skipped": False, "retained_releases_deleted": dropped}


def _track_population(layout: Layout, research: set[str]) -> int:
    """Delete retained releases when anyone left the research population since the last
    build (erasure, withdrawal, expiry): those releases still hold them. Then record the
    current population (intake pseudonyms, private file). Returns releases deleted."""
    import polars as pl

    path = layout.population
    before = set(pl.read_parquet(path)["subject"].to_list()) if path.exists() else set()
    dropped = drop_retained(layout.warehouse) if before - research else 0
    tmp = path.with_suffix(".tmp")
    pl.DataFrame({"subject": sorted(research)}, schema={"subject": pl.String}).write_parquet(tmp)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    return dropped


def code_version() -> str:
    """The package version and a digest of the library's source files."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        v = version("mhpipe")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        v = "0+source"
    h = hashlib.sha256()
    root = Path(__file__).parent
    for f in sorted(root.rglob("*.py")) + sorted(root.rglob("*.yaml")):
        h.update(str(f.relative_to(root)).encode() + f.read_bytes())
    return f"{v}+{h.hexdigest()[:12]}"


def release_meta(layout: Layout, policy: LoadedPolicy, people: int, research: int,
                 suppressed: int, pub) -> dict[str, Any]:
    """What the `releases` table says about a release (counts disclosure-controlled)."""
    from .deid import model_name
    from .warehouse.disclosure_control import publish_count

    figures: dict[str, Any] = {}
    eval_file = layout.root / "deid-eval.json"
    if eval_file.exists():
        try:
            r = json.loads(eval_file.read_text())
            figures = {
                "deid_recall_synthetic": r.get("synthetic", {}).get("micro", {}).get("recall_any"),
                "deid_recall_wnut_person": r.get("wnut17_dev", {}).get("entities", {}).get("PERSON", {}).get("recall_any"),
                "deid_recall_wnut_location": r.get("wnut17_dev", {}).get("entities", {}).get("LOCATION", {}).get("recall_any"),
                "deid_over_redaction": r.get("counsel_chat", {}).get("over_redaction"),
            }
        except (ValueError, AttributeError):
            figures = {}
    return {
        "policy_version": policy.version, "policy_digest": policy.digest,
        "code_version": code_version(),
        "input_people": publish_count(people, pub.suppression_threshold, pub.rounding_base),
        "research_people": publish_count(research, pub.suppression_threshold, pub.rounding_base),
        "suppressed_cells": suppressed,
        "deid_model": model_name(),
        **{k: (float(v) if v is not None else None) for k, v in {
            "deid_recall_synthetic": None, "deid_recall_wnut_person": None,
            "deid_recall_wnut_location": None, "deid_over_redaction": None, **figures}.items()},
    }


def write_audit(data: Path, kind: str, payload: dict[str, Any]) -> str:
    failpoints.hit("before-audit")
    digest = audit.append(Layout(data).audit_log, kind, payload)["hash"]
    failpoints.hit("after-audit")
    return digest


def registry_totals(data: Path) -> dict[str, int]:
    """All-time line accounting from the ingest registry (committed with the data, so it
    includes files of runs that were killed before writing their audit record)."""
    with open_stores(Layout(data)) as (_, vault):
        return vault.registry_totals()


def record_policy_change(data: Path, policy: dict[str, Any]) -> bool:
    """Append a `policy-change` audit record when the policy digest differs from the one the
    last run recorded (the first run records the initial policy)."""
    log = Layout(data).audit_log
    last = next((r for r in reversed(audit.read(log)) if "policy_digest" in r["payload"]), None)
    if last is not None and last["payload"]["policy_digest"] == policy["digest"]:
        return False
    audit.append(log, "policy-change", {
        "previous_version": last["payload"].get("policy_version") if last else None,
        "previous_digest": last["payload"]["policy_digest"] if last else None,
        "policy_version": policy["version"], "policy_digest": policy["digest"],
        "policy_files": policy["files"]})
    return True


def summarise_ingest(parts: list[dict[str, Any]]) -> dict[str, Any]:
    total: Counter[str] = Counter()
    entities: Counter[str] = Counter()
    rules: Counter[str] = Counter()
    failed = []
    for p in parts:
        for k in ("lines_read", "loaded", "duplicates", "quarantined", "excluded", "messages",
                  "messages_withheld"):
            total[k] += p[k]
        entities.update(p["entities"])
        rules.update(p["quarantine_rules"])
        if p["file_error"]:
            failed.append({"file": p["file"], "error": p["file_error"]})
    out: dict[str, Any] = {k: total[k] for k in
                           ("lines_read", "loaded", "duplicates", "quarantined", "excluded",
                            "messages", "messages_withheld")}
    out["files"] = len(parts)
    out["files_failed"] = failed
    out["balanced"] = out["lines_read"] == (out["loaded"] + out["duplicates"]
                                           + out["quarantined"] + out["excluded"])
    out["entities"] = dict(sorted(entities.items()))
    out["quarantine_rules"] = dict(rules.most_common())
    return out


class Timer:
    def __init__(self) -> None:
        self.times: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        t = time.perf_counter()
        try:
            yield
        finally:
            self.times[name] = round(time.perf_counter() - t, 3)

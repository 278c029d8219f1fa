"""Where the pipeline keeps things: the data folder's `Layout` (every path, spelled once) and
the run's clock. Every layer reads it; it imports nothing of the pipeline."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path


PUBLISH_GROUP_ENV = "MHPIPE_PUBLISH_GROUP"  # OS group of the researchers (read access)
PUBLISHED = "-published"  # default publish folder: "<data folder>-published" next to it
WAREHOUSE_FILE = "research.duckdb"  # the current release in the publish folder


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
    def orchestrator_home(self) -> Path:
        """The orchestrator's own database and settings (private: it records run names)."""
        return self.root / "orchestrator"

    @property
    def run_lock(self) -> Path:
        """Held (flock) by the run, erasure, export and rotation: one at a time."""
        return self.root / ".run.lock"

    @property
    def outputs_state(self) -> Path:
        """What the last output build depended on, to skip a build that would change nothing."""
        return self.vault.parent / "outputs-state.json"

    @property
    def deid_eval(self) -> Path:
        """`mhpipe deid-eval`'s figures, quoted in the `releases` table when present."""
        return self.root / "deid-eval.json"

    @property
    def population(self) -> Path:
        """Intake pseudonyms of the research population of the last build (private): when
        someone leaves it, retained releases that still hold them are deleted."""
        return self.vault.parent / "published-population.parquet"

    def private_dirs(self) -> list[Path]:
        return [self.root, self.vault.parent, self.keystore.parent, self.audit_log.parent,
                self.staging, self.orchestrator_home, self.cache]

    def make_private(self) -> None:
        """Create the data folder and its stores' folders as 0700 and tighten any that exist
        (keys, vault with its quarantine, audit, staging, orchestrator home, caches)."""
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

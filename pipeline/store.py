"""Where the pipeline keeps things and how its stores are opened: the shared layer every
stage reads (the data folder's `Layout`, the clock, the master key, `open_stores`)."""

from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

from .crypto import load_master_key
from .keystore import KeyStore
from .vault import Vault


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

"""Opening the stores: the master key (local or a key provider) and the key store and vault
it unlocks."""

from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Iterator

from pipeline.layout import Layout
from pipeline.vault.crypto import load_master_key
from pipeline.vault.keystore import KeyStore
from pipeline.vault.store import Vault

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

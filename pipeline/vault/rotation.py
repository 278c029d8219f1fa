"""Master-key rotation: every wrapped key moves to a new master key (KEK); no record is
re-encrypted. Resumable: the new key is written first (`master.key.new`, 0600), keys move in
committed batches, and only when none is left under the old key does the new key file
replace the old one. A killed rotation is resumed by running it again."""

from __future__ import annotations

import base64
import os
from pathlib import Path

from pipeline.vault.crypto import (MASTER_KEY_ENV, CryptoError, LocalKeyProvider, decode_master_key,
                     load_master_key, new_key)
from pipeline.vault.keystore import KeyStore


def pending_key_file(master_key: Path) -> Path:
    return master_key.with_name(master_key.name + ".new")


def _write_key(path: Path, key: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(base64.b64encode(key).decode() + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def rotate(keystore: Path, master_key: Path, new_key_file: Path | None = None,
           stop_after: int | None = None) -> dict:
    """Rotate to a new master key. With the key in $MHPIPE_MASTER_KEY, `new_key_file` must
    hold the new one (the caller then updates the environment); with a key file, a new key
    is generated (or taken from `new_key_file`) and replaces the file at the end."""
    current = load_master_key(master_key)
    pending = pending_key_file(master_key)
    if pending.exists():
        new = LocalKeyProvider(decode_master_key(pending.read_text(), str(pending)))
        resumed = True
    else:
        resumed = False
        if new_key_file is not None:
            key = decode_master_key(new_key_file.read_text(), str(new_key_file))
        elif os.environ.get(MASTER_KEY_ENV):
            raise CryptoError(f"the master key comes from ${MASTER_KEY_ENV}: give the new one "
                              "with --new-key-file (base64 of 32 bytes, mode 0600)")
        else:
            key = new_key()
        new = LocalKeyProvider(key)
        if new.kek_id == current.kek_id:
            raise CryptoError("the new master key is the same as the current one")
        if not os.environ.get(MASTER_KEY_ENV):
            _write_key(pending, key)  # first, so a kill can never lose the new key
    with KeyStore(keystore, new, previous=current) as ks:
        moved = ks.rotate(stop_after=stop_after)
        left = ks.kek_ids() - {new.kek_id}
    if left:
        return {"finished": False, "keys_rewrapped": moved, "resumed": resumed}
    if pending.exists():
        os.replace(pending, master_key)  # the old key is gone from disk
    return {"finished": True, "keys_rewrapped": moved, "resumed": resumed,
            "old_kek_id": current.kek_id, "new_kek_id": new.kek_id}

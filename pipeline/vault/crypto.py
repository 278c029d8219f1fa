"""Authenticated encryption and the master key (KEK) provider.

Envelope encryption: records are sealed with AES-256-GCM under a data key (DEK); DEKs are
stored only wrapped (AES-256-GCM) by the master key. The master key comes from a
`KeyProvider`; the local one reads `MHPIPE_MASTER_KEY` (base64 of 32 bytes) or a key file
with mode 0600. A KMS-backed provider only has to implement `wrap`/`unwrap`/`kek_id`.

No function here ever puts key material or plaintext into an exception message.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import stat
from pathlib import Path
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_BYTES = 32  # AES-256
NONCE_BYTES = 12  # 96-bit GCM nonce, random per encryption
MASTER_KEY_ENV = "MHPIPE_MASTER_KEY"
_WRAP_AAD = b"mhpipe/dek-wrap/v1|"
PAD_MIN = 256  # sealed JSON is padded to 256, 512, 1024, ... bytes: lengths hide event types


def pad_json(plaintext: bytes) -> bytes:
    """JSON padded with spaces (which JSON ignores) to the next power of two, at least
    PAD_MIN bytes, so that a ciphertext's length does not tell a risk flag from a consent
    event, or one message from another of similar length."""
    size = PAD_MIN
    while size < len(plaintext):
        size *= 2
    return plaintext + b" " * (size - len(plaintext))


class CryptoError(Exception):
    """A key is missing, malformed or wrong, or a ciphertext failed authentication."""


def new_key() -> bytes:
    return AESGCM.generate_key(bit_length=KEY_BYTES * 8)


def seal(key: bytes, plaintext: bytes, aad: bytes) -> tuple[bytes, bytes]:
    """Encrypt; returns (nonce, ciphertext-with-tag). `aad` binds the ciphertext to its row."""
    nonce = os.urandom(NONCE_BYTES)
    return nonce, AESGCM(key).encrypt(nonce, plaintext, aad)


def open_sealed(key: bytes, nonce: bytes, ciphertext: bytes, aad: bytes) -> bytes:
    try:
        return AESGCM(key).decrypt(nonce, ciphertext, aad)
    except InvalidTag:
        raise CryptoError("ciphertext failed authentication (wrong key or moved row)") from None


class KeyProvider(Protocol):
    """What callers need from a master key: wrap and unwrap data keys."""

    @property
    def kek_id(self) -> str: ...

    def wrap(self, dek: bytes, context: str) -> bytes: ...

    def unwrap(self, wrapped: bytes, context: str) -> bytes: ...


class LocalKeyProvider:
    """A master key held in this process (from the environment or a 0600 key file)."""

    def __init__(self, master_key: bytes):
        if len(master_key) != KEY_BYTES:
            raise CryptoError(f"the master key must be {KEY_BYTES} bytes")
        self._key = master_key
        # A fingerprint, not the key: lets the key store say which KEK wrapped a DEK.
        self._kek_id = hashlib.sha256(b"mhpipe/kek-id|" + master_key).hexdigest()[:16]

    def __repr__(self) -> str:  # never show the key
        return f"LocalKeyProvider(kek_id={self._kek_id})"

    @property
    def kek_id(self) -> str:
        return self._kek_id

    def wrap(self, dek: bytes, context: str) -> bytes:
        nonce, ct = seal(self._key, dek, _WRAP_AAD + context.encode())
        return nonce + ct

    def unwrap(self, wrapped: bytes, context: str) -> bytes:
        try:
            return open_sealed(
                self._key, wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], _WRAP_AAD + context.encode()
            )
        except CryptoError:
            raise CryptoError(
                "a data key could not be unwrapped: the master key is not the one that wrapped it"
            ) from None


def decode_master_key(text: str, source: str) -> bytes:
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise CryptoError(f"the master key in {source} is not valid base64") from None
    if len(key) != KEY_BYTES:
        raise CryptoError(f"the master key in {source} must decode to {KEY_BYTES} bytes")
    return key


def load_master_key(key_file: Path, *, create: bool = False) -> LocalKeyProvider:
    """The master key from $MHPIPE_MASTER_KEY, else from `key_file` (must be mode 0600).

    With `create=True` and neither present, a new key file is written (0600) and used: that is
    for a first local run only; production deployments inject the key or use a KMS provider.
    """
    env = os.environ.get(MASTER_KEY_ENV)
    if env:
        return LocalKeyProvider(decode_master_key(env, f"${MASTER_KEY_ENV}"))
    if key_file.exists():
        mode = stat.S_IMODE(key_file.stat().st_mode)
        if mode & 0o077:
            raise CryptoError(
                f"the master key file {key_file} is readable by others (mode {mode:o}); "
                "run: chmod 600 on it"
            )
        return LocalKeyProvider(decode_master_key(key_file.read_text(), str(key_file)))
    if not create:
        raise CryptoError(
            f"no master key: set ${MASTER_KEY_ENV} (base64 of {KEY_BYTES} bytes) "
            f"or provide the key file {key_file}"
        )
    key = new_key()
    key_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(base64.b64encode(key).decode() + "\n")
    return LocalKeyProvider(key)

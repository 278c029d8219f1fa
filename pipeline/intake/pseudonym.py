"""Keyed pseudonyms (HMAC-SHA256) for direct identifiers in structured fields.

Each purpose has its own secret key (kept wrapped in the key store), so pseudonyms of two
purposes cannot be joined without both keys. A pseudonym is the first 128 bits of the HMAC
in hex: collision-free in practice, and not reversible without the key.
"""

from __future__ import annotations

import hashlib
import hmac

PSEUDONYM_HEX_CHARS = 32  # 128 bits


def secret_name(purpose: str) -> str:
    return f"pseudonym/{purpose}"


def pseudonymise(key: bytes, kind: str, value: str) -> str:
    """`kind` separates namespaces (user, session, event) under one key."""
    mac = hmac.new(key, f"{kind}\x1f{value}".encode(), hashlib.sha256)
    return mac.hexdigest()[:PSEUDONYM_HEX_CHARS]

"""Expiry dates kept in clear, made unlinkable: per-dataset keyed buckets, rounded down.

Retention runs without decrypting anything, so each vault record carries its expiry in
clear. The exact expiry (event time + retention) would give away the event's real time
(undoing a dataset's date shift) and, being the same event in the intake and in a purpose's
dataset, would join the two pseudonyms. So the clear expiry is the exact one rounded *down*
to a bucket whose width grows with the retention (a tenth of it, 1-30 days), on a grid
shifted per dataset by a keyed offset: two datasets' expiries never line up, and nobody
without the key store can tell where a bucket starts. Rounding down means a record is
deleted up to one bucket early, never late.

The clear expiry is also *authenticated*: each row carries a tag, a keyed MAC over its
record id, dataset, subject and expiry (`expiry_tag`, key in the key store). Retention checks
every tag before it deletes anything; a row whose expiry was edited (to keep it past its
retention) fails the check and is deleted at once (fail closed).
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime, timezone

MAX_BUCKET_DAYS = 30
DAY = 86_400


def bucket_days(retention_days: int) -> int:
    """Bucket width: a tenth of the retention, between 1 and 30 days."""
    return max(1, min(MAX_BUCKET_DAYS, retention_days // 10))


def _offset(secret: bytes, dataset: str, width: int) -> int:
    digest = hmac.new(secret, f"mhpipe/expiry-grid/v1|{dataset}".encode(), hashlib.sha256).digest()
    return int.from_bytes(digest[:8], "big") % width


def clear_expiry(exact: datetime, dataset: str, retention_days: int, secret: bytes) -> datetime:
    """The expiry stored in clear: `exact` rounded down on the dataset's keyed grid."""
    width = bucket_days(retention_days) * DAY
    offset = _offset(secret, dataset, width)
    t = int(exact.timestamp())
    return datetime.fromtimestamp(((t - offset) // width) * width + offset, tz=timezone.utc)


EXPIRY_SECRET = "expiry-tag"  # name of the key-store secret that authenticates expiries


def expiry_tag(secret: bytes, record_id: str, dataset: str, subject: str,
               expires_at: datetime) -> str:
    """MAC binding a row's clear expiry to the row (hex, 128 bits)."""
    msg = f"mhpipe/expiry/v1|{record_id}|{dataset}|{subject}|{int(expires_at.timestamp())}"
    return hmac.new(secret, msg.encode(), hashlib.sha256).hexdigest()[:32]

"""Clear expiries: rounded down on a keyed, per-dataset grid (pipeline/vault/expiry.py)."""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone

from hypothesis import given, strategies as st

from pipeline.vault.expiry import MAX_BUCKET_DAYS, bucket_days, clear_expiry
from pipeline.layout import Layout
from tests.conftest import POLICY

SECRET = os.urandom(32)
T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


@given(st.integers(0, 10 * 365 * 86400), st.integers(1, 3650))
def test_never_later_and_at_most_one_bucket_earlier(seconds, retention):
    exact = T0 + timedelta(seconds=seconds)
    clear = clear_expiry(exact, "qi", retention, SECRET)
    assert clear <= exact < clear + timedelta(days=bucket_days(retention))


def test_bucket_widths():
    assert bucket_days(5) == 1 and bucket_days(90) == 9 and bucket_days(730) == MAX_BUCKET_DAYS


def test_two_datasets_expiries_do_not_join():
    """The same event in the intake (730 days) and in a dataset (also 730 days, another key
    and name): their clear expiries are on different grids, so equal values are chance."""
    other = os.urandom(32)
    same = 0
    for hour in range(0, 24 * 365, 7):
        when = T0 + timedelta(hours=hour)
        same += clear_expiry(when, "intake", 730, SECRET) == clear_expiry(when, "safety", 730, other)
    assert same < 0.1 * (24 * 365 // 7)


def test_the_grid_depends_on_the_key():
    when = T0 + timedelta(days=100, hours=5)
    grids = {clear_expiry(when, "qi", 730, os.urandom(32)) for _ in range(20)}
    assert len(grids) > 5  # without the key store, bucket edges cannot be known


def test_an_edited_expiry_is_caught_and_the_record_deleted(tmp_path, sample_raw):
    """Someone with the vault file moves expiries far into the future to keep records past
    their retention: the next retention run finds the broken tags and deletes those rows."""
    import duckdb

    from pipeline.run import stages
    from tests.conftest import NOW
    from tests.synthetic import run_batch

    data = tmp_path / "data"
    run_batch(sample_raw, data)
    layout = Layout(data)
    con = duckdb.connect(str(layout.vault))
    try:
        victims = [r[0] for r in con.execute(
            "SELECT record_id FROM records WHERE dataset = 'intake' LIMIT 3").fetchall()]
        con.execute("UPDATE records SET expires_at = expires_at + INTERVAL 3000 DAY "
                    "WHERE record_id IN (SELECT unnest(?))", [victims])
    finally:
        con.close()
    deleted = stages.enforce_retention(data, POLICY, NOW)
    assert deleted.get("expiry edited (deleted)") == 3
    con = duckdb.connect(str(layout.vault), read_only=True)
    try:
        left = con.execute("SELECT count(*) FROM records WHERE record_id IN (SELECT unnest(?))",
                           [victims]).fetchall()[0][0]
    finally:
        con.close()
    assert left == 0
    assert stages.enforce_retention(data, POLICY, NOW) == {}  # the untouched rows all pass

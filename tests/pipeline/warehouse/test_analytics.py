"""The people and groups every research table is built from."""

from __future__ import annotations

from datetime import datetime, timezone

import polars as pl

from pipeline.warehouse.tables import user_groups
from pipeline.warehouse.labels import CROSS_DIMENSIONS, allowed, check_labels

T = datetime(2026, 9, 1, tzinfo=timezone.utc)


def test_user_groups_give_one_way_and_two_way_labels_from_the_vocabularies():
    sessions = pl.DataFrame(
        {"subject": ["a", "a", "b"], "session_id": ["s1", "s2", "s3"],
         "occurred_at": [T, T.replace(day=2), T], "channel": ["sms", "app", None],
         "model_version": ["m-1", "m-2", "free text, not a version!"]})
    profile = pl.DataFrame(
        {"subject": ["a", "b"], "occurred_at": [T, T], "birth_year": [1990, None],
         "gender": ["Woman", None], "ethnicity": ["Pakistani", "white"], "postcode": [None, None],
         "language": [None, None], "deprivation_decile": [2, 9]})
    g = {r["subject"]: r for r in user_groups({"session_started": sessions, "profile": profile})
         .iter_rows(named=True)}
    assert g["a"]["sessions"] == 2 and g["a"]["channel"] == "sms"  # first session's channel
    assert g["a"]["ethnicity x age_band"] == "Asian or Asian British / 35-44"
    assert g["a"]["deprivation_quintile x gender"] == "1 / female"
    assert g["b"]["ethnicity x gender"] == "White / not stated"
    assert g["b"]["model_version"] == "other"
    for d in CROSS_DIMENSIONS:
        assert all(allowed(d, v) for v in (g["a"][d], g["b"][d]))
    assert check_labels(pl.DataFrame({"dimension": ["ethnicity x gender"],
                                      "grp": ["White / typed by someone"]}))

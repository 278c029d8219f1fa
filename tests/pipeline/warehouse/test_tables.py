"""The shapes research tables share: each person's generalised groups and the long-format
aggregation per period, dimension and group (only periods the cutoff has closed)."""

from __future__ import annotations

from datetime import datetime, timezone

import polars as pl

from pipeline.warehouse import disclosure_control as dc
from pipeline.warehouse.tables import long_table, people, percentile, user_groups
from tests.pipeline.warehouse.spec.tables import frames, profile, session


def test_user_groups_generalises_each_person_once_from_their_first_session():
    f = frames([session("u1", "2026-09-07 10:00", model="m-2"), session("u1", "2026-09-01 09:00"),
                profile("u1", birth_year=1990, gender="woman"), session("u2", "2026-09-02 09:00")])
    users = user_groups(f).sort("subject")
    assert users["subject"].to_list() == ["u1", "u2"]
    u1 = users.row(0, named=True)
    assert (u1["sessions"], u1["model_version"], u1["overall"]) == (2, "m-1", "all")
    assert u1["age_band"] == "35-44" and u1["gender"] == "female"
    assert users.row(1, named=True)["age_band"] == "not stated"  # no profile: never a guess


def test_long_table_aggregates_every_dimension_for_closed_periods_only():
    rows = pl.DataFrame({"subject": ["a", "b", "b", "c"], "period": ["2026-Q3"] * 3 + ["2026-Q4"],
                         "overall": ["all"] * 4, "gender": ["female", "male", "male", "male"],
                         "score": [1.0, 3.0, 5.0, 7.0], "hit": [True, False, True, True]})
    stats = {"hits": (people("hit"), None)}
    extra = percentile("score", 0.5, "median_score")
    values, contributors = long_table(rows, stats, extra, {"period": pl.String, "dimension": pl.String,
                                                           "grp": pl.String, "hits": pl.Int64},
                                      dims=("overall", "gender"),
                                      cutoff=datetime(2026, 10, 1, tzinfo=timezone.utc))
    got = {(r["dimension"], r["grp"]): r["hits"] for r in values.iter_rows(named=True)}
    assert got == {("overall", "all"): 2, ("gender", "female"): 1, ("gender", "male"): 1}
    people_behind = {(r["dimension"], r["grp"]): r[dc.ROW] for r in contributors.iter_rows(named=True)}
    assert people_behind[("overall", "all")] == 2  # a and b; c is in an open quarter
    assert {"median_score" + dc.BELOW, "median_score" + dc.ABOVE} <= set(contributors.columns)

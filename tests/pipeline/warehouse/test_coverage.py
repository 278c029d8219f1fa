"""consent_coverage: who is missing and why, with shares that never read 1.0 by rounding."""

from __future__ import annotations

import polars as pl

from pipeline.governance.consent import REASONS
from pipeline.policy import load_policy
from pipeline.warehouse import disclosure_control as dc
from pipeline.warehouse.coverage import consent_coverage
from tests.conftest import POLICIES

PUB = load_policy(POLICIES).policy.publication


def users(reasons: list[str | None], gender: str = "female") -> tuple[pl.DataFrame, pl.DataFrame]:
    subjects = [f"p{i}" for i in range(len(reasons))]
    groups = pl.DataFrame({"subject": subjects, "overall": "all", "gender": gender,
                           **{d: "not stated" for d in ("age_band", "ethnicity",
                                                        "deprivation_quintile", "region")},
                           "language": "English", "channel": "app", "model_version": "m1"})
    return groups, pl.DataFrame({"subject": subjects, "reason": reasons},
                                schema={"subject": pl.String, "reason": pl.String})


def overall(t) -> dict:
    return t.frame.filter(pl.col("dimension") == "overall").row(0, named=True)


def test_reasons_are_counted_and_add_up():
    g, r = users([None] * 600 + ["not_consented"] * 200 + ["withdrawn"] * 120
                 + ["version_not_accepted"] * 60 + ["under_minimum_age"] * 20)
    row = overall(consent_coverage(g, r, PUB))
    assert (row["users"], row["research_users"]) == (1000, 600)
    assert [row[x] for x in REASONS] == [20, 120, 60, 200]
    assert row["research_share"] == 0.6 and row["not_consented_share"] == 0.2
    assert row["research_share_lo"] <= 0.57 and row["research_share_hi"] >= 0.63


def test_a_share_of_1998_in_2000_reads_as_its_rounded_counts():
    """Both counts round to 2,000, so the share reads 1.0: telling it apart from an exact
    1.0 would undo the rounding for the two people it hides (see the module)."""
    g, r = users([None] * 1998 + ["withdrawn"] * 2)
    row = overall(consent_coverage(g, r, PUB))
    assert row["users"] == 2000 and row["research_users"] == 2000
    assert row["research_share"] == 1.0 and row["research_share_lo"] < 1.0
    assert row["withdrawn"] is None and row["withdrawn_share"] is None  # 2 people: suppressed


def test_shares_come_from_the_released_counts_only():
    """Shares from exact counts, read with the rounded counts, pinned a suppressed reason
    down (review of issue 16): every share is the released numerator over the released
    denominator, its interval the Wilson interval of those."""
    g, r = users([None] * 498 + ["under_minimum_age"] * 2 + ["withdrawn"] * 26
                 + ["version_not_accepted"] * 10 + ["not_consented"] * 61)
    row = overall(consent_coverage(g, r, PUB))
    assert row["under_minimum_age"] is None and row["under_minimum_age_share"] is None
    for share, col in (("research_share", "research_users"), ("withdrawn_share", "withdrawn"),
                       ("not_consented_share", "not_consented")):
        assert row[share] == round(row[col] / row["users"], 3), share
        lo, hi = dc.wilson_bounds(row[col], row["users"])
        assert (row[f"{share}_lo"], row[f"{share}_hi"]) == (round(lo, 3), round(hi, 3))


def test_a_share_beside_a_suppressed_count_is_not_published():
    """8 research users among 12: the count is a group under k, so the share that would
    give it away goes too."""
    g, r = users([None] * 8 + ["not_consented"] * 4)
    t = consent_coverage(g, r, PUB)
    row = overall(t)
    assert row["research_users"] is None and row["research_share"] is None
    assert dc.check(t.frame, t.contributors, t.spec, PUB) == []
    forged = t.frame.with_columns(research_share=pl.lit(0.5))
    assert any("a rate on a suppressed count" in p
               for p in dc.check(forged, t.contributors, t.spec, PUB))

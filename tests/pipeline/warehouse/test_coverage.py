"""consent_coverage: who is missing and why, with shares that never read 1.0 by rounding."""

from __future__ import annotations

import polars as pl
import pytest

from pipeline.consent import REASONS
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


def test_a_share_of_1998_in_2000_is_not_published_as_1():
    """Both counts round to 2,000: the old share read 1.0. From exact counts it is 0.999,
    released on a 0.01 step but never as 1 unless exact."""
    g, r = users([None] * 1998 + ["withdrawn"] * 2)
    row = overall(consent_coverage(g, r, PUB))
    assert row["users"] == 2000 and row["research_users"] == 2000
    assert row["research_share"] == 0.99 and row["research_share_hi"] == 1.0
    assert row["withdrawn"] is None and row["withdrawn_share"] is None  # 2 people: suppressed
    g, r = users([None] * 2000)
    row = overall(consent_coverage(g, r, PUB))
    assert row["research_share"] == 1.0 and row["withdrawn_share"] == 0.0  # exact, 20+ people


@pytest.mark.parametrize("people,step", [(1000, 0.01), (250, 0.02), (100, 0.05), (50, 0.1),
                                         (25, 0.2), (12, 0.5)])
def test_a_share_is_released_on_a_step_worth_the_rounding_base(people, step):
    value = 1 / 3
    out = dc.round_share(value, people, PUB)
    assert out == pytest.approx(round(round(value / step) * step, 2))
    assert dc.round_share(value, people, PUB, bound="lo") <= value <= \
        dc.round_share(value, people, PUB, bound="hi")


def test_exact_zero_or_one_needs_the_all_or_none_denominator():
    assert dc.round_share(1.0, 19, PUB) is None and dc.round_share(1.0, 20, PUB) == 1.0
    # 30 people: a step of 0.2 (6 people); one step inside, never 1 or 0 unless exact
    assert dc.round_share(0.999, 30, PUB) == 0.8
    assert dc.round_share(0.001, 30, PUB) == 0.2


def test_a_share_beside_a_suppressed_count_is_not_published():
    """8 research users among 12: the count is a group under k, so the share (0.67) that
    would give it away goes too."""
    g, r = users([None] * 8 + ["not_consented"] * 4)
    t = consent_coverage(g, r, PUB)
    row = overall(t)
    assert row["research_users"] is None and row["research_share"] is None
    assert dc.check(t.frame, t.contributors, t.spec, PUB) == []
    forged = t.frame.with_columns(research_share=pl.lit(0.5))
    assert any("beside a suppressed count" in p
               for p in dc.check(forged, t.contributors, t.spec, PUB))

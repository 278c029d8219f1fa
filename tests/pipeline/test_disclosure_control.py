from __future__ import annotations

import polars as pl
import pytest
from hypothesis import given, strategies as st

from pipeline.disclosure_control import (ROUNDING_BASE, SUPPRESSION_THRESHOLD, publish_count,
                                         released_rate)


@pytest.mark.parametrize("raw,released", [(0, 0), (1, None), (7, None), (8, 10), (12, 10),
                                          (13, 15), (100, 100)])
def test_suppress_then_round(raw, released):
    assert publish_count(raw) == released


@given(st.integers(min_value=0, max_value=10**9))
def test_released_counts_never_reveal_small_numbers(n):
    out = publish_count(n)
    if 1 <= n <= SUPPRESSION_THRESHOLD:
        assert out is None
    else:
        assert out % ROUNDING_BASE == 0 and abs(out - n) <= ROUNDING_BASE // 2


def test_rates_are_suppressed_with_their_counts():
    f = pl.DataFrame({"n": [5, None, 10], "d": [10, 10, None]})
    rate = f.select(released_rate(pl.col("n"), pl.col("d")).alias("r"))["r"]
    assert rate.to_list() == [0.5, None, None]

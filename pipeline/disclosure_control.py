"""Statistical disclosure control for published aggregates.

Reference practice (OpenSAFELY, NHS Digital): counts of 1..7 are suppressed, every other
count is rounded to the nearest 5; rates are computed from the published (rounded) counts
and suppressed with them. The policy's `publication` section may raise these values.
"""

from __future__ import annotations

import polars as pl

SUPPRESSION_THRESHOLD = 7  # counts 1..7 are suppressed
ROUNDING_BASE = 5  # other counts are rounded to the nearest multiple of this


def round_half_up(value: int, base: int) -> int:
    return ((value + base // 2) // base) * base


def publish_count(
    value: int, threshold: int = SUPPRESSION_THRESHOLD, base: int = ROUNDING_BASE
) -> int | None:
    """The count as released: 0 stays 0, 1..threshold -> None (suppressed), else rounded."""
    if value < 0:
        raise ValueError("counts are never negative")
    if value == 0:
        return 0
    if value <= threshold:
        return None
    return round_half_up(value, base)


def released_rate(numerator: pl.Expr, denominator: pl.Expr) -> pl.Expr:
    """A rate from released counts; NULL whenever either count is suppressed or 0 below."""
    return (
        pl.when(denominator.is_null() | numerator.is_null() | (denominator == 0))
        .then(None)
        .otherwise((numerator / denominator).round(3))
    )

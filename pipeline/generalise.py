"""Generalisation of quasi-identifiers in structured fields (polars expressions)."""

from __future__ import annotations

import polars as pl

AGE_BANDS = ((16, 17), (18, 24), (25, 34), (35, 44), (45, 54), (55, 64), (65, 74), (75, 89))
AGE_TOP_CODE = 90  # 90 and over are one band


def age_band(age: pl.Expr) -> pl.Expr:
    expr = pl.when(age.is_null()).then(pl.lit("not stated"))
    expr = expr.when(age < AGE_BANDS[0][0]).then(pl.lit(f"under {AGE_BANDS[0][0]}"))
    for lo, hi in AGE_BANDS:
        expr = expr.when(age.is_between(lo, hi)).then(pl.lit(f"{lo}-{hi}"))
    return expr.otherwise(pl.lit(f"{AGE_TOP_CODE}+"))


def deprivation_quintile(decile: pl.Expr) -> pl.Expr:
    """IMD decile 1..10 -> quintile 1..5 (1 = most deprived)."""
    return (
        pl.when(decile.is_null()).then(pl.lit("not stated"))
        .otherwise(((decile + 1) // 2).cast(pl.String))
    )

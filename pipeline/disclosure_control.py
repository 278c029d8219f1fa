"""Statistical disclosure control for published aggregates.

Reference practice (OpenSAFELY, NHS Digital): counts of 1..7 are suppressed, every other
count is rounded to the nearest 5. The policy's `publication` section may raise these
values, never lower them (its validator enforces these floors).

`protect` applies, in order:
1. small groups: a row whose group size is under the policy's `minimum_group_size` (k) has
   every count suppressed (k-anonymity of the released quasi-identifier combinations);
2. primary suppression: counts 1..threshold become NULL;
3. secondary suppression: within one period, dimension and measure, a lone suppressed cell
   could be recovered by subtracting the others from the total, so the smallest other
   non-zero cell is suppressed too (or, if there is none, the total itself);
4. rounding of every remaining count;
5. values that rest on a row's counts (means, medians) are NULL wherever the row's group
   size is.
Rates and intervals are computed later from the released counts only (`released_rate`,
`wilson`), so they are suppressed with them. `verify` re-checks a built release.
"""

from __future__ import annotations

import math
from typing import Sequence

import polars as pl

SUPPRESSION_THRESHOLD = 7  # counts 1..7 are suppressed
ROUNDING_BASE = 5  # other counts are rounded to the nearest multiple of this
Z_95 = 1.959964  # two-sided 95% normal quantile, for Wilson intervals
KEYS = ("period", "dimension", "grp")


def round_half_up(value: int, base: int) -> int:
    return ((value + base // 2) // base) * base


def publish_count(value: int, threshold: int = SUPPRESSION_THRESHOLD,
                  base: int = ROUNDING_BASE) -> int | None:
    """The count as released: 0 stays 0, 1..threshold -> None (suppressed), else rounded."""
    if value < 0:
        raise ValueError("counts are never negative")
    if value == 0:
        return 0
    if value <= threshold:
        return None
    return round_half_up(value, base)


def secondary(cells: list[int | None]) -> tuple[list[int | None], bool]:
    """Within one family of sibling cells (exact counts, None = already suppressed): if
    exactly one is suppressed, suppress the smallest other non-zero cell. Returns the cells
    and whether the family's total must be suppressed (no other non-zero cell existed)."""
    hidden = [i for i, c in enumerate(cells) if c is None]
    if len(hidden) != 1:
        return cells, False
    candidates = [(c, i) for i, c in enumerate(cells) if c is not None and c > 0]
    if not candidates:
        return cells, True
    _, j = min(candidates)
    out = list(cells)
    out[j] = None
    return out, False


def protect(frame: pl.DataFrame, counts: Sequence[str], pub, *, size_col: str = "users",
            dependent: Sequence[str] = (), size_for_dependent: str | None = None
            ) -> tuple[pl.DataFrame, int]:
    """Disclosure-control a long table keyed by (period, dimension, grp). Returns the
    released table and how many count cells were suppressed."""
    if frame.is_empty():
        return frame, 0
    k, t, base = pub.minimum_group_size, pub.suppression_threshold, pub.rounding_base
    # a stable order, so that ties in secondary suppression always resolve the same way
    frame = frame.sort([c for c in KEYS if c in frame.columns], nulls_last=True)
    rows = frame.to_dicts()
    for r in rows:
        small = r[size_col] is not None and r[size_col] < k
        for c in counts:
            v = r[c]
            r[c] = None if v is None or small or 1 <= v <= t else v
        for c in dependent:
            anchor = r.get(size_for_dependent or size_col)
            if small or anchor is None or anchor < k or r[size_col] is None:
                r[c] = None
    # secondary suppression per (period, dimension, measure); totals live in "overall"
    families: dict[tuple, list[int]] = {}
    for i, r in enumerate(rows):
        if r["dimension"] != "overall":
            families.setdefault((r["period"], r["dimension"]), []).append(i)
    totals = {r["period"]: i for i, r in enumerate(rows) if r["dimension"] == "overall"}
    for _ in range(3):  # suppressing a total can open new lone cells: settle
        changed = False
        for (period, _dim), idx in families.items():
            for c in counts:
                cells = [rows[i][c] for i in idx]
                new, hide_total = secondary(cells)
                if new != cells:
                    changed = True
                    for i, v in zip(idx, new):
                        rows[i][c] = v
                if hide_total and period in totals and rows[totals[period]][c] is not None:
                    rows[totals[period]][c] = None
                    changed = True
        if not changed:
            break
    suppressed = 0
    for r in rows:
        for c in counts:
            if r[c] is None:
                suppressed += 1
            else:
                r[c] = round_half_up(r[c], base)
        if r[size_col] is None:
            for c in dependent:
                r[c] = None
    return pl.DataFrame(rows, schema=frame.schema), suppressed


def released_rate(numerator: pl.Expr, denominator: pl.Expr) -> pl.Expr:
    """A rate from released counts; NULL whenever either count is suppressed or 0 below."""
    return (
        pl.when(denominator.is_null() | numerator.is_null() | (denominator == 0))
        .then(None)
        .otherwise((numerator / denominator).clip(0, 1).round(3))
    )


def wilson_bounds(k: float, n: float, z: float = Z_95) -> tuple[float, float]:
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def wilson(numerator: pl.Expr, denominator: pl.Expr, *, lower: bool) -> pl.Expr:
    """95% Wilson score interval bound of numerator/denominator, from released counts."""
    n = denominator.cast(pl.Float64)
    # rounding can lift a numerator above its denominator: cap it (nulls stay null)
    k = pl.when(numerator > denominator).then(denominator).otherwise(numerator).cast(pl.Float64)
    z2 = Z_95 * Z_95
    p = k / n
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = Z_95 * ((p * (1 - p) / n + z2 / (4 * n * n)).sqrt()) / (1 + z2 / n)
    bound = (centre - half).clip(0, 1) if lower else (centre + half).clip(0, 1)
    return pl.when(n.is_null() | k.is_null() | (n == 0)).then(None).otherwise(bound.round(3))


def describe(pub) -> str:
    return (f"Counts 1-{pub.suppression_threshold} suppressed (NULL) with secondary suppression, "
            f"others rounded to the nearest {pub.rounding_base}; groups under "
            f"{pub.minimum_group_size} people suppressed.")

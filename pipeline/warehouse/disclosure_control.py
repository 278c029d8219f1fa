"""Statistical disclosure control for published aggregates, contributor-aware.

Every released statistic knows how many distinct people it rests on: a table is built as
two frames with the same rows, the values and their *contributors* (people behind each
value; never published). `protect` turns the values into what may be released, `check`
re-verifies a released table (read back from the built file) against the same rules, so
the rules live here once. The floors are in `pipeline.disclosure_floors`.

Rules (k = minimum_group_size, t = suppression_threshold, m = all_or_none_min_denominator):
1. a row whose population (distinct people in it) is under k is suppressed entirely;
2. a count is suppressed when its value or its contributors are 1..t (a count of sessions
   from one person is that person's count);
3. a count that is a group size elsewhere (`Spec.group_sizes`) needs k contributors;
4. a count of 0, or equal to its denominator (0% / 100%), is suppressed when the
   denominator rests on fewer than m people: it would tell each member their own value;
5. secondary suppression: within one period a lone hidden cell of a dimension could be
   recovered by subtraction from the total (the `overall` cell, or the sum of any dimension
   whose groups are all shown), so the smallest other cell is hidden too (or, if there is
   none, the count for the whole period); rows of fewer than k people are left out of the
   release altogether, and count as hidden cells here;
6. every remaining count is rounded to the nearest rounding_base (and rule 4 is applied
   again to the rounded values: 12 of 12 must not read 10 of 10);
7. a mean needs k contributors; a percentile (a median too) needs k people at or below it
   and k at or above it; both vanish with their row's size;
8. rates and their intervals are computed from released counts only, and need k people in
   the denominator; no minimum or maximum is ever published.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Mapping

import polars as pl

from pipeline.disclosure_floors import ROUNDING_BASE, SUPPRESSION_THRESHOLD  # noqa: F401 - re-exported
from pipeline.warehouse.secondary import CROSS, SEP, cross, secondary_breaches, settle  # noqa: F401 - re-exported

Z_95 = 1.959964  # two-sided 95% normal quantile, for Wilson intervals
KEYS = ("period", "dimension", "grp")
ROW = "people"  # contributor column: distinct people in the row
BELOW, ABOVE = ":below", ":above"  # contributor columns of a percentile's two sides
# a column named as a minimum or maximum ("min_wait", "phq9_max", "max_age"); the names
# "within_<N>_min" (minutes) and "under_minimum_age" (a consent reason) are not
EXTREMES = re.compile(r"(^|_)(min|max|minimum|maximum)(_|$)")
NOT_EXTREMES = re.compile(r"_within_\d+_min(?=_|$)|(^|_)under_minimum_age(?=_|$)")


def is_extreme(name: str) -> bool:
    return EXTREMES.search(NOT_EXTREMES.sub("", name)) is not None


@dataclass(frozen=True)
class Spec:
    """What each published column of a long table is.

    counts: count column -> its denominator (a count column of the same row) or None.
    group_sizes: counts that are the size of a group some statistic is computed over.
    size: the count whose suppression also hides the row's means and percentiles.
    means, percentiles: statistics over people (percentiles: column -> quantile).
    rates: rate column -> (numerator, denominator), computed after protection; each rate
    also gets `_lo`/`_hi` (95% Wilson) and, with `ratios`, `_ratio` to the overall rate with
    its 95% interval (`_ratio_lo`/`_ratio_hi`)."""

    counts: Mapping[str, str | None]
    size: str
    group_sizes: tuple[str, ...] = ()
    means: tuple[str, ...] = ()
    percentiles: Mapping[str, float] = field(default_factory=dict)
    rates: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    ratios: bool = True

    def __post_init__(self) -> None:
        names = [*self.counts, *self.means, *self.percentiles, *self.rates]
        bad = [n for n in names if is_extreme(n)]
        if bad:
            raise ValueError(f"minima and maxima are never published: {bad}")
        for c, den in self.counts.items():
            if den is not None and den not in self.counts:
                raise ValueError(f"denominator of {c} is not a count: {den}")
        for r, (num, den) in self.rates.items():
            if num not in self.counts or den not in self.counts:
                raise ValueError(f"rate {r} must divide two counts")

    def rate_columns(self) -> dict[str, str]:
        """Every derived rate column -> the rate it belongs to."""
        out = {}
        for r in self.rates:
            for suffix in ("", "_lo", "_hi") + (("_ratio", "_ratio_lo", "_ratio_hi")
                                                 if self.ratios else ()):
                out[r + suffix] = r
        return out


def round_half_up(value: int, base: int) -> int:
    return ((value + base // 2) // base) * base


def publish_count(value: int, threshold: int = SUPPRESSION_THRESHOLD,
                  base: int = ROUNDING_BASE) -> int | None:
    """A lone count of people as released: 0 stays 0, 1..threshold -> None, else rounded."""
    if value < 0:
        raise ValueError("counts are never negative")
    if value == 0:
        return 0
    if value <= threshold:
        return None
    return round_half_up(value, base)


def _keys(frame: pl.DataFrame) -> list[str]:
    return [c for c in KEYS if c in frame.columns]


def _count_allowed(c: str, r: dict, n: dict, spec: Spec, pub) -> bool:
    """Rules 1-4 for one count cell (exact values `r`, contributors `n`)."""
    v, people = r[c], n[c]
    if v is None or n[ROW] < pub.minimum_group_size:
        return False
    if v > 0 and (v <= pub.suppression_threshold or people <= pub.suppression_threshold):
        return False
    if c in spec.group_sizes and people < pub.minimum_group_size:
        return False
    den = spec.counts[c]
    if den is not None and (v == 0 or v == r[den] or people == n[den]):
        return n[den] >= pub.all_or_none_min_denominator
    return True


def _percentile_allowed(c: str, n: dict, pub) -> bool:
    k = pub.minimum_group_size
    return n[ROW] >= k and (n[c + BELOW] or 0) >= k and (n[c + ABOVE] or 0) >= k


def protect(values: pl.DataFrame, contributors: pl.DataFrame, spec: Spec, pub
            ) -> tuple[pl.DataFrame, int]:
    """Disclosure-control a long table keyed by (period, dimension, grp). `contributors` has
    the same rows and keys, a `people` column and one column per statistic. Returns the
    released table (rates added; rows of fewer than k people left out) and how many count
    cells were suppressed."""
    keys = _keys(values)
    if values.is_empty():
        return add_rates(values, contributors, spec, pub), 0
    values = values.sort(keys, nulls_last=True)  # stable order: ties always resolve the same way
    contributors = values.select(keys).join(contributors, on=keys, how="left", nulls_equal=True,
                                            maintain_order="left")
    rows, people = values.to_dicts(), contributors.to_dicts()
    exact = [dict(r) for r in rows]
    for r, e, n in zip(rows, exact, people):  # rules 1-4 on the exact values
        for c in spec.counts:
            if not _count_allowed(c, e, n, spec, pub):
                r[c] = None
    for r in rows:  # rule 6
        for c in spec.counts:
            if r[c] is not None:
                r[c] = round_half_up(r[c], pub.rounding_base)
    for r, n in zip(rows, people):  # rule 4 again: rounding can make 12 of 12 read 10 of 10
        for c, den in spec.counts.items():
            if _extreme_after_rounding(r, n, c, den, pub):
                r[c] = None
    settle(rows, list(spec.counts), lambda i, c: exact[i][c])  # rule 5
    suppressed = sum(r[c] is None for r in rows for c in spec.counts)
    for r, n in zip(rows, people):
        hidden = r[spec.size] is None
        for c in spec.means:
            if hidden or n[ROW] < pub.minimum_group_size or (n[c] or 0) < pub.minimum_group_size:
                r[c] = None
        for c in spec.percentiles:
            if hidden or not _percentile_allowed(c, n, pub):
                r[c] = None
    # A row of fewer than k people is left out altogether: even empty, its presence would
    # say that someone is in that group. Its cells counted as hidden in rule 5 above.
    kept = [r for r, n in zip(rows, people) if n[ROW] >= pub.minimum_group_size]
    released = pl.DataFrame(kept, schema=values.schema)
    return add_rates(released, contributors, spec, pub), suppressed


def _extreme_after_rounding(r: dict, n: dict, c: str, den: str | None, pub) -> bool:
    return (den is not None and r[c] is not None and r[den] is not None
            and (r[c] == 0 or r[c] == r[den]) and (n[den] or 0) < pub.all_or_none_min_denominator)


def add_rates(released: pl.DataFrame, contributors: pl.DataFrame, spec: Spec, pub) -> pl.DataFrame:
    """Rate, 95% Wilson interval and ratio to the overall rate of the same period, all from
    released counts; NULL when a count is suppressed or the denominator has < k people."""
    out = released
    if not spec.rates:
        return out
    keys = _keys(released)
    dens = {den for _, den in spec.rates.values()}
    enough = contributors.select(*keys, *[(pl.col(d) >= pub.minimum_group_size)
                                         .alias(f"_ok_{d}") for d in dens])
    out = out.join(enough, on=keys, how="left", nulls_equal=True)
    for rate, (num, den) in spec.rates.items():
        ok = pl.col(f"_ok_{den}").fill_null(False)
        n, d = pl.col(num), pl.col(den)
        # from released counts only, never corrected from exact ones: 1,998 of 2,000 reads
        # 1.0, as rounding meant (telling "not all" apart would undo the rounding for the
        # one or two people it hides, and flip between releases the gate holds)
        out = out.with_columns(
            pl.when(ok).then(released_rate(n, d)).alias(rate),
            pl.when(ok).then(wilson(n, d, lower=True)).alias(f"{rate}_lo"),
            pl.when(ok).then(wilson(n, d, lower=False)).alias(f"{rate}_hi"),
        )
        if spec.ratios and "dimension" in out.columns:
            out = _add_ratio(out, keys, rate, num, den)
    return out.drop([f"_ok_{d}" for d in dens])


def _add_ratio(out: pl.DataFrame, keys: list[str], rate: str, num: str, den: str) -> pl.DataFrame:
    """`rate`'s ratio to the overall rate of the same period, with a 95% interval by the
    Katz log method on the released counts. It treats the group and the whole as
    independent samples; the group is part of the whole, so the interval is conservative."""
    on = [k for k in keys if k == "period"]
    overall = out.filter(pl.col("dimension") == "overall").select(
        *on, pl.col(rate).alias("_o"), pl.col(num).alias("_on"), pl.col(den).alias("_od"))
    if on:
        out = out.join(overall, on=on, how="left")
    else:
        first = overall.row(0, named=True) if overall.height else {"_o": None, "_on": None, "_od": None}
        out = out.with_columns(*[pl.lit(first[c], overall.schema.get(c)).alias(c)
                                 for c in ("_o", "_on", "_od")])
    ratio = pl.col(rate) / pl.col("_o")
    a, n1 = pl.col(num).cast(pl.Float64), pl.col(den).cast(pl.Float64)
    b, n2 = pl.col("_on").cast(pl.Float64), pl.col("_od").cast(pl.Float64)
    se = (1 / a - 1 / n1 + 1 / b - 1 / n2).clip(0, None).sqrt()
    ok = (pl.col("_o") > 0) & (pl.col(rate) > 0) & (a > 0) & (b > 0)
    return out.with_columns(
        pl.when(pl.col("_o") > 0).then(ratio.round(3)).alias(f"{rate}_ratio"),
        pl.when(ok).then((ratio.log() - Z_95 * se).exp().round(3)).alias(f"{rate}_ratio_lo"),
        pl.when(ok).then((ratio.log() + Z_95 * se).exp().round(3)).alias(f"{rate}_ratio_hi"),
    ).drop("_o", "_on", "_od")


def check(released: pl.DataFrame, contributors: pl.DataFrame, spec: Spec, pub) -> list[str]:
    """Every breach of the rules in a released table (e.g. read back from a built file)."""
    problems: list[str] = []
    keys = _keys(released)
    declared = set(keys) | set(spec.counts) | set(spec.means) | set(spec.percentiles) \
        | set(spec.rate_columns())
    for col in released.columns:
        if col not in declared:
            problems.append(f"column {col} is not a declared statistic")
        if is_extreme(col):
            problems.append(f"column {col} looks like a minimum or maximum")
    if problems:
        return problems
    problems += secondary_breaches(full_rows(released, contributors), list(spec.counts))
    joined = released.join(contributors, on=keys, how="left", suffix="@n", nulls_equal=True)
    base, t, k = pub.rounding_base, pub.suppression_threshold, pub.minimum_group_size
    for r in joined.iter_rows(named=True):
        where = "/".join(str(r[c]) for c in keys)
        n = {c: r.get(c + "@n", r.get(c)) for c in [*spec.counts, *spec.means]}
        n.update({c: r.get(c) for c in r if c.endswith((BELOW, ABOVE)) or c == ROW})
        if n.get(ROW) is None:
            problems.append(f"row {where}: no contributor counts")
            continue
        for c, den in spec.counts.items():
            v = r[c]
            if v is None:
                continue
            if v % base or n[ROW] < k or (v > 0 and (v <= t or n[c] <= t)):
                problems.append(f"{c} at {where}: small, unrounded or under k")
            elif c in spec.group_sizes and n[c] < k:
                problems.append(f"{c} at {where}: a group under k")
            elif (den is not None and (v == 0 or n[c] == n[den] or v == r[den])
                  and n[den] < pub.all_or_none_min_denominator):
                problems.append(f"{c} at {where}: 0% or 100% on a small denominator")
        for c in spec.means:
            if r[c] is not None and (n[c] or 0) < k:
                problems.append(f"{c} at {where}: a mean of fewer than k people")
        for c in spec.percentiles:
            if r[c] is not None and not _percentile_allowed(c, n, pub):
                problems.append(f"{c} at {where}: a percentile without k people on each side")
        for col, rate in spec.rate_columns().items():
            num, den = spec.rates[rate]
            if r[col] is not None and (r[num] is None or r[den] is None or (n[den] or 0) < k):
                problems.append(f"{col} at {where}: a rate on a suppressed count or under k")
    return problems


def full_rows(released: pl.DataFrame, contributors: pl.DataFrame) -> list[dict]:
    """Every group's row (from the contributor counts), with the released values where the
    row is published and None where it was left out: the families rule 5 speaks of."""
    keys = _keys(released)
    extra = [k for k in _keys(contributors) if k not in keys]
    grid = contributors.select(*keys, *extra).unique(maintain_order=True)
    out = grid.join(released, on=keys, how="full", coalesce=True, nulls_equal=True)
    return out.to_dicts()


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
    return (f"Counts 1-{pub.suppression_threshold} (of values or of people) suppressed (NULL) "
            f"with secondary suppression, others rounded to the nearest {pub.rounding_base}; "
            f"groups, means, percentiles and rates resting on fewer than "
            f"{pub.minimum_group_size} people suppressed; 0% and 100% published only on "
            f"denominators of {pub.all_or_none_min_denominator}+ people.")

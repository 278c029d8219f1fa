"""The shapes every research table shares: `Table` (a released frame with its documentation
and contributor counts), the generalised groups of each person (`user_groups`), and the
long-format aggregation per period, dimension and group (`long_table`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import polars as pl

from pipeline.governance.consent import latest_profile
from pipeline.intake.generalise import (age_band, deprivation_quintile, ethnicity_group, gender_group,
                                        language_group, postcode_region)
from pipeline.warehouse import disclosure_control as dc
from pipeline.warehouse.cadence import closed
from pipeline.warehouse.labels import CROSS_DIMENSIONS, CROSSES, DIMENSIONS, NOT_RECORDED, model_version_label


@dataclass(frozen=True)
class Table:
    """A released table (`frame`), its documentation, and what the disclosure rules need to
    re-verify it: `spec` (what each column is) and `contributors` (people behind each
    statistic, same keys; kept in memory, never published)."""

    name: str
    frame: pl.DataFrame
    comment: str
    columns: dict[str, str]
    suppressed_cells: int = 0
    spec: dc.Spec | None = None
    contributors: pl.DataFrame | None = None


def quarter(col: str) -> pl.Expr:
    return pl.format("{}-Q{}", pl.col(col).dt.year(), pl.col(col).dt.quarter())


def user_groups(frames: dict[str, pl.DataFrame]) -> pl.DataFrame:
    """Every subject with a session: first session time and the generalised groups (every
    label from a closed vocabulary, `labels.py`)."""
    first = (frames["session_started"].sort("occurred_at").group_by("subject")
             .agg(pl.col("occurred_at").first().alias("first_session"),
                  pl.col("channel").first(), pl.col("model_version").first(),
                  pl.col("session_id").n_unique().alias("sessions")))
    profile = latest_profile(frames["profile"])
    return first.join(profile, on="subject", how="left").with_columns(
        overall=pl.lit("all"),
        age_band=age_band(pl.col("first_session").dt.year() - pl.col("birth_year")),
        gender=gender_group(pl.col("gender")),
        ethnicity=ethnicity_group(pl.col("ethnicity")),
        deprivation_quintile=deprivation_quintile(pl.col("deprivation_decile")),
        region=postcode_region(pl.col("postcode")),
        language=language_group(pl.col("language")),
        channel=pl.col("channel").fill_null(NOT_RECORDED),
        model_version=model_version_label(pl.col("model_version")),
    ).with_columns(**{dc.cross(a, b): pl.concat_str([a, b], separator=dc.SEP)
                      for a, b in CROSSES}
    ).select("subject", "first_session", "sessions", *DIMENSIONS, *CROSS_DIMENSIONS)


def people(col: str) -> pl.Expr:
    """Distinct people among the rows where boolean `col` holds."""
    return pl.col("subject").filter(pl.col(col)).n_unique()


def percentile(col: str, q: float, name: str) -> list[pl.Expr]:
    """A percentile of `col` (nearest observed value) as `name`, and its two contributor
    sides: the distinct people with a value at or below it and at or above it."""
    value = pl.col(col).drop_nulls().quantile(q, "nearest")
    return [value.round(1).alias(name),
            pl.col("subject").filter(pl.col(col) <= value).n_unique().alias(name + dc.BELOW),
            pl.col("subject").filter(pl.col(col) >= value).n_unique().alias(name + dc.ABOVE)]


def long_table(rows: pl.DataFrame, stats: dict[str, tuple[pl.Expr, pl.Expr | None]],
          extra: list[pl.Expr], schema: dict, dims=DIMENSIONS,
          cutoff: datetime | None = None) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Aggregate per (period, dimension, group) for every dimension, overall included, for
    the periods closed by `cutoff` only. `stats`: column -> (value, contributors)
    expressions; `extra`: contributor-only expressions (percentile sides). Returns (values,
    contributors)."""
    keys = ["period", "dimension", "grp"]
    aggs = [pl.col("subject").n_unique().alias(dc.ROW)]
    for name, (value, people) in stats.items():
        aggs.append(value.alias(name))
        if people is not None:
            aggs.append(people.alias(f"{name}@n"))
    aggs += extra
    if rows.height:
        frame = pl.concat([rows.group_by("period", pl.col(d).alias("grp")).agg(aggs)
                           .with_columns(dimension=pl.lit(d)) for d in dims], how="diagonal_relaxed")
        frame = frame.filter(pl.col("period").is_in(closed(frame["period"].unique().to_list(), cutoff)))
    else:  # nobody: an empty table with every column
        names = [dc.ROW, *stats, *(f"{n}@n" for n, (_, p) in stats.items() if p is not None),
                 *(e.meta.output_name() for e in extra)]
        frame = pl.DataFrame(schema={**dict.fromkeys(keys, pl.String),
                                     **{n: schema.get(n, pl.Int64) for n in names}})
    values = frame.select([pl.col(c).cast(t) if c in frame.columns else pl.lit(None, t).alias(c)
                           for c, t in schema.items()])
    people = [c for c in frame.columns if c == dc.ROW or c.endswith(("@n", dc.BELOW, dc.ABOVE))]
    contributors = frame.select(*keys, *people).rename(
        {c: c[:-2] for c in people if c.endswith("@n")})
    return values, contributors

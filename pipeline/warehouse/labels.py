"""The closed vocabularies every published label comes from.

A research table's `dimension`, `grp` and `period` columns are labels. Each dimension's
groups come from a generaliser in `pipeline.intake.generalise` (whose vocabularies are in
`pipeline.intake.vocabularies`), from a contract enum, or, for the AI model version, from a strict
version pattern (set by the platform, never typed by a person; anything else is "other").
`allowed` is what the release verifier checks every label against.
"""

from __future__ import annotations

import re
from typing import get_args

import polars as pl

from pipeline.intake.contract import SessionStarted
from pipeline.intake.generalise import AGE_BANDS, AGE_TOP_CODE
from pipeline.intake.vocabularies import (ETHNICITY_GROUPS, GENDER_GROUPS, LANGUAGE_GROUPS, NOT_STATED,
                            REGIONS)
from pipeline.warehouse.secondary import SEP, cross

NOT_RECORDED = "not recorded"
OTHER = "other"
DIMENSIONS = ("overall", "age_band", "gender", "ethnicity", "deprivation_quintile", "region",
              "language", "channel", "model_version")
# two-way breakdowns of the outcomes (outcomes_by_intersection): dimension "<a> x <b>",
# group "<group of a> / <group of b>"
CROSSES = (("ethnicity", "age_band"), ("deprivation_quintile", "gender"), ("ethnicity", "gender"))
CROSS_DIMENSIONS = tuple(cross(a, b) for a, b in CROSSES)
PERIOD = re.compile(r"^(all|\d{4}-Q[1-4]|\d{4}-(0[1-9]|1[0-2]))$")
MODEL_VERSION = r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,47}$"

VOCABULARY: dict[str, frozenset[str]] = {
    "overall": frozenset({"all"}),
    "age_band": frozenset({f"under {AGE_BANDS[0][0]}", *(f"{lo}-{hi}" for lo, hi in AGE_BANDS),
                           f"{AGE_TOP_CODE}+", NOT_STATED}),
    "gender": frozenset(GENDER_GROUPS),
    "ethnicity": frozenset(ETHNICITY_GROUPS),
    "deprivation_quintile": frozenset({"1", "2", "3", "4", "5", NOT_STATED}),
    "region": frozenset({*REGIONS, NOT_STATED}),
    "language": frozenset(LANGUAGE_GROUPS),
    "channel": frozenset({*get_args(SessionStarted.model_fields["channel"].annotation),
                          NOT_RECORDED}),
}


VOCABULARY.update({cross(a, b): frozenset(f"{x}{SEP}{y}" for x in VOCABULARY[a]
                                          for y in VOCABULARY[b]) for a, b in CROSSES})


def model_version_label(version: pl.Expr) -> pl.Expr:
    """A model version as a label: kept when it matches the version pattern, else "other"."""
    return (pl.when(version.is_null()).then(pl.lit(NOT_RECORDED))
            .when(version.str.contains(MODEL_VERSION)).then(version)
            .otherwise(pl.lit(OTHER)))


def allowed(dimension: str, label: str | None) -> bool:
    """Whether `label` may be published as a group of `dimension`."""
    if dimension == "model_version":
        return label is not None and (label in (NOT_RECORDED, OTHER)
                                      or re.match(MODEL_VERSION, label) is not None)
    return label in VOCABULARY.get(dimension, frozenset())


def check_labels(frame: pl.DataFrame) -> list[str]:
    """Every label in a released table that is outside its vocabulary."""
    problems = []
    if "period" in frame.columns:
        bad = [p for p in frame["period"].unique().to_list() if p is None or not PERIOD.match(p)]
        problems += [f"period label outside the vocabulary ({len(bad)})"] if bad else []
    if "dimension" in frame.columns:
        pairs = frame.select("dimension", *(["grp"] if "grp" in frame.columns else [])).unique()
        for row in pairs.iter_rows(named=True):
            if row["dimension"] not in (*DIMENSIONS, *CROSS_DIMENSIONS):
                problems.append("a dimension outside the vocabulary")
            elif "grp" in row and not allowed(row["dimension"], row["grp"]):
                problems.append(f"a {row['dimension']} label outside the vocabulary")
    return problems

"""Generalisation of quasi-identifiers in structured fields (polars expressions).

Every function takes a polars expression and returns one, so it runs vectorised inside
`select`/`with_columns`. They are pure: no I/O. Missing or unusable values become
"not stated". The lookup tables live in `pipeline/intake/vocabularies.py`.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import polars as pl

from pipeline.intake.vocabularies import (
    ETHNICITY_RULES,
    GENDER_SYNONYMS,
    LANGUAGE_LOOKUP,
    NOT_STATED,
    NOT_STATED_ANSWERS,
    OTHER_ETHNIC,
    OTHER_LANGUAGE,
    POSTCODE_AREA_REGION,
)

AGE_BANDS = ((16, 17), (18, 24), (25, 34), (35, 44), (45, 54), (55, 64), (65, 74), (75, 89))
AGE_TOP_CODE = 90  # 90 and over are one band

TIMESTAMP_UNITS = {"hour": "1h", "day": "1d", "week": "1w", "month": "1mo"}

# A full UK postcode with its spaces removed, upper case: outward code (area letters, district
# digit, optional digit or letter) then inward code (digit, two letters). Letters follow the
# Royal Mail rules for each position; the area must also be in POSTCODE_AREA_REGION.
_OUTWARD = r"[A-PR-UWYZ](?:[0-9][0-9A-HJKPSTUW]?|[A-HK-Y][0-9][0-9ABEHMNPRVWXY]?)"
_POSTCODE = rf"^({_OUTWARD})[0-9][ABD-HJLNP-UW-Z]{{2}}$"


def age_band(age: pl.Expr) -> pl.Expr:
    """Age in whole years -> "under 16", "16-17", "18-24", ... "75-89", "90+" or "not stated"."""
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


def normalise_text(text: pl.Expr) -> pl.Expr:
    """Lower case; every run of non-letters/non-digits -> one space; trimmed. Null stays null."""
    return (text.cast(pl.String).str.to_lowercase()
            .str.replace_all(r"[^\p{L}\p{N}]+", " ").str.strip_chars(" "))


def _outward_and_area(postcode: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """(outward code, area) of a well-formed postcode, or (null, null)."""
    compact = postcode.cast(pl.String).str.replace_all(r"\s+", "")
    ascii_only = pl.when(compact.str.contains(r"^[A-Za-z0-9]{5,7}$")).then(compact)
    outward = ascii_only.str.to_uppercase().str.extract(_POSTCODE, 1)
    return outward, outward.str.extract(r"^([A-Z]+)", 1)


def postcode_outward(postcode: pl.Expr) -> pl.Expr:
    """UK postcode -> outward code, upper case ("sw1a 1aa" -> "SW1A", "EC1A1BB" -> "EC1A").

    Case and whitespace (anywhere) are ignored. Anything else must be a full postcode in Royal
    Mail format whose area is a UK postcode area or a Crown dependency; otherwise, and for
    null, the result is "not stated". A bare outward code ("SW1A") is not a postcode.
    """
    outward, area = _outward_and_area(postcode)
    return (pl.when(area.is_in(list(POSTCODE_AREA_REGION))).then(outward)
            .otherwise(pl.lit(NOT_STATED)))


def postcode_region(postcode: pl.Expr) -> pl.Expr:
    """UK postcode -> ONS region or nation of its postcode area ("M1 1AE" -> "North West").

    One of `vocabularies.REGIONS` (the nine English regions, Wales, Scotland, Northern Ireland,
    and "Other UK" for GY, JE and IM) or "not stated" for anything `postcode_outward` rejects.
    """
    _, area = _outward_and_area(postcode)
    return area.fill_null("").replace_strict(POSTCODE_AREA_REGION, default=pl.lit(NOT_STATED),
                                             return_dtype=pl.String)


def gender_group(gender: pl.Expr) -> pl.Expr:
    """Free-text gender -> "female", "male", "non-binary", "other" or "not stated".

    The normalised answer (`normalise_text`) is looked up in `vocabularies.GENDER_SYNONYMS`;
    null, empty and "prefer not to say" style answers are "not stated", unknown answers "other".
    """
    return normalise_text(gender).fill_null("").replace_strict(
        GENDER_SYNONYMS, default=pl.lit("other"), return_dtype=pl.String)


def ethnicity_group(ethnicity: pl.Expr) -> pl.Expr:
    """Free-text ethnicity -> ONS 2021 high-level group, or "not stated".

    Null, empty and `NOT_STATED_ANSWERS` are "not stated". Otherwise the ordered keyword rules
    in `vocabularies.ETHNICITY_RULES` (rule order documented there) are tried on whole words
    of the normalised answer and the first match wins; no match (e.g. "other") gives
    "Other ethnic group".
    """
    text = normalise_text(ethnicity).fill_null("")
    padded = pl.concat_str([pl.lit(" "), text, pl.lit(" ")])

    def has(words: tuple[str, ...]) -> pl.Expr:
        return padded.str.contains_any([f" {w} " for w in words])

    out = pl.when(text.is_in(list(NOT_STATED_ANSWERS))).then(pl.lit(NOT_STATED))
    for group, any_of, and_any_of in ETHNICITY_RULES:
        match = has(any_of) & has(and_any_of) if and_any_of else has(any_of)
        out = out.when(match).then(pl.lit(group))
    return out.otherwise(pl.lit(OTHER_ETHNIC))


def coarsen_timestamp(ts: pl.Expr, unit: str) -> pl.Expr:
    """Truncate a datetime to the start of its "hour", "day", "week" (Monday) or "month".

    Truncation happens in the column's own time zone; the pipeline's columns are UTC. Nulls
    stay null. Raises ValueError for any other unit.
    """
    if unit not in TIMESTAMP_UNITS:
        raise ValueError(f"unit must be one of {', '.join(TIMESTAMP_UNITS)}")
    return ts.dt.truncate(TIMESTAMP_UNITS[unit])


def coarsen_datetime(when: datetime, unit: str) -> datetime:
    """`coarsen_timestamp` for one UTC datetime (same result, without building a frame)."""
    if unit not in TIMESTAMP_UNITS:
        raise ValueError(f"unit must be one of {', '.join(TIMESTAMP_UNITS)}")
    when = when.astimezone(timezone.utc)
    if unit == "hour":
        return when.replace(minute=0, second=0, microsecond=0)
    day = when.replace(hour=0, minute=0, second=0, microsecond=0)
    if unit == "day":
        return day
    if unit == "week":
        return day - timedelta(days=day.weekday())
    return day.replace(day=1)


def language_group(language: pl.Expr) -> pl.Expr:
    """Free-text language -> one of `vocabularies.LANGUAGE_GROUPS`.

    The whole normalised answer (`normalise_text`, a trailing word "language" dropped) must
    be a name, endonym, ISO 639 code or BCP 47 tag listed in `vocabularies.LANGUAGE_SYNONYMS`;
    null or blank is "not stated"; anything else is "other". A free-text answer is never
    passed through, so no answer can become a published label."""
    text = normalise_text(language).str.replace(r" language$", "")
    return (pl.when(text.is_null() | (text == "")).then(pl.lit(NOT_STATED))
            .otherwise(text.replace_strict(_language_lookup(), default=pl.lit(OTHER_LANGUAGE),
                                           return_dtype=pl.String)))


def _language_lookup() -> dict[str, str]:
    """LANGUAGE_LOOKUP with keys in the same normal form as the answers they match (scripts
    with combining marks normalise differently from how they are typed in the table)."""
    keys = list(LANGUAGE_LOOKUP)
    normal = pl.DataFrame({"k": keys}).select(normalise_text(pl.col("k")))["k"].to_list()
    return {n: LANGUAGE_LOOKUP[k] for k, n in zip(keys, normal) if n}

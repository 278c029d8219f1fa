"""Generalisation of structured quasi-identifiers, on small polars frames."""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import datetime, timezone

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.intake import vocabularies as v
from pipeline.intake.vocabularies import LANGUAGE_GROUPS
from pipeline.intake.generalise import (
    AGE_BANDS,
    AGE_TOP_CODE,
    age_band,
    coarsen_timestamp,
    deprivation_quintile,
    ethnicity_group,
    gender_group,
    language_group,
    normalise_text,
    postcode_outward,
    postcode_region,
)

ASIAN, BLACK, MIXED, WHITE, OTHER = v.ASIAN, v.BLACK, v.MIXED, v.WHITE, v.OTHER_ETHNIC
NS = "not stated"


def apply(fn, values, dtype=pl.String):
    out = pl.DataFrame({"x": values}, schema={"x": dtype}).select(fn(pl.col("x")).alias("y"))
    return out["y"].to_list()


def one(fn, value, dtype=pl.String):
    return apply(fn, [value], dtype)[0]


# --- age_band and deprivation_quintile (used by analytics) ------------------------------------

@pytest.mark.parametrize("age, band", [
    (None, NS), (-1, "under 16"), (0, "under 16"), (15, "under 16"),
    (16, "16-17"), (17, "16-17"), (18, "18-24"), (24, "18-24"), (25, "25-34"), (34, "25-34"),
    (35, "35-44"), (44, "35-44"), (45, "45-54"), (54, "45-54"), (55, "55-64"), (64, "55-64"),
    (65, "65-74"), (74, "65-74"), (75, "75-89"), (89, "75-89"),
    (90, "90+"), (91, "90+"), (104, "90+"), (130, "90+"),
])
def test_age_band_edges_and_top_code(age, band):
    assert one(age_band, age, pl.Int64) == band


def test_age_bands_are_contiguous_and_end_below_the_top_code():
    assert all(hi + 1 == lo for (_, hi), (lo, _) in zip(AGE_BANDS, AGE_BANDS[1:]))
    assert AGE_BANDS[-1][1] + 1 == AGE_TOP_CODE == 90


def test_deprivation_quintile():
    got = apply(deprivation_quintile, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, None], pl.Int64)
    assert got == ["1", "1", "2", "2", "3", "3", "4", "4", "5", "5", NS]


# --- postcodes ----------------------------------------------------------------------------------

@pytest.mark.parametrize("raw, outward", [
    ("SW1A 1AA", "SW1A"), ("m1 1ae", "M1"), ("EC1A1BB", "EC1A"),  # the brief's examples
    ("B33 8TH", "B33"), ("CR2 6XH", "CR2"), ("DN55 1PT", "DN55"), ("W1A 0AX", "W1A"),
    ("M60 1NW", "M60"), ("BT1 5GS", "BT1"), ("ZE1 0AA", "ZE1"), ("GY1 1AA", "GY1"),
    ("  sw1a   1aa ", "SW1A"), ("Sw1A\t1aA", "SW1A"), ("SW1A\u00a01AA", "SW1A"),
    ("M11AE", "M1"), ("M111AE", "M11"),
])
def test_postcode_outward_valid(raw, outward):
    assert one(postcode_outward, raw) == outward


@pytest.mark.parametrize("raw", [
    None, "", "   ", "SW1A", "M1", "SW1A 1A", "SW1A 1AAA", "SW1A-1AA", "SW1A 1AA.",
    "my postcode is M1 1AE", "12345", "AB",
    "ZZ1 1AA",   # well-formed, but ZZ is no postcode area
    "GX11 1AA",  # Gibraltar: not UK
    "BF1 3AA",   # BFPO: not geographic
    "Q1 1AA",    # Q never starts a postcode
    "CV1 1CA",   # C never appears in the inward letters
    "AI1 1AA",   # I never second
    "W1I 1AA",   # I never third in A9A
    "SWA1 1AA", "S11A1 1AA",
    "M\u0661 1AE",  # Arabic-Indic digit
    "\u00df1 1AA",  # 'ß' upper-cases to 'SS', which must not make it Southend
])
def test_postcode_outward_invalid_is_not_stated(raw):
    assert one(postcode_outward, raw) == NS
    assert one(postcode_region, raw) == NS


REGION_EXAMPLES = {
    "North East": ["NE1 4ST", "sr1 3sd", "TS1 2AA"],
    "North West": ["M1 1AE", "L1 8JQ", "CA1 1AA"],
    "Yorkshire and The Humber": ["LS1 4DY", "S1 2HE", "YO1 7HH"],
    "East Midlands": ["NG1 5FS", "DE1 3AA", "LE1 6ZG"],
    "West Midlands": ["B1 1BB", "CV1 5FB", "ST1 1AA"],
    "East of England": ["CB2 1TN", "NR1 3JU", "IP1 1AA"],
    "London": ["SW1A 1AA", "EC1A 1BB", "E1 6AN", "WC2N 5DU"],
    "South East": ["OX1 2JD", "BN1 1AA", "ME1 1AA"],
    "South West": ["BS1 5TR", "EX1 1AA", "TR1 2AA"],
    "Wales": ["CF10 1EP", "SA1 1AA", "LL55 4UR"],
    "Scotland": ["EH1 1YZ", "G1 1XQ", "ZE1 0AA", "AB10 1AA"],
    "Northern Ireland": ["BT1 5GS", "bt7 1nn"],
    "Other UK": ["GY1 1AA", "JE2 3AB", "IM1 1AE"],
}


@pytest.mark.parametrize("region, postcodes", REGION_EXAMPLES.items())
def test_postcode_region_examples(region, postcodes):
    assert apply(postcode_region, postcodes) == [region] * len(postcodes)


def test_every_region_is_reachable_and_covered_by_the_examples():
    assert set(REGION_EXAMPLES) == set(v.REGIONS)
    assert set(v.POSTCODE_AREA_REGION.values()) == set(v.REGIONS)


# Independent list of the 121 UK postcode areas (Royal Mail), to check the table is complete.
UK_AREAS = """
AB AL B BA BB BD BH BL BN BR BS BT CA CB CF CH CM CO CR CT CV CW DA DD DE DG DH DL DN DT DY
E EC EH EN EX FK FY G GL GU HA HD HG HP HR HS HU HX IG IP IV KA KT KW KY L LA LD LE LL LN LS
LU M ME MK ML N NE NG NN NP NR NW OL OX PA PE PH PL PO PR RG RH RM S SA SE SG SK SL SM SN SO
SP SR SS ST SW SY TA TD TF TN TQ TR TS TW UB W WA WC WD WF WN WR WS WV YO ZE
""".split()


def test_area_table_is_complete():
    assert len(UK_AREAS) == 121
    assert set(v.POSTCODE_AREA_REGION) == set(UK_AREAS) | {"GY", "JE", "IM"}


@pytest.mark.parametrize("area, region", [
    ("CF", "Wales"), ("LD", "Wales"), ("NP", "Wales"), ("EH", "Scotland"), ("TD", "Scotland"),
    ("DG", "Scotland"), ("BT", "Northern Ireland"), ("CH", "North West"),
    ("SY", "West Midlands"), ("HR", "West Midlands"), ("DN", "Yorkshire and The Humber"),
    ("DL", "North East"), ("PE", "East of England"), ("WD", "East of England"),
    ("MK", "South East"), ("HP", "South East"), ("KT", "South East"), ("EN", "London"),
    ("TW", "London"), ("RM", "London"), ("BH", "South West"), ("SP", "South West"),
    ("LN", "East Midlands"), ("NN", "East Midlands"),
])
def test_known_area_regions(area, region):
    assert v.POSTCODE_AREA_REGION[area] == region


def test_every_area_is_accepted_by_the_postcode_format():
    areas = sorted(v.POSTCODE_AREA_REGION)
    postcodes = [f"{a}1 1AA" for a in areas]
    assert apply(postcode_outward, postcodes) == [f"{a}1" for a in areas]
    assert apply(postcode_region, postcodes) == [v.POSTCODE_AREA_REGION[a] for a in areas]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(
    st.none(), st.text(max_size=12),
    st.from_regex(r"\A[A-Za-z]{1,2}[0-9][0-9A-Za-z]? ?[0-9][A-Za-z]{2}\Z"),
), max_size=20))
def test_postcode_outputs_are_consistent(values):
    outward = apply(postcode_outward, values)
    region = apply(postcode_region, values)
    for raw, o, r in zip(values, outward, region):
        assert (o == NS) == (r == NS)
        if o != NS:
            assert "".join(raw.split()).upper().startswith(o)
            assert r == v.POSTCODE_AREA_REGION[re.match(r"[A-Z]+", o).group()]
        assert r in v.REGIONS or r == NS


# --- gender ----------------------------------------------------------------------------------

@pytest.mark.parametrize("raw, group", [
    ("female", "female"), ("Female", "female"), ("  WOMAN ", "female"), ("f", "female"),
    ("F.", "female"), ("girl", "female"), ("trans woman", "female"), ("Trans-Woman", "female"),
    ("male", "male"), ("MALE", "male"), ("man", "male"), ("m", "male"), ("trans man", "male"),
    ("non-binary", "non-binary"), ("Non Binary", "non-binary"), ("nonbinary", "non-binary"),
    ("enby", "non-binary"), ("GenderQueer", "non-binary"),
    ("prefer not to say", NS), ("Prefer not to say.", NS), ("", NS), ("   ", NS), (None, NS),
    ("agender", "other"), ("genderfluid", "other"), ("womanly", "other"), ("mf", "other"),
    ("female male", "other"), ("x", "other"),
])
def test_gender_group(raw, group):
    assert one(gender_group, raw) == group


def test_gender_synonyms_are_normalised_and_map_into_the_vocabulary():
    keys = list(v.GENDER_SYNONYMS)
    assert apply(normalise_text, keys) == keys
    assert set(v.GENDER_SYNONYMS.values()) <= set(v.GENDER_GROUPS)
    assert set(v.GENDER_GROUPS) == {"female", "male", "non-binary", "other", NS}


# --- ethnicity -------------------------------------------------------------------------------

@pytest.mark.parametrize("raw, group", [
    (None, NS), ("", NS), (" ", NS), ("prefer not to say", NS), ("Prefer not to say", NS),
    ("N/A", NS),
    # rule 1: mixed keywords
    ("Mixed", MIXED), ("mixed race", MIXED), ("Multiple ethnic groups", MIXED),
    ("Mixed - White and Asian", MIXED), ("dual heritage", MIXED),
    # rule 2-3: combinations that ONS counts as Mixed
    ("White and Black Caribbean", MIXED), ("White and Black African", MIXED),
    ("White and Asian", MIXED), ("Black and Asian", MIXED),
    # rule 4: white on its own
    ("white", WHITE), ("WHITE", WHITE), ("White British", WHITE),
    ("Any other White background", WHITE), ("White African", WHITE),
    # rule 5-6: Asian; "West Indian" is Caribbean
    ("Asian British - Indian", ASIAN), ("Pakistani", ASIAN), ("bangladeshi", ASIAN),
    ("Chinese", ASIAN), ("British Asian", ASIAN), ("East African Asian", ASIAN),
    ("Any other Asian background", ASIAN), ("West Indian", BLACK),
    # rule 7: Black
    ("Black African", BLACK), ("Black Caribbean", BLACK), ("Black British", BLACK),
    ("african", BLACK), ("Caribbean", BLACK),
    # rule 8: Arab and similar before the White nationality words
    ("Arab", OTHER), ("British Arab", OTHER),
    # rule 9: White nationality words
    ("British", WHITE), ("Irish", WHITE), ("Gypsy or Irish Traveller", WHITE), ("Roma", WHITE),
    # rule 10: everything else
    ("Other", OTHER), ("Any other ethnic group", OTHER), ("martian", OTHER), ("123", OTHER),
    # whole words only
    ("whiteish", OTHER), ("Romanesque", OTHER), ("blackpool", OTHER),
])
def test_ethnicity_group(raw, group):
    assert one(ethnicity_group, raw) == group


def test_ethnicity_keywords_are_normalised_and_groups_are_in_the_vocabulary():
    words = sorted({w for _, any_of, and_any_of in v.ETHNICITY_RULES
                    for w in any_of + and_any_of} | set(v.NOT_STATED_ANSWERS))
    assert apply(normalise_text, words) == words
    assert all(w for _, any_of, _ in v.ETHNICITY_RULES for w in any_of)
    assert {g for g, _, _ in v.ETHNICITY_RULES} <= set(v.ETHNICITY_GROUPS)
    assert set(v.ETHNICITY_GROUPS) == {ASIAN, BLACK, MIXED, WHITE, OTHER, NS}
    assert BLACK == "Black, Black British, Caribbean or African"
    assert ASIAN == "Asian or Asian British" and MIXED == "Mixed or Multiple"


_PHRASES = st.lists(st.sampled_from(
    sorted({w for _, a, b in v.ETHNICITY_RULES for w in a + b} | set(v.GENDER_SYNONYMS))
), max_size=4).map(" ".join)
_ANSWERS = st.lists(st.one_of(st.none(), st.text(max_size=30), _PHRASES), max_size=20)


@settings(max_examples=200, deadline=None)
@given(_ANSWERS)
def test_gender_and_ethnicity_outputs_stay_in_their_vocabularies(values):
    genders = apply(gender_group, values)
    ethnicities = apply(ethnicity_group, values)
    assert set(genders) <= set(v.GENDER_GROUPS)
    assert set(ethnicities) <= set(v.ETHNICITY_GROUPS)
    for raw, g, e in zip(values, genders, ethnicities):
        if raw is None:
            assert g == e == NS


# --- timestamps ------------------------------------------------------------------------------

TS = datetime(2026, 11, 26, 21, 4, 11, 123456, tzinfo=timezone.utc)  # a Thursday


@pytest.mark.parametrize("unit, expected", [
    ("hour", datetime(2026, 11, 26, 21, tzinfo=timezone.utc)),
    ("day", datetime(2026, 11, 26, tzinfo=timezone.utc)),
    ("week", datetime(2026, 11, 23, tzinfo=timezone.utc)),
    ("month", datetime(2026, 11, 1, tzinfo=timezone.utc)),
])
def test_coarsen_timestamp(unit, expected):
    frame = pl.DataFrame({"t": [TS, None]}, schema={"t": pl.Datetime("us", "UTC")})
    out = frame.select(coarsen_timestamp(pl.col("t"), unit))
    assert out.schema["t"] == pl.Datetime("us", "UTC")
    assert out["t"].to_list() == [expected, None]


def test_coarsen_timestamp_boundaries():
    frame = pl.DataFrame({"t": [datetime(2026, 12, 31, 23, 59, 59, 999999, tzinfo=timezone.utc),
                                datetime(2027, 1, 1, tzinfo=timezone.utc)]})
    got = frame.select(coarsen_timestamp(pl.col("t"), "month"))["t"].to_list()
    assert got == [datetime(2026, 12, 1, tzinfo=timezone.utc),
                   datetime(2027, 1, 1, tzinfo=timezone.utc)]
    monday = datetime(2026, 11, 30, tzinfo=timezone.utc)
    got = pl.DataFrame({"t": [monday]}).select(coarsen_timestamp(pl.col("t"), "week"))
    assert got["t"].to_list() == [monday]


@pytest.mark.parametrize("unit", ["minute", "year", "Day", "1d", ""])
def test_coarsen_timestamp_rejects_other_units(unit):
    with pytest.raises(ValueError):
        coarsen_timestamp(pl.col("t"), unit)


# --- language --------------------------------------------------------------------------------

def test_language_group():
    got = apply(language_group, ["English", " english ", "POLISH", "Brazilian  Portuguese",
                                 "", "  ", None, "en-GB", "Cymraeg", "Polish language", "ਪੰਜਾਬੀ"])
    assert got == ["English", "English", "Polish", "other", NS, NS, NS, "English", "Welsh",
                   "Polish", "Panjabi"]


@given(st.text(max_size=40))
def test_no_free_text_answer_becomes_a_language_label(answer):
    """An attacker types anything (a name, 'english, my name is ...'): the label is always one
    of the closed vocabulary's."""
    assert apply(language_group, [answer])[0] in LANGUAGE_GROUPS


def test_a_name_typed_into_the_language_field_is_other():
    assert apply(language_group, ["english, my name is Jo Bloggs", "Jo Bloggs"]) == ["other", "other"]


# --- purity ----------------------------------------------------------------------------------

def test_all_null_column_of_null_dtype():
    frame = pl.DataFrame({"x": [None, None]})
    out = frame.select(g=gender_group(pl.col("x")), e=ethnicity_group(pl.col("x")),
                       o=postcode_outward(pl.col("x")), r=postcode_region(pl.col("x")),
                       l=language_group(pl.col("x")))
    assert out.rows() == [(NS,) * 5] * 2


def test_module_does_not_import_prefect():
    code = "import sys, pipeline.intake.generalise; assert 'prefect' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


@given(st.datetimes(min_value=datetime(1970, 1, 5), max_value=datetime(2100, 1, 1),
                    timezones=st.just(timezone.utc)),
       st.sampled_from(["hour", "day", "week", "month"]))
@settings(max_examples=300, deadline=None)
def test_coarsen_datetime_equals_the_column_version(when, unit):
    from pipeline.intake.generalise import coarsen_datetime, coarsen_timestamp

    frame = pl.DataFrame({"t": [when]}, schema={"t": pl.Datetime("us", "UTC")})
    assert coarsen_datetime(when, unit) == frame.select(coarsen_timestamp(pl.col("t"), unit)).item()

"""The controlled vocabularies (pipeline/intake/vocabularies.py), as data: the tables are
closed, consistent with each other, and say what their comments say. How they are applied
to answers is tested in test_generalise.py."""

from __future__ import annotations

import re

import pytest

from pipeline.intake import vocabularies as v

# The straddling areas the module's comment assigns, one by one.
DOCUMENTED_AREAS = {
    "CH": "North West", "DA": "South East", "DL": "North East",
    "DN": "Yorkshire and The Humber", "EN": "London", "HP": "South East", "IG": "London",
    "KT": "South East", "MK": "South East", "PE": "East of England", "RM": "London",
    "S": "Yorkshire and The Humber", "SK": "North West", "SP": "South West",
    "SY": "West Midlands", "TD": "Scotland", "TW": "London",
}


def _normal(text: str) -> str:
    """The module's normal form for plain (Latin) keys: lower case, non-alphanumeric runs
    to one space, trimmed."""
    return re.sub(r"[^0-9a-zà-ÿ]+", " ", text.lower()).strip()


def _first_rule(answer: str) -> str | None:
    """ETHNICITY_RULES read as documented: the first rule whose any_of (and, if given, one
    of and_any_of) occurs as a whole word or phrase."""
    padded = f" {answer} "
    for group, any_of, and_any_of in v.ETHNICITY_RULES:
        if any(f" {w} " in padded for w in any_of) and (
                not and_any_of or any(f" {w} " in padded for w in and_any_of)):
            return group
    return None


def test_postcode_areas_121_uk_and_3_crown_dependencies():
    assert len(v.POSTCODE_AREA_REGION) == 124
    assert all(re.fullmatch(r"[A-Z]{1,2}", a) for a in v.POSTCODE_AREA_REGION)
    assert [a for a, r in v.POSTCODE_AREA_REGION.items() if r == "Other UK"] == ["GY", "JE", "IM"]


def test_every_region_has_an_area_and_every_area_a_region():
    assert set(v.POSTCODE_AREA_REGION.values()) == set(v.REGIONS)
    assert len(v.REGIONS) == len(set(v.REGIONS)) == 13


def test_straddling_areas_go_where_the_comment_says():
    assert {a: v.POSTCODE_AREA_REGION[a] for a in DOCUMENTED_AREAS} == DOCUMENTED_AREAS


def test_not_stated_answers_mean_not_stated_for_gender():
    assert v.NOT_STATED == "not stated"
    assert all(v.GENDER_SYNONYMS[a] == v.NOT_STATED for a in v.NOT_STATED_ANSWERS)


@pytest.mark.parametrize("answer,group", [
    ("trans woman", "female"), ("cisgender male", "male"), ("enby", "non-binary"),
    ("n a", "not stated"), ("prefer not to say", "not stated"),
])
def test_gender_synonyms(answer, group):
    assert v.GENDER_SYNONYMS[answer] == group


def test_unlisted_gender_answers_are_left_to_other():
    """"other" is the fallback, never a listed synonym: an unlisted answer cannot be
    mistaken for a listed one."""
    assert "other" not in v.GENDER_SYNONYMS.values()
    assert "agender" not in v.GENDER_SYNONYMS


@pytest.mark.parametrize("answer,group", [
    ("mixed white and asian", v.MIXED), ("white and black caribbean", v.MIXED),
    ("black and asian", v.MIXED), ("any other white background", v.WHITE),
    ("west indian", v.BLACK), ("british indian", v.ASIAN), ("east african asian", v.ASIAN),
    ("black british", v.BLACK), ("nigerian", v.BLACK), ("british arab", v.OTHER_ETHNIC),
    ("british", v.WHITE), ("irish traveller", v.WHITE), ("martian", None),
])
def test_ethnicity_rules_in_their_documented_order(answer, group):
    assert _first_rule(answer) == group


def test_ethnicity_keywords_are_whole_words_in_normal_form():
    words = [w for _, a, b in v.ETHNICITY_RULES for w in a + b]
    assert words and all(w == _normal(w) for w in words)
    assert {g for g, _, _ in v.ETHNICITY_RULES} | {v.NOT_STATED} == set(v.ETHNICITY_GROUPS)


def test_each_language_synonym_names_one_language():
    synonyms = [s for syns in v.LANGUAGE_SYNONYMS.values() for s in syns]
    duplicates = sorted({s for s in synonyms if synonyms.count(s) > 1})
    assert duplicates == []
    assert len(v.LANGUAGE_LOOKUP) == len(synonyms)


def test_each_language_is_found_by_its_english_name():
    for name, syns in v.LANGUAGE_SYNONYMS.items():
        assert _normal(name) in syns, name


def test_no_language_synonym_is_a_not_stated_answer():
    assert set(v.LANGUAGE_LOOKUP) & set(v.NOT_STATED_ANSWERS) == set()


def test_language_groups_are_the_languages_then_other_then_not_stated():
    assert v.LANGUAGE_GROUPS == (*v.LANGUAGE_SYNONYMS, "other", "not stated")
    assert len(v.LANGUAGE_SYNONYMS) == 32

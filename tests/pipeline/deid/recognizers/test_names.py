"""Names: cue phrases, gazetteer, rarity; clinical words are never taken for names."""

from __future__ import annotations

import pytest

from pipeline.deid.recognizers.names import DERIVED
from tests.pipeline.deid.recognizers.conftest import spans


@pytest.mark.parametrize("text,name", [("i'm jess, 17", "jess"), ("thanks dr patel", "patel"),
                                       ("Went out with Oliver", "Oliver")])
def test_names_exact(engine, text, name):
    assert (name, "PERSON") in spans(engine, text)


@pytest.mark.parametrize("text", [
    "i take Prozac and quetiapine", "venlafaxine made me sick", "Counselling helps",
    "Loneliness is the worst", "i keep dissociating", "i thought about overdosing",
])
def test_clinical_words_are_not_names(engine, text):
    assert [s for s in spans(engine, text) if s[1] == "PERSON"] == []


def test_derived_words_are_not_rare_names():
    assert DERIVED.search("possessiveness") and DERIVED.search("dissociating")
    assert not DERIVED.search("zorblax")


@pytest.mark.parametrize("text", ["i'm gay and scared to tell anyone", "Fundamental Freedoms matter"])
def test_cue_words_and_plural_common_nouns_are_not_names(engine, text):
    assert [s for s in spans(engine, text) if s[1] == "PERSON"] == []


def test_capitalisation_is_read_by_register():
    from pipeline.deid.recognizers.names import NameGazetteerRecognizer

    r = NameGazetteerRecognizer()
    short = "no one here likes Trump at all"
    assert [short[x.start:x.end] for x in r.analyze(short, [])] == ["Trump"]
    # the same word in a document, where nouns are often capitalised, needs to be rarer
    document = ("The applicant complained under Article 6 of the Convention that the proceedings "
                "had been unfair, and that no one here likes Trump at all, which the Government disputed.")
    assert "Trump" not in [document[x.start:x.end] for x in r.analyze(document, [])]

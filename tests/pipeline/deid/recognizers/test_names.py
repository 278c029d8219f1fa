"""Names: cue phrases, gazetteer, rarity; clinical words are never taken for names."""

from __future__ import annotations

import pytest

from pipeline.deid.recognizers.names import DERIVED
from tests.pipeline.deid.recognizers.conftest import (Cases, assert_found, assert_nothing, negatives,
                                                   positives, spans)

# Per registered recognizer (pipeline/deid/deid_recognizers.yaml): exact spans it must find
# on its own and through the engine, and texts where it must find nothing (test_registry.py
# checks every registered recognizer has cases here or in a sibling file).
CASES = {
    "SpacyRecognizer": Cases(
        found=[("i emailed Barclays about my debt", (10, 18, "ORGANIZATION")),
               ("i had a chat with Barack Obama", (18, 30, "PERSON")),
               ("she works at Microsoft in Seattle", (26, 33, "LOCATION"))],
        nothing=["i'm so lonely and overwhelmed", "i feel anxious all the time and can't sleep"]),
    "NameGazetteerRecognizer": Cases(
        found=[("lol tell kieran i said hi", (9, 15, "PERSON")),
               ("went with oliver and amelia", (21, 27, "PERSON"))],
        nothing=["i'm tired", "i want to deal with my anger", "i hope things get better"]),
    "SelfIntroductionRecognizer": Cases(
        found=[("hi im jess btw", (6, 10, "PERSON")),
               ("my name is zorblax", (11, 18, "PERSON"))],
        nothing=["i'm tired and sad", "i'm gay and scared to tell anyone"]),
}


@pytest.mark.parametrize("name,text,expected", positives(CASES))
def test_each_recognizer_finds_its_exact_spans(engine, name, text, expected):
    assert_found(engine, name, text, expected)


@pytest.mark.parametrize("name,text", negatives(CASES))
def test_each_recognizer_finds_nothing_here(engine, name, text):
    assert_nothing(engine, name, text)


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

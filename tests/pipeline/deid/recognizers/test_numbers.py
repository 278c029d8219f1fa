"""Phones (also in words), streets without a number: exact spans."""

from __future__ import annotations

import pytest

from pipeline.deid.recognizers.numbers import SpelledPhoneRecognizer
from tests.pipeline.deid.recognizers.conftest import (Cases, assert_found, assert_nothing, negatives,
                                                   positives, spans)

# Per registered recognizer (pipeline/deid/deid_recognizers.yaml): exact spans it must find
# on its own and through the engine, and texts where it must find nothing (test_registry.py
# checks every registered recognizer has cases here or in a sibling file).
CASES = {
    "GatedPhoneRecognizer": Cases(
        found=[("ring 0800 1111 if you need", (5, 14, "PHONE_NUMBER"))],
        nothing=["text me on 07700 900123", "i took 20mg of sertraline"]),
    "ChatPhoneRecognizer": Cases(
        found=[("text me on 07700 900123", (11, 23, "PHONE_NUMBER")),
               ("ring 555-0134-221 anytime", (5, 17, "PHONE_NUMBER")),
               ("call +44 (0)20 7946 0018 ext 204", (5, 32, "PHONE_NUMBER"))],
        nothing=["i scored 15 on the phq-9", "on 2024-01-31 i slept badly"]),
    "SpelledPhoneRecognizer": Cases(
        found=[("ring oh seven seven double oh nine one two three four five six", (5, 62, "PHONE_NUMBER"))],
        nothing=["one two three four", "i counted one two three and breathed"]),
    "StreetAddressRecognizer": Cases(
        found=[("i live at 14 Acacia Avenue, LS6 2AB", (10, 26, "STREET_ADDRESS")),
               ("Flat 3, Brook Mews", (0, 18, "STREET_ADDRESS"))],
        nothing=["i worked 8 hours cleaning the place", "On 18 September 2001 the Regional Court refused"]),
    "ChatUkPostcodeRecognizer": Cases(
        found=[("postcode is sw1a 1aa", (12, 20, "UK_POSTCODE")),
               ("i live at 14 Acacia Avenue, LS6 2AB", (28, 35, "UK_POSTCODE"))],
        nothing=["i feel low", "i took 20mg of sertraline"]),
    "UsZipRecognizer": Cases(
        found=[("zip code 90210", (9, 14, "US_ZIP")),
               ("we moved to Austin, TX 78701 last year", (20, 28, "US_ZIP"))],
        nothing=["i walked 1000 steps today"]),
}


@pytest.mark.parametrize("name,text,expected", positives(CASES))
def test_each_recognizer_finds_its_exact_spans(engine, name, text, expected):
    assert_found(engine, name, text, expected)


@pytest.mark.parametrize("name,text", negatives(CASES))
def test_each_recognizer_finds_nothing_here(engine, name, text):
    assert_nothing(engine, name, text)


EXACT = [
    ("ring oh seven seven double oh nine one two three four five six",
     ("oh seven seven double oh nine one two three four five six", "PHONE_NUMBER")),
    ("she lives on Kennedy Avenue now", ("Kennedy Avenue", "LOCATION")),
    ("i live at 14 Acacia Avenue, LS6 2AB", ("14 Acacia Avenue", "STREET_ADDRESS")),
]


@pytest.mark.parametrize("text,expected", EXACT, ids=[e[1][0][:20] for e in EXACT])
def test_exact_spans(engine, text, expected):
    found = spans(engine, text)
    assert any(expected[0] in v for v, _ in found), found


def test_counting_words_are_not_a_phone():
    r = SpelledPhoneRecognizer()
    assert r.validate_result("one two three") is False
    assert r.validate_result("1 2 3 4 5 6 7") is False  # figures alone: the digit recognizers' job
    assert r.validate_result("oh seven seven double oh nine one two three") is None

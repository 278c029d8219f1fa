"""Places, saints, areas and organisations: exact spans through the engine."""

from __future__ import annotations

import pytest

from pipeline.deid.recognizers import fold, place_names
from tests.pipeline.deid.recognizers.conftest import (Cases, assert_found, assert_nothing, negatives,
                                                   positives, spans)

# Per registered recognizer (pipeline/deid/deid_recognizers.yaml): exact spans it must find
# on its own and through the engine, and texts where it must find nothing (test_registry.py
# checks every registered recognizer has cases here or in a sibling file).
CASES = {
    "PlaceGazetteerRecognizer": Cases(
        found=[("i live in leeds now", (10, 15, "LOCATION")),
               ("moved to izmir last year", (9, 14, "LOCATION"))],
        nothing=["i want to deal with my anger", "i went back to high school"]),
    "FacilityRecognizer": Cases(
        found=[("he was sent to Honor camp", (15, 25, "LOCATION")),
               ("we met outside Greyfriars Library", (15, 33, "LOCATION"))],
        nothing=["we met at the hospital", "my school is fine"]),
    "SaintRecognizer": Cases(
        found=[("we went to st bede's", (11, 20, "LOCATION")),
               ("i go to saint john's on sundays", (8, 20, "LOCATION"))],
        nothing=["the first step is hard"]),
    "AreaRecognizer": Cases(
        found=[("she grew up in the municipality of Härjedalen", (19, 45, "LOCATION")),
               ("we live off Elkington ave", (12, 25, "LOCATION"))],
        nothing=["we took the long road home", "the district nurse came"]),
    "OrganisationRecognizer": Cases(
        found=[("she works for Hope Recovery Network now", (14, 35, "ORGANIZATION"))],
        nothing=["the court said no", "my school is fine", "the Government replied"]),
}


@pytest.mark.parametrize("name,text,expected", positives(CASES))
def test_each_recognizer_finds_its_exact_spans(engine, name, text, expected):
    assert_found(engine, name, text, expected)


@pytest.mark.parametrize("name,text", negatives(CASES))
def test_each_recognizer_finds_nothing_here(engine, name, text):
    assert_nothing(engine, name, text)


EXACT = [
    ("lives in Miechucino, Poland.", "Miechucino"),
    ("a lawyer practising in İzmir.", "İzmir"),
    ("moved to izmir last year", "izmir"),
    ("we went to st bede's", "st bede's"),
    ("a village in the District of Famagusta in the north", "District of Famagusta"),
    ("the Warsaw Court of Appeal dismissed it", "Warsaw Court of Appeal"),
    ("a letter from the Ministry of Justice", "Ministry of Justice"),
    ("we took the Cottonpet road home", "Cottonpet road"),
    ("in the heart of #Kashmir today", "#Kashmir"),
]


@pytest.mark.parametrize("text,secret", EXACT, ids=[e[1] for e in EXACT])
def test_masked_whole(engine, text, secret):
    start = text.index(secret)
    found = engine.analyze([text])[0]
    assert any(s.start <= start and s.end >= start + len(secret) for s in found), spans(engine, text)


@pytest.mark.parametrize("text", ["i went back to high school", "the court said no",
                                  "the Government replied", "my school is fine"])
def test_common_nouns_are_not_organisations(engine, text):
    assert [s for s in spans(engine, text) if s[1] == "ORGANIZATION"] == []


def test_unicode_folding():
    assert fold("İzmir") == "izmir" and fold("Łódź") == "łodz"
    assert ("izmir",) in {p for p, _ in place_names()["izmir"]}


def test_a_venue_keeps_its_own_article_and_state_codes_after_to(engine):
    assert ("The Echo", "LOCATION") in spans(engine, "playing tonight at The Echo")
    assert any(v == "GA" for v, _ in spans(engine, "made it back home to GA"))

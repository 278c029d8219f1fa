"""Places, saints, areas and organisations: exact spans through the engine."""

from __future__ import annotations

import pytest

from pipeline.deid.recognizers import fold, place_names
from tests.pipeline.deid.recognizers.conftest import spans

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

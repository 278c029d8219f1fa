"""Handles, e-mail addresses in any domain and spelled out, URLs: exact spans."""

from __future__ import annotations

import pytest

from tests.pipeline.deid.recognizers.conftest import (Cases, assert_found, assert_nothing, negatives,
                                                   positives, spans)

# Per registered recognizer (pipeline/deid/deid_recognizers.yaml): exact spans it must find
# on its own and through the engine, and texts where it must find nothing (test_registry.py
# checks every registered recognizer has cases here or in a sibling file).
CASES = {
    "EmailRecognizer": Cases(
        found=[("mail me jo.bloggs@example.org", (8, 29, "EMAIL_ADDRESS"))],
        nothing=["i was at home and felt like a dot in the sky"]),
    "ChatEmailRecognizer": Cases(
        found=[("email jo.b@clinic.internal now", (6, 26, "EMAIL_ADDRESS"))],
        nothing=["i was at home and felt like a dot in the sky"]),
    "SpelledEmailRecognizer": Cases(
        found=[("john dot smith at gmail dot com", (0, 31, "EMAIL_ADDRESS")),
               ("write to jo [at] example [dot] org please", (9, 34, "EMAIL_ADDRESS"))],
        nothing=["i was at home and felt like a dot in the sky"]),
    "UrlRecognizer": Cases(
        found=[("check out mysite.com for my art", (10, 20, "URL"))],
        nothing=["i was at home and felt like a dot in the sky"]),
    "ChatUrlRecognizer": Cases(
        found=[("see https://example.biz/my/blog", (4, 31, "URL"))],
        nothing=["this is a normal sentence. with dots."]),
    "HandleRecognizer": Cases(
        found=[("follow @sad_panda_22", (7, 20, "HANDLE")),
               ("dm u/throwaway_lonely_88 later", (3, 24, "HANDLE"))],
        nothing=["mail jo@example.org"]),
    "IpRecognizer": Cases(
        found=[("my ip is 192.168.10.24", (9, 22, "IP_ADDRESS"))],
        nothing=["version 1.2 of the app"]),
}


@pytest.mark.parametrize("name,text,expected", positives(CASES))
def test_each_recognizer_finds_its_exact_spans(engine, name, text, expected):
    assert_found(engine, name, text, expected)


@pytest.mark.parametrize("name,text", negatives(CASES))
def test_each_recognizer_finds_nothing_here(engine, name, text):
    assert_nothing(engine, name, text)


EXACT = [
    ("john dot smith at gmail dot com", ("john dot smith at gmail dot com", "EMAIL_ADDRESS")),
    ("write to jo [at] example [dot] org please", ("jo [at] example [dot] org", "EMAIL_ADDRESS")),
    ("email jo.b@clinic.internal now", ("jo.b@clinic.internal", "EMAIL_ADDRESS")),
    ("dm u/throwaway_lonely_88 later", ("u/throwaway_lonely_88", "HANDLE")),
    ("follow @sad_panda_22", ("@sad_panda_22", "HANDLE")),
]


@pytest.mark.parametrize("text,expected", EXACT, ids=[e[1][0] for e in EXACT])
def test_exact_spans(engine, text, expected):
    assert expected in spans(engine, text), spans(engine, text)


def test_at_and_dot_in_prose_are_not_an_email(engine):
    assert spans(engine, "i was at home and felt like a dot in the sky") == []

"""Phones (also in words), streets without a number: exact spans."""

from __future__ import annotations

import pytest

from pipeline.deid.recognizers.numbers import SpelledPhoneRecognizer
from tests.pipeline.deid.recognizers.conftest import spans

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

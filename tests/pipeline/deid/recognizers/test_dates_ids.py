"""Dates, ages and identifying numbers: exact spans through the engine, durations kept."""

from __future__ import annotations

import pytest

from pipeline.deid.recognizers import ChatDateRecognizer, FullDateRecognizer, RecordNumberRecognizer
from tests.pipeline.deid.recognizers.conftest import (Cases, assert_found, assert_nothing, negatives,
                                                   positives, spans)

# Per registered recognizer (pipeline/deid/deid_recognizers.yaml): exact spans it must find
# on its own and through the engine, and texts where it must find nothing (test_registry.py
# checks every registered recognizer has cases here or in a sibling file).
CASES = {
    "AgeRecognizer": Cases(
        found=[("she is 16 years old", (7, 19, "AGE")),
               ("i'm jess, 17 and scared", (10, 12, "AGE")),
               ("he is 34yo and lives alone", (6, 10, "AGE"))],
        nothing=["i'm 5 minutes late", "i sleep about 4 hours a night", "for three years"]),
    "ChatDateRecognizer": Cases(
        found=[("born on 03/11/1991", (8, 18, "DATE")),
               ("dob 3rd March 1991", (4, 18, "DATE")),
               ("it started in February 1992", (14, 27, "DATE")),
               ("back in the 1990s", (12, 17, "DATE"))],
        nothing=["for three years", "it has been six months since the funeral", "i ate 2000 calories"]),
    "RecordNumberRecognizer": Cases(
        found=[("my MRN 12345678 is on the letter", (3, 15, "ID_NUMBER")),
               ("(no. 18403/91) against", (5, 13, "ID_NUMBER")),
               ("registration no. D-4840 was", (17, 23, "ID_NUMBER"))],
        nothing=["24/7 support", "i scored 3/4"]),
    "NhsRecognizer": Cases(
        found=[("my nhs number is 943 476 5919", (17, 29, "UK_NHS"))],
        nothing=["my nhs number is 943 476 5918"]),
    "CreditCardRecognizer": Cases(
        found=[("card 4111 1111 1111 1111 please", (5, 24, "CREDIT_CARD"))],
        nothing=["card 4111 1111 1111 1112 please"]),
    "IbanRecognizer": Cases(
        found=[("pay to GB82 WEST 1234 5698 7654 32 today", (7, 34, "IBAN_CODE"))],
        nothing=["pay to GB82 WEST 1234 5698 7654 33 today"]),
    "UsSsnRecognizer": Cases(
        found=[("my ssn is 536-22-1234", (10, 21, "US_SSN"))],
        nothing=["my ssn is 000-00-0000"]),
}


@pytest.mark.parametrize("name,text,expected", positives(CASES))
def test_each_recognizer_finds_its_exact_spans(engine, name, text, expected):
    assert_found(engine, name, text, expected)


@pytest.mark.parametrize("name,text", negatives(CASES))
def test_each_recognizer_finds_nothing_here(engine, name, text):
    assert_nothing(engine, name, text)


EXACT = [
    ("On 20 May 2004 the court met", ("20 May 2004", "DATE")),
    ("born in 1954 and lives here", ("1954", "DATE")),
    ("from 1960 to 1979 she worked", ("from 1960 to 1979", "DATE")),
    ("between 5 May 2006 and 24 October 2008, they", ("between 5 May 2006 and 24 October 2008", "DATE")),
    ("hearings on 30 May, 10 July and 17 October 1997.", ("30 May, 10 July and 17 October 1997", "DATE")),
    ("it started in February 1992", ("February 1992", "DATE")),
    ("back in the 1990s", ("1990s", "DATE")),
    ("i'm jess, 17 and scared", ("17", "AGE")),
    ("(no. 18403/91) against", ("18403/91", "ID_NUMBER")),
    ("under case no. 1996/302.", ("1996/302", "ID_NUMBER")),
    ("registration no. D-4840 was", ("D-4840", "ID_NUMBER")),
]


@pytest.mark.parametrize("text,expected", EXACT, ids=[e[1][0] for e in EXACT])
def test_exact_spans(engine, text, expected):
    assert expected in spans(engine, text), spans(engine, text)


@pytest.mark.parametrize("text", [
    "for three years", "two months' imprisonment", "i ate 2000 calories", "24/7 support",
    "i scored 3/4", "i worked 8 hours cleaning the place", "sentenced to ten months",
])
def test_durations_quantities_and_fractions_are_not_dates_or_ids(engine, text):
    assert [s for s in spans(engine, text) if s[1] in {"DATE", "ID_NUMBER", "STREET_ADDRESS"}] == []


def test_the_address_pattern_no_longer_swallows_a_date(engine):
    text = "On 18 September 2001 the Regional Court refused"
    found = spans(engine, text)
    assert ("18 September 2001", "DATE") in found
    assert all(t != "STREET_ADDRESS" for _, t in found), found


def test_digit_rules():
    ids = RecordNumberRecognizer()
    assert ids.validate_result("3/4") is False and ids.validate_result("12/10/2020") is False
    assert ids.validate_result("18403/91") is None
    assert ChatDateRecognizer().analyze("for 3 years", ["DATE"]) == []


def test_full_date_recognizer_is_the_date_recognizer_under_its_old_name():
    """FullDateRecognizer is not registered by that name: it is ChatDateRecognizer (whose
    cases above run through the engine), and it finds and tags what that one does."""
    assert FullDateRecognizer is ChatDateRecognizer
    text = "born on 03/11/1991, not for three years"
    found = FullDateRecognizer().analyze(text, ["DATE"])
    assert [(r.start, r.end, r.entity_type, r.recognition_metadata["recognizer_name"]) for r in found] == \
        [(8, 18, "DATE", "ChatDateRecognizer")]

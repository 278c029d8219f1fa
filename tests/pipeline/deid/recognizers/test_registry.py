"""Each recognizer, positive and negative, through the real engine (pinned spaCy model); every
registered recognizer has exact cases of its own (so deleting one fails a test)."""

from __future__ import annotations

import pytest

from pipeline.deid.recognizers import (ChatDateRecognizer, ChatPhoneRecognizer, all_recognizer_classes,
                                  first_and_last_names, nickname_stems, place_names)
from tests.pipeline.deid.recognizers import (test_dates_ids, test_names, test_numbers, test_online,
                                             test_places)
from tests.pipeline.deid.recognizers.conftest import recognizer_class, registered

# one test file per recognizer module; Presidio's own recognizers are filed by what they find
CASE_FILES = {"names": test_names, "places": test_places, "numbers": test_numbers,
              "dates_ids": test_dates_ids, "online": test_online}


def found(engine, text):
    return [(text[s.start:s.end], s.entity_type) for s in engine.analyze([text])[0]]


def masked(engine, text, secret):
    spans = engine.analyze([text])[0]
    start = text.index(secret)
    end = start + len(secret)
    return all(any(s.start <= i < s.end for s in spans) for i in range(start, end)
               if not text[i].isspace())


POSITIVE = [
    # self-introductions and address forms, in lower case
    ("my name is sam", "sam"), ("hi im jess btw", "jess"), ("call me alex", "alex"),
    ("thanks dr patel", "patel"), ("my sister Kat won't listen", "Kat"),
    ("my name's Priya Sharma", "Priya Sharma"),
    # gazetteer names, places
    ("i told sarah everything", "sarah"), ("Went out with Oliver and Amelia", "Oliver"),
    ("i live in leeds now", "leeds"), ("moved from Manchester last year", "Manchester"),
    ("we met at St Mary's Hospital", "St Mary's Hospital"),
    # numbers and addresses
    ("my nhs number is 943 476 5919", "943 476 5919"),
    ("text me on 07700 900123", "07700 900123"),
    ("call +44 (0)20 7946 0018 ext 204", "+44 (0)20 7946 0018 ext 204"),
    ("ring 555-0134-221 anytime", "555-0134-221"),
    ("i live at 14 Acacia Avenue, LS6 2AB", "14 Acacia Avenue"),
    ("postcode is sw1a 1aa", "sw1a 1aa"), ("zip code 90210", "90210"),
    ("Flat 3, Brook Mews", "Flat 3, Brook Mews"),
    # online
    ("mail me jo.bloggs@example.org", "jo.bloggs@example.org"),
    ("see https://example.biz/my/blog", "https://example.biz/my/blog"),
    ("my ip is 192.168.10.24", "192.168.10.24"), ("follow @sad_panda_22", "@sad_panda_22"),
    # ages, dates, record numbers
    ("i'm 34 and tired", "34"), ("she is 16 years old", "16 years old"),
    ("born on 03/11/1991", "03/11/1991"), ("dob 3rd March 1991", "3rd March 1991"),
    ("my MRN 12345678 is on the letter", "MRN 12345678"),
]


@pytest.mark.parametrize("text,secret", POSITIVE, ids=[p[1] for p in POSITIVE])
def test_identifiers_are_masked(engine, text, secret):
    assert masked(engine, text, secret), found(engine, text)


NEGATIVE = [
    "i have felt low for three years", "it has been six months since the funeral",
    "last week was awful and yesterday was worse", "i sleep about 4 hours a night",
    "i'm tired", "i am suicidal", "im numb", "i'm so lonely and overwhelmed",
    "i want to deal with my anger", "i hope things get better", "i will try the exercise",
    "my therapist said to keep a diary", "the breathing exercise helped a bit",
    "i took 20mg of sertraline", "i scored 15 on the phq-9", "i'm 5 minutes late",
]


@pytest.mark.parametrize("text", NEGATIVE)
def test_clinical_and_temporal_language_is_kept(engine, text):
    assert found(engine, text) == []


def test_checksums_and_digit_rules():
    phone = ChatPhoneRecognizer()
    assert phone.validate_result("07700 900123") is None  # kept at pattern score
    assert phone.validate_result("12 34") is False  # too few digits
    assert phone.validate_result("2024-01-31") is False  # a date
    date = ChatDateRecognizer()
    assert date.analyze("born 31/12/1990", ["DATE"])
    assert not date.analyze("for 3 years", ["DATE"])


def test_data_comes_from_maintained_packages():
    assert {"olivia", "patel", "smith"} <= first_and_last_names()
    assert "jess" in nickname_stems() and "alex" in nickname_stems()
    assert ("leeds",) in {p for p, _ in place_names()["leeds"]}


def test_nhs_number_beats_a_phone_reading(engine):
    assert found(engine, "nhs 943 476 5919") == [("943 476 5919", "UK_NHS")]


def test_every_registered_recognizer_has_exact_cases():
    """The recognizers with cases are exactly those the shipped file registers: a recognizer
    added without cases, or cases left for one removed, fail here."""
    entries, _ = registered()
    keys = [name for module in CASE_FILES.values() for name in module.CASES]
    assert len(keys) == len(set(keys)), "a recognizer has cases in two files"
    assert set(keys) == set(entries), (sorted(set(entries) - set(keys)), sorted(set(keys) - set(entries)))
    for module in CASE_FILES.values():
        for name, cases in module.CASES.items():
            assert cases.found and cases.nothing, name
            assert all(0 <= a < b <= len(t) for t, (a, b, _) in cases.found), name
            recognizer_class(name)  # a class Presidio's registry can load by that name


def test_our_recognizers_have_their_cases_in_their_module_test_file():
    for cls in all_recognizer_classes():
        module = cls.__module__.rsplit(".", 1)[1]
        assert cls.__name__ in CASE_FILES[module].CASES, (cls.__name__, module)


def test_the_engine_loads_exactly_the_registered_recognizers(engine):
    entries, _ = registered()
    assert sorted(r.name for r in engine.analyzer.registry.recognizers) == sorted(entries)

"""The clinical keep-list: from the maintained drug dictionary and our stem list; never a name."""

from __future__ import annotations

from pipeline.deid.keep_list import clinical_stems, is_kept, kept_words, medication_names
from pipeline.deid.recognizers import first_and_last_names


def test_medications_come_from_the_drug_dictionary():
    meds = medication_names()
    assert len(meds) > 10_000
    assert {"prozac", "quetiapine", "venlafaxine", "sertraline", "seroquel"} <= meds


def test_no_kept_word_is_a_person_name():
    names = first_and_last_names()
    assert not (medication_names() & names)
    assert not is_kept("allegra") and not is_kept("panicucci")
    assert "add" not in clinical_stems()  # would keep "Addison"


def test_symptoms_and_care_words_by_stem():
    assert is_kept("Dissociating") and is_kept("overdosing") and is_kept("Counselling")
    assert not is_kept("Sarah")
    text = "Prozac and counselling"
    assert [text[a:b] for a, b in kept_words(text)] == ["Prozac", "counselling"]


def test_a_drug_synonym_that_is_a_name_anywhere_is_not_kept():
    # the dictionary lists "kendrick" as a synonym of cefotaxime; it is a name in Faker's lists
    assert "kendrick" not in medication_names() and not is_kept("Kendrick")


def test_a_stated_name_never_yields_to_the_keep_list(engine):
    text = "my name is prozac"  # absurd, but a cue phrase beats any list
    assert [text[s.start:s.end] for s in engine.analyze([text])[0]] == ["prozac"]


def test_names_and_places_that_begin_like_clinical_words_are_not_kept():
    for word in ("Abusaleh", "Panicker", "Counsell", "Traumann", "Benzoni", "Maniam", "Manickam"):
        assert not is_kept(word.lower()), word
    assert is_kept("panicked") and is_kept("counsellor") and is_kept("anxious")
    # mid-sentence capitals are how names are written: only a medication name is kept there
    assert not is_kept("Counselling", mid_sentence_capital=True)
    assert is_kept("Prozac", mid_sentence_capital=True)
    # drug synonyms that are places or short brand names are not medications here
    assert not {"fargo", "hemel", "bingen", "aman"} & medication_names()


def test_names_and_places_stay_masked_next_to_the_keep_list(engine):
    for text, secret in [("my friend Tariq Abusaleh messaged me", "Abusaleh"),
                         ("my teacher Mrs Panicker is kind", "Panicker"),
                         ("Mr Counsell is my teacher", "Counsell"),
                         ("I moved to Fargo last year", "Fargo"),
                         ("i live in Hemel Hempstead", "Hemel"),
                         ("my name is Aman Counsell", "Aman Counsell"),
                         ("Dr Maniam said it was fine", "Maniam")]:
        start = text.index(secret)
        found = engine.analyze([text])[0]
        assert any(s.start <= start and s.end >= start + len(secret) for s in found), (text, found)

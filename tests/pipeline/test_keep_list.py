"""The clinical keep-list: from the maintained drug dictionary and our stem list; never a name."""

from __future__ import annotations

from pipeline.keep_list import clinical_stems, is_kept, kept_words, medication_names
from pipeline.recognizers import first_and_last_names


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

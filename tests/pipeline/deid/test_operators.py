"""Operators: placeholders, redact, mask, hash; re-masking; public numbers."""

from __future__ import annotations

from pipeline.deid import Operator, Span


def test_placeholders_are_consistent_within_a_conversation():
    op = Operator()
    a = op.apply("hi Sam", [Span(3, 6, "PERSON", 1.0)])
    b = op.apply("Sam and Jo", [Span(0, 3, "PERSON", 1.0), Span(8, 10, "PERSON", 1.0)])
    assert (a, b) == ("hi <PERSON_1>", "<PERSON_1> and <PERSON_2>")

def test_other_operators():
    span = [Span(3, 6, "PERSON", 1.0)]
    assert Operator("redact").apply("hi Sam", span) == "hi <REDACTED>"
    assert Operator("mask").apply("hi Sam", span) == "hi ***"
    hashed = Operator("hash", b"k" * 32).apply("hi Sam", span)
    assert hashed.startswith("hi <PERSON:") and "Sam" not in hashed
    assert hashed == Operator("hash", b"k" * 32).apply("hi sam", span)

def test_operator_per_entity_and_entity_filter():
    spans = [Span(0, 3, "PERSON", 1.0), Span(7, 9, "AGE", 1.0), Span(13, 16, "URL", 1.0)]
    op = Operator("placeholder", b"k" * 32, {"AGE": "redact"}, frozenset({"PERSON", "AGE"}))
    assert op.apply("Sam is 34 at x.y", spans) == "<PERSON_1> is <REDACTED> at x.y"

def test_re_masking_respects_token_boundaries_and_common_words():
    op = Operator()
    assert op.apply("don said hi", [Span(0, 3, "PERSON", 0.85)]) == "<PERSON_1> said hi"
    assert op.apply("i don't know, don's car", []) == "i don't know, <PERSON_1>'s car"
    op = Operator()
    op.apply("Appeal dismissed", [Span(0, 6, "PERSON", 0.5)])  # a weak guess of a common word
    assert op.apply("my appeal failed", []) == "my appeal failed"

def test_public_numbers_from_the_policy_are_kept_and_others_masked():
    op = Operator(public_numbers=["116 123", "1-800-273-8255"])
    text = "call 116 123 or 18002738255 or 07700 900123"
    found = [Span(5, 12, "PHONE_NUMBER", 0.7), Span(16, 27, "PHONE_NUMBER", 0.7),
             Span(31, 43, "PHONE_NUMBER", 0.7)]
    assert op.apply(text, found) == "call 116 123 or 18002738255 or <PHONE_NUMBER_1>"


def test_a_recurring_name_in_quotes_is_re_masked_with_the_same_placeholder():
    op = Operator()
    op.apply("my sister Kat hates me", [Span(10, 13, "PERSON", 0.85)])
    assert op.apply("my ex said 'kat is crazy'", []) == "my ex said '<PERSON_1> is crazy'"
    assert op.apply("'Kat' is what everyone calls her", [Span(1, 4, "PERSON", 0.85)]) == \
        "'<PERSON_1>' is what everyone calls her"


def test_a_number_spelled_partly_in_words_is_never_a_public_line():
    op = Operator(public_numbers=["85258"])
    text = "text me on oh seven seven double one 8 5 2 5 8"
    found = [Span(11, len(text), "PHONE_NUMBER", 0.6)]
    assert op.apply(text, found) == "text me on <PHONE_NUMBER_1>"


def test_a_span_stays_masked_when_only_a_merged_type_is_wanted():
    op = Operator(entities=frozenset({"LOCATION"}))
    found = [Span(10, 15, "ORGANIZATION", 0.85, ("LOCATION",))]
    assert op.apply("i live in Derby", found) == "i live in <LOCATION_1>"

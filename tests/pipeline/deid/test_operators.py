"""Operators: placeholders, redact, mask, hash; re-masking; public numbers."""

from __future__ import annotations

import pytest

from pipeline.deid import UNLISTED_OPERATOR, Operator, Span


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

def test_operator_per_entity_and_a_type_the_policy_does_not_list():
    spans = [Span(0, 3, "PERSON", 1.0), Span(7, 9, "AGE", 1.0), Span(13, 16, "URL", 1.0)]
    op = Operator("placeholder", b"k" * 32, {"AGE": "redact"}, frozenset({"PERSON", "AGE"}))
    # URL is not listed: still replaced (fail closed), with a type placeholder
    assert op.apply("Sam is 34 at x.y", spans) == "<PERSON_1> is <REDACTED> at <URL_1>"


def test_fail_closed_every_type_found_is_replaced_whatever_the_list():
    text = "Acme Ltd said on Monday that the Kurdish staff of Sam stay"
    found = [Span(0, 8, "ORGANIZATION", 0.85), Span(17, 23, "DATE_TIME", 0.85),
             Span(33, 40, "NRP", 0.85), Span(50, 53, "PERSON", 0.86)]
    for kind in ("redact", "hash", "mask", "placeholder"):
        op = Operator(kind, b"k" * 32, entities=frozenset({"PERSON"}))
        out, masked = op.redact(text, found)
        assert [(s.start, s.end) for s in masked] == [(s.start, s.end) for s in found], kind
        for secret in ("Acme", "Monday", "Kurdish", "Sam"):
            assert secret not in out, (kind, secret)
        # the listed type gets the policy's operator; the others a type placeholder
        assert "<ORGANIZATION_1>" in out and "<DATE_TIME_1>" in out and "<NRP_1>" in out, kind
        assert ("<PERSON_1>" in out) == (kind == "placeholder"), kind
    # an operator the policy names for an unlisted type is used
    op = Operator("placeholder", entities=frozenset({"PERSON"}), per_entity={"NRP": "redact"})
    assert op.apply(text, found).count("<REDACTED>") == 1
    assert op.operator_for("NRP") == "redact" and op.operator_for("DATE_TIME") == UNLISTED_OPERATOR


def test_an_unknown_operator_is_refused():
    with pytest.raises(ValueError, match="unknown operators"):
        Operator("shred")
    with pytest.raises(ValueError, match="unknown operators"):
        Operator(per_entity={"PERSON": "shred"})


def test_the_operators_implemented_are_exactly_the_names_policies_may_use(monkeypatch):
    import runpy

    import pipeline.entities
    from pipeline.deid import operators

    assert set(operators._REPLACERS) == set(pipeline.entities.OPERATORS)
    # a name added to the vocabulary without an implementation stops the import
    monkeypatch.setattr(pipeline.entities, "OPERATORS", (*pipeline.entities.OPERATORS, "shred"))
    with pytest.raises(RuntimeError, match="shred"):
        runpy.run_path(operators.__file__)

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


def test_a_span_is_replaced_as_a_merged_type_the_policy_lists():
    op = Operator("redact", entities=frozenset({"LOCATION"}), per_entity={"LOCATION": "placeholder"})
    found = [Span(10, 15, "ORGANIZATION", 0.85, ("LOCATION",))]
    assert op.apply("i live in Derby", found) == "i live in <LOCATION_1>"

"""The real engine (pinned spaCy model + Presidio) on chat-like text."""

from __future__ import annotations

import pytest

from pipeline.deid import Operator, Span, get_engine


def redact(engine, texts, kind="placeholder"):
    op = Operator(kind, b"k" * 32)
    return [op.apply(t, s) for t, s in zip(texts, engine.analyze(texts))]


def test_engine_is_built_once_per_process(engine):
    assert get_engine() is engine


@pytest.mark.parametrize("text,secret", [
    ("my name is Sarah Connor", "Sarah Connor"),
    ("email me at jo.bloggs@example.org please", "jo.bloggs@example.org"),
    ("my nhs number is 943 476 5919", "943 476 5919"),
    ("see https://example.com/my-blog for more", "https://example.com/my-blog"),
])
def test_identifiers_are_replaced(engine, text, secret):
    [out] = redact(engine, [text])
    assert secret not in out and "<" in out


def test_clinical_text_without_identifiers_is_kept(engine):
    text = "i feel anxious all the time and can't sleep"
    assert redact(engine, [text]) == [text]


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


def test_identical_texts_are_analysed_once(engine, monkeypatch):
    seen = []
    original = engine._batch.analyze_iterator

    def spy(texts, **kw):
        seen.extend(texts)
        return original(texts, **kw)

    monkeypatch.setattr(engine._batch, "analyze_iterator", spy)
    out = engine.analyze(["call Sam", "call Sam", "ok"])
    assert seen == ["call Sam", "ok"] and out[0] == out[1]

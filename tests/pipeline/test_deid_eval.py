"""The evaluation harness, and the de-identification acceptance figures as regression tests.

Real external text lives in ../shared/eval (present in CI, absent in a user's clone: those
tests skip cleanly there)."""

from __future__ import annotations

import pytest

from pipeline.deid import Span, analyze_texts
from pipeline.deid_eval import (DURATION, covered, evaluate_spans, over_redaction,
                                synthetic_corpus, wnut_corpus, counsel_texts)
from tests.conftest import EVAL

needs_eval = pytest.mark.skipif(not (EVAL / "wnut17" / "dev.conll").exists(),
                                reason="../shared/eval is not present")


def test_covered_ignores_spaces_and_checks_types():
    text = "call Sam Smith"
    assert covered(text, 5, 14, [Span(5, 8, "PERSON", 1), Span(9, 14, "PERSON", 1)])
    assert not covered(text, 5, 14, [Span(5, 8, "PERSON", 1)])
    assert not covered(text, 5, 8, [Span(5, 8, "LOCATION", 1)], {"PERSON"})


def test_wnut_reader_rebuilds_text_and_spans(tmp_path):
    f = tmp_path / "x.conll"
    f.write_text("I\tO\nmet\tO\nJohn\tB-person\nSmith\tI-person\nin\tO\nLeeds\tB-location\n\nok\tO\n")
    texts, truth = wnut_corpus(f)
    assert texts == ["I met John Smith in Leeds", "ok"]
    assert [texts[0][a:b] for a, b, _ in truth[0]] == ["John Smith", "Leeds"]


def test_duration_phrases_are_recognised_but_ages_are_not():
    assert DURATION.search("for three years") and DURATION.search("last week")
    assert DURATION.search("six months ago")
    assert not DURATION.search("she is 16 years old")


def test_over_redaction_counts_characters_and_durations():
    fake = lambda texts: [[Span(0, 3, "PERSON", 1)] for _ in texts]
    r = over_redaction(["for two years now", "abc def"], fake)
    assert r["durations_redacted"] == 1
    assert r["over_redaction"] == round(6 / 20, 5)  # "for" + "abc" of 14 + 6 characters


def test_synthetic_ground_truth_recall():
    texts, truth = synthetic_corpus(users=60, seed=31)
    r = evaluate_spans("synthetic", texts, truth, analyze_texts).as_dict()
    for kind, figures in r["entities"].items():
        floor = 0.99 if kind in {"PERSON", "PHONE_NUMBER", "EMAIL_ADDRESS", "UK_NHS", "URL"} else 0.97
        assert figures["recall_any"] >= floor, (kind, figures)


@needs_eval
def test_wnut17_dev_recall():
    texts, truth = wnut_corpus(EVAL / "wnut17" / "dev.conll")
    r = evaluate_spans("wnut", texts, truth, analyze_texts).as_dict()["entities"]
    assert r["PERSON"]["recall_any"] >= 0.85 and r["LOCATION"]["recall_any"] >= 0.85, r


@needs_eval
def test_counsel_chat_over_redaction_and_durations():
    r = over_redaction(counsel_texts(EVAL / "counsel_chat" / "questions.jsonl"), analyze_texts)
    assert r["over_redaction"] <= 0.01 and r["durations_redacted"] == 0, r

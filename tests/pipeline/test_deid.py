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


def test_skipped_spacy_components_cannot_change_the_entities():
    """NER in the small English model has its own tok2vec: running tagger, parser and the
    shared tok2vec changes no entity. Checked on real chat-like text."""
    import spacy

    from pipeline.deid import SPACY_EXCLUDE, model_name
    from pipeline.deid_eval import synthetic_corpus

    texts, _ = synthetic_corpus(users=30, seed=5)
    texts = list(dict.fromkeys(texts))[:400]
    full = spacy.load(model_name())
    lean = spacy.load(model_name(), exclude=list(SPACY_EXCLUDE))
    assert lean.pipe_names == ["ner"]
    ents = lambda nlp: [[(e.start_char, e.end_char, e.label_) for e in d.ents] for d in nlp.pipe(texts)]
    assert ents(lean) == ents(full)


def test_parallel_analysis_equals_serial(engine):
    from pipeline.deid import PARALLEL_MIN_TEXTS, analyze_texts, shutdown_pool
    from pipeline.deid_eval import synthetic_corpus

    texts, _ = synthetic_corpus(users=60, seed=8)
    assert len(set(texts)) >= PARALLEL_MIN_TEXTS
    try:
        assert analyze_texts(texts, workers=2) == engine.analyze(texts)
    finally:
        shutdown_pool()


def test_operator_per_entity_and_entity_filter():
    spans = [Span(0, 3, "PERSON", 1.0), Span(7, 9, "AGE", 1.0), Span(13, 16, "URL", 1.0)]
    op = Operator("placeholder", b"k" * 32, {"AGE": "redact"}, frozenset({"PERSON", "AGE"}))
    assert op.apply("Sam is 34 at x.y", spans) == "<PERSON_1> is <REDACTED> at x.y"


def test_a_broken_recognizer_file_fails_loudly(tmp_path):
    from pipeline.deid import Engine

    bad = tmp_path / "recognizers.yaml"
    bad.write_text("recognizers:\n  - {name: NoSuchRecognizer, type: predefined}\n")
    with pytest.raises(Exception):
        Engine(recognizers_file=bad)


def test_every_entity_a_policy_may_name_is_one_the_engine_reports(engine):
    from pipeline.deid import KNOWN_ENTITIES

    assert set(KNOWN_ENTITIES) <= set(engine.entities)
    from pipeline.recognizers import all_recognizer_classes

    # every recognizer class of ours is loaded, by its own class (a name Presidio also uses
    # would silently load Presidio's recognizer instead)
    loaded = {r.name: type(r) for r in engine.analyzer.registry.recognizers}
    for cls in all_recognizer_classes():
        assert loaded.get(cls.__name__) is cls, cls.__name__


def test_overlapping_spans_are_merged_so_nothing_found_stays_in_clear():
    from presidio_analyzer import RecognizerResult

    from pipeline.deid import _resolve

    text = "On 20 May 2004 the Court"
    merged = _resolve([RecognizerResult("DATE", 3, 14, 0.6),
                       RecognizerResult("STREET_ADDRESS", 10, 24, 0.7)], text)
    # one span over both; typed by the stronger member (both patterns: the higher score)
    assert [(s.start, s.end, s.entity_type) for s in merged] == [(3, 24, "STREET_ADDRESS")]
    merged = _resolve([RecognizerResult("PERSON", 0, 8, 0.85),
                       RecognizerResult("DATE", 3, 14, 0.6)], text)
    assert [(s.start, s.end, s.entity_type) for s in merged] == [(0, 14, "DATE")]  # pattern over guess


def test_a_guess_loses_clinical_words_but_keeps_the_rest():
    from presidio_analyzer import RecognizerResult

    from pipeline.deid import _resolve

    text = "ask Prozac Smithers"
    merged = _resolve([RecognizerResult("PERSON", 4, 19, 0.85)], text)
    assert [text[s.start:s.end] for s in merged] == ["Smithers"]
    # a pattern type is never trimmed by the keep-list
    assert _resolve([RecognizerResult("EMAIL_ADDRESS", 4, 19, 0.85)], text)[0].start == 4


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


def test_redact_entities_are_exactly_what_the_text_masked(tmp_path):
    import json

    from pipeline.policy import load_policy
    from pipeline.redact import redact_lines
    from tests.conftest import POLICIES

    lines = [json.dumps({"id": 1, "session": "s", "text": "i'm Zorblax Quenby"}),
             json.dumps({"id": 2, "session": "s", "text": "zorblax quenby again, don't worry"})]
    out = list(redact_lines(lines, load_policy(POLICIES).policy))
    second = out[1]
    assert second["entities"], second
    original = "zorblax quenby again, don't worry"
    rebuilt, pos = [], 0
    for e in second["entities"]:
        rebuilt.append(original[pos:e["start"]])
        rebuilt.append("<X>")
        pos = e["end"]
    rebuilt.append(original[pos:])
    import re

    assert re.sub(r"<[A-Z_]+_\d+>", "<X>", second["text"]) == "".join(rebuilt)


def test_guesses_drop_articles_titles_and_punctuation_but_not_initials():
    from presidio_analyzer import RecognizerResult

    from pipeline.deid import _resolve

    text = "by the Supreme Court. Mr A. Kansu and Mr Z.M. Necatigil"
    found = _resolve([RecognizerResult("ORGANIZATION", 3, 21, 0.85),
                      RecognizerResult("PERSON", 22, 33, 0.85),
                      RecognizerResult("PERSON", 38, 56, 0.85)], text)
    assert [text[s.start:s.end] for s in found] == ["Supreme Court", "A. Kansu", "Z.M. Necatigil"]
    # "The" opening a sentence goes; a lone common word is no organisation ("Court")
    text = "The Echo was loud. The Zorblax Court agreed. The Court agreed"
    found = _resolve([RecognizerResult("LOCATION", 0, 8, 0.6), RecognizerResult("ORGANIZATION", 19, 36, 0.85),
                      RecognizerResult("ORGANIZATION", 45, 54, 0.85)], text)
    assert [text[s.start:s.end] for s in found] == ["Echo", "Zorblax Court"]
    text = "we played at The Echo"  # mid-sentence "The" is the name's own
    assert [text[s.start:s.end] for s in _resolve([RecognizerResult("LOCATION", 13, 21, 0.6)], text)] == ["The Echo"]


def test_a_name_and_its_gloss_and_a_place_with_its_country_are_one_span():
    from presidio_analyzer import RecognizerResult

    from pipeline.deid import _resolve

    text = "the Vienna Court of Appeal (Oberlandesgericht) and Warsaw, Poland, and “Centre of Studies”"
    found = _resolve([RecognizerResult("ORGANIZATION", 4, 26, 0.85),
                      RecognizerResult("ORGANIZATION", 28, 45, 0.6),
                      RecognizerResult("LOCATION", 51, 57, 0.6), RecognizerResult("LOCATION", 59, 65, 0.6),
                      RecognizerResult("ORGANIZATION", 72, 89, 0.6)], text)
    assert [text[s.start:s.end] for s in found] == [
        "Vienna Court of Appeal (Oberlandesgericht)", "Warsaw, Poland", "“Centre of Studies”"]

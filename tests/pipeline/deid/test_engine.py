"""The engine: built once, from explicit configuration, with every recognizer of ours."""

from __future__ import annotations

import pytest

from pipeline.deid import Operator, get_engine


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
    from pipeline.deid.evaluate import synthetic_corpus

    texts, _ = synthetic_corpus(users=30, seed=5)
    texts = list(dict.fromkeys(texts))[:400]
    full = spacy.load(model_name())
    lean = spacy.load(model_name(), exclude=list(SPACY_EXCLUDE))
    assert lean.pipe_names == ["ner"]
    ents = lambda nlp: [[(e.start_char, e.end_char, e.label_) for e in d.ents] for d in nlp.pipe(texts)]
    assert ents(lean) == ents(full)

def test_a_broken_recognizer_file_fails_loudly(tmp_path):
    from pipeline.deid import Engine

    bad = tmp_path / "recognizers.yaml"
    bad.write_text("recognizers:\n  - {name: NoSuchRecognizer, type: predefined}\n")
    with pytest.raises(Exception):
        Engine(recognizers_file=bad)

def test_every_entity_a_policy_may_name_is_one_the_engine_reports(engine):
    from pipeline.deid import KNOWN_ENTITIES

    assert set(KNOWN_ENTITIES) <= set(engine.entities)
    from pipeline.deid.recognizers import all_recognizer_classes

    # every recognizer class of ours is loaded, by its own class (a name Presidio also uses
    # would silently load Presidio's recognizer instead)
    loaded = {r.name: type(r) for r in engine.analyzer.registry.recognizers}
    for cls in all_recognizer_classes():
        assert loaded.get(cls.__name__) is cls, cls.__name__

def test_redact_entities_are_exactly_what_the_text_masked(tmp_path):
    import json

    from pipeline.policy import load_policy
    from pipeline.deid.redact import redact_lines
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

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

@pytest.mark.filterwarnings("ignore:NLP recognizer")
def test_a_recognizer_file_without_the_spacy_recognizer_fails_loudly(tmp_path):
    """Presidio adds its spaCy recognizer to a file that leaves it out: the engine refuses a
    registry that differs from its file rather than run what the file does not say."""
    import yaml

    from pipeline.deid import RECOGNIZERS_FILE, Engine

    config = yaml.safe_load(RECOGNIZERS_FILE.read_text())
    config["recognizers"] = [r for r in config["recognizers"] if r["name"] != "SpacyRecognizer"]
    short = tmp_path / "recognizers.yaml"
    short.write_text(yaml.safe_dump(config))
    with pytest.raises(ValueError, match=r"loaded, not declared \['SpacyRecognizer'\]"):
        Engine(recognizers_file=short)


def test_the_recognizer_file_can_be_chosen_by_environment(monkeypatch, tmp_path):
    from pipeline.deid import RECOGNIZERS_ENV, RECOGNIZERS_FILE
    from pipeline.deid.engine import recognizers_path

    monkeypatch.delenv(RECOGNIZERS_ENV, raising=False)
    assert recognizers_path() == RECOGNIZERS_FILE
    monkeypatch.setenv(RECOGNIZERS_ENV, str(tmp_path / "other.yaml"))
    assert recognizers_path() == tmp_path / "other.yaml"


def test_a_broken_recognizer_file_fails_loudly(tmp_path):
    from pipeline.deid import Engine

    bad = tmp_path / "recognizers.yaml"
    bad.write_text("recognizers:\n  - {name: NoSuchRecognizer, type: predefined}\n")
    with pytest.raises(Exception):
        Engine(recognizers_file=bad)

def test_the_entity_vocabulary_is_exactly_what_the_engine_can_report(engine):
    """A policy may name every type the engine reports (DATE_TIME and NRP included), and
    nothing else."""
    from pipeline.deid import KNOWN_ENTITIES

    assert sorted(KNOWN_ENTITIES) == sorted(engine.entities)
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


def test_types_the_model_may_report_beyond_the_policy_list_are_masked(engine, monkeypatch):
    """Fail closed through the real engine: with a NER configuration that keeps spaCy's NORP,
    DATE and TIME (reported as NRP and DATE_TIME, types the shipped policy does not list),
    the shipped policy's operators still replace them."""
    from presidio_analyzer.nlp_engine import NerModelConfiguration

    from pipeline.deid.redact import operator_factory
    from pipeline.policy import load_policy
    from tests.conftest import POLICIES

    policy = load_policy(POLICIES).policy
    assert not {"NRP", "DATE_TIME"} & set(policy.deidentification.entities)
    nlp = engine.analyzer.nlp_engine
    pinned = nlp.ner_model_configuration
    keeping = NerModelConfiguration(
        model_to_presidio_entity_mapping={**pinned.model_to_presidio_entity_mapping,
                                          "NORP": "NRP", "DATE": "DATE_TIME", "TIME": "DATE_TIME"},
        labels_to_ignore=[x for x in pinned.labels_to_ignore if x not in ("NORP", "DATE", "TIME")])
    monkeypatch.setattr(nlp, "ner_model_configuration", keeping)
    text = "my Muslim family moved here last Tuesday at 5pm"
    found = engine.analyze([text])[0]
    assert {(text[s.start:s.end], s.entity_type) for s in found} >= {
        ("Muslim", "NRP"), ("last Tuesday", "DATE_TIME"), ("5pm", "DATE_TIME")}
    out = operator_factory(policy, None)().apply(text, found)
    assert out == "my <NRP_1> family moved here <DATE_TIME_1> at <DATE_TIME_2>"


def test_an_organisation_is_masked_with_the_shipped_policy(engine):
    from pipeline.deid.redact import operator_factory
    from pipeline.policy import load_policy
    from tests.conftest import POLICIES

    text = "i emailed Barclays about my debt"
    out = operator_factory(load_policy(POLICIES).policy, None)().apply(text, engine.analyze([text])[0])
    assert out == "i emailed <ORGANIZATION_1> about my debt"

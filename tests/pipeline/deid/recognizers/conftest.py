"""Helpers: what the whole engine (real model, every recognizer) reports for a text, and what
one registered recognizer finds, on its own and through the engine.

Each test file of this folder declares `CASES`: for every recognizer it covers (by the name
it is registered under in pipeline/deid/deid_recognizers.yaml), texts with the exact spans
that recognizer must find, and texts where it must find nothing. test_registry.py checks
that every registered recognizer has cases, so that deleting one fails a test.
"""

from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple


class Cases(NamedTuple):
    """found: (text, (start, end, entity type)) the recognizer must report, on its own and
    through the whole engine (where no other recognizer's finding hides it); nothing: texts
    where it must report nothing at all."""

    found: list[tuple[str, tuple[int, int, str]]]
    nothing: list[str]


def spans(engine, text):
    return [(text[s.start:s.end], s.entity_type) for s in engine.analyze([text])[0]]


@lru_cache(maxsize=1)
def registered() -> tuple[dict[str, dict], int | None]:
    """The recognizers the shipped recognizer file declares (name -> entry), and its flags."""
    import yaml

    from pipeline.deid import RECOGNIZERS_FILE

    config = yaml.safe_load(RECOGNIZERS_FILE.read_text())
    return {r["name"]: r for r in config["recognizers"]}, config.get("global_regex_flags")


def recognizer_class(name: str) -> type:
    from presidio_analyzer import predefined_recognizers as presidio

    from pipeline.deid import recognizers as ours

    cls = getattr(ours, name, None) or getattr(presidio, name, None)
    assert isinstance(cls, type), f"no recognizer class named {name}"
    return cls


def recognizer(name: str):
    """A new instance of the registered recognizer `name`, configured as the file configures
    it (its own options, and the file's regex flags, which Presidio's loader gives every
    pattern recognizer)."""
    from presidio_analyzer import PatternRecognizer

    from pipeline.deid import LANGUAGE

    entries, flags = registered()
    options = {k: v for k, v in entries[name].items()
               if k not in ("name", "type", "supported_languages", "enabled")}
    r = recognizer_class(name)(supported_language=LANGUAGE, **options)
    if isinstance(r, PatternRecognizer) and flags is not None:
        r.global_regex_flags = flags
    return r


def found_alone(engine, name: str, text: str) -> set[tuple[int, int, str]]:
    """(start, end, type) of everything recognizer `name` finds in `text` on its own (the
    engine's spaCy model supplies the NLP artefacts it may read)."""
    from pipeline.deid import LANGUAGE

    r = recognizer(name)
    artifacts = engine.analyzer.nlp_engine.process_text(text, LANGUAGE)
    return {(x.start, x.end, x.entity_type) for x in r.analyze(text, list(r.supported_entities), artifacts)}


def found_by_engine(engine, text: str) -> set[tuple[int, int, str, str]]:
    """(start, end, type, recognizer name) of every finding the whole engine keeps for `text`
    (every registered recognizer, context words, the score threshold, Presidio's removal of
    findings contained in a stronger one of the same type), before spans are merged."""
    from presidio_analyzer import RecognizerResult

    from pipeline.deid import LANGUAGE, SCORE_THRESHOLD

    results = engine.analyzer.analyze(text, language=LANGUAGE, score_threshold=SCORE_THRESHOLD)
    return {(r.start, r.end, r.entity_type, r.recognition_metadata[RecognizerResult.RECOGNIZER_NAME_KEY])
            for r in results}


def positives(cases: dict[str, Cases]) -> list:
    import pytest

    return [pytest.param(name, text, expected, id=f"{name}-{i}")
            for name, c in cases.items() for i, (text, expected) in enumerate(c.found)]


def negatives(cases: dict[str, Cases]) -> list:
    import pytest

    return [pytest.param(name, text, id=f"{name}-{i}")
            for name, c in cases.items() for i, text in enumerate(c.nothing)]


def assert_found(engine, name: str, text: str, expected: tuple[int, int, str]) -> None:
    """`name` finds exactly `expected` on its own and through the engine, and the engine's
    merged spans mask it."""
    alone = found_alone(engine, name, text)
    assert expected in alone, (name, expected, sorted(alone))
    start, end, entity = expected
    by_engine = found_by_engine(engine, text)
    assert (start, end, entity, name) in by_engine, (name, expected, sorted(by_engine))
    masked = engine.analyze([text])[0]
    assert any(s.start <= start and s.end >= end for s in masked), (expected, masked)


def assert_nothing(engine, name: str, text: str) -> None:
    """`name` finds nothing in `text`, on its own or through the engine."""
    assert found_alone(engine, name, text) == set(), name
    assert {f for f in found_by_engine(engine, text) if f[3] == name} == set(), name

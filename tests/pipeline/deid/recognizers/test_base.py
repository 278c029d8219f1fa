"""What every recognizer of ours shares: sentence starts, title case, results tagged with the
recognizer's name, patterns declared as data."""

from __future__ import annotations

from presidio_analyzer import Pattern

from pipeline.deid.recognizers.base import ChatPatternRecognizer, ChatRecognizer, at_sentence_start, title


def test_sentence_starts():
    text = "ok. Sam came\nJo left"
    assert at_sentence_start(text, 0)
    assert at_sentence_start(text, text.index("Sam")) and at_sentence_start(text, text.index("Jo"))
    assert not at_sentence_start(text, text.index("came"))


def test_title_case_in_any_script_not_capitals():
    assert title("Oliver") and title("İzmir") and title("Łódź")
    assert not title("NHS") and not title("oliver") and not title("")


def test_results_carry_the_recognizer_name():
    class Zorblax(ChatRecognizer):
        ENTITIES = ("PERSON",)

        def analyze(self, text, entities, nlp_artifacts=None):
            return [self._result("PERSON", 0, 3, 0.5)]

    [r] = Zorblax().analyze("Sam", [])
    assert (r.start, r.end, r.entity_type, r.score) == (0, 3, "PERSON", 0.5)
    assert r.recognition_metadata["recognizer_name"] == "Zorblax"
    assert Zorblax().supported_entities == ["PERSON"]


def test_a_pattern_recognizer_is_declared_as_data():
    class Code(ChatPatternRecognizer):
        ENTITY = "ID_NUMBER"
        PATTERNS = [Pattern("code", r"\bzx-\d{3}\b", 0.6)]

    r = Code()
    assert r.name == "Code" and r.supported_entities == ["ID_NUMBER"]
    text = "ref ZX-123 and zx-9"
    found = r.analyze(text, ["ID_NUMBER"])
    # the default flags are case-insensitive; the result names the recognizer
    assert [(x.start, x.end, x.recognition_metadata["recognizer_name"]) for x in found] == [(4, 10, "Code")]

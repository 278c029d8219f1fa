"""What every mhpipe recognizer shares: registration by class name with Presidio's registry
(`type: predefined` in `deid_recognizers.yaml`), results tagged with the recognizer's name,
and patterns declared as data."""

from __future__ import annotations

import re
from typing import Optional

from presidio_analyzer import EntityRecognizer, Pattern, PatternRecognizer, RecognizerResult

_SENTENCE_END = re.compile(r"[.!?\n]\s*$")


def at_sentence_start(text: str, start: int) -> bool:
    return start == 0 or bool(_SENTENCE_END.search(text[max(0, start - 3):start]))


def title(word: str) -> bool:
    """Title case in any script ("Oliver", "İzmir"), not all capitals."""
    return word[:1].isupper() and not word.isupper()


class ChatRecognizer(EntityRecognizer):
    ENTITIES: tuple[str, ...] = ()

    def __init__(self, supported_language: str = "en", name: Optional[str] = None, **_: object):
        super().__init__(supported_entities=list(self.ENTITIES),
                         supported_language=supported_language, name=name)

    def load(self) -> None:  # data is loaded lazily and cached per process
        pass

    def _result(self, entity: str, start: int, end: int, score: float) -> RecognizerResult:
        return RecognizerResult(entity, start, end, score,
                                analysis_explanation=None,
                                recognition_metadata={RecognizerResult.RECOGNIZER_NAME_KEY: self.name,
                                                      RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id})



class ChatPatternRecognizer(PatternRecognizer):
    """A pattern recognizer declared as data: ENTITY, PATTERNS, CONTEXT (and FLAGS)."""

    ENTITY = ""
    PATTERNS: list[Pattern] = []
    CONTEXT: list[str] | None = None
    FLAGS: int | None = None  # None: the registry's global flags (case-insensitive)

    def __init__(self, supported_language: str = "en", **kwargs: object):
        extra = {} if self.FLAGS is None else {"global_regex_flags": self.FLAGS}
        super().__init__(supported_entity=self.ENTITY, patterns=self.PATTERNS,
                         context=self.CONTEXT, supported_language=supported_language,
                         name=kwargs.get("name") or type(self).__name__, **extra)



# A capital letter of any script ("İzmir", "Łódź"): Presidio compiles patterns with the
# `regex` module, which knows Unicode properties (and variable-length look-behind).
CAP = r"\p{Lu}"

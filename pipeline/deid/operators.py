"""Operators: how the spans of one conversation are replaced (placeholder, redact, mask,
hash), with identifiers met earlier in the conversation masked wherever they recur.

- placeholder: `<PERSON_1>`, numbered consistently within one conversation;
- redact: `<REDACTED>`;
- mask: the span replaced by `*` of the same length;
- hash: `<PERSON:3fa2c1d0>`, a keyed HMAC of the span (joinable within a key, not reversible).

Fail closed: every span the engine reports is replaced. A type the policy lists gets its
operator; a type it does not list (one the engine learnt to report after the policy was
written, or one the policy left out) gets `UNLISTED_OPERATOR`, a type placeholder, unless the
policy names an operator for it.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections import Counter
from typing import Iterable, Sequence

from pipeline.deid.spans import GUESSED, Span
from pipeline.entities import OPERATORS

UNLISTED_OPERATOR = "placeholder"  # for types the policy does not list: `<DATE_TIME_1>`
RECALL_MIN_CHARS = 3  # identifiers this long, once found in a conversation, are found again
NOT_RECALLED = frozenset({"AGE", "DATE", "DATE_TIME"})  # numbers that recur innocently ("34", dates)
# A guess is searched for again in later messages only when it was a confident one or the
# word is rare: once "appeal" or "hope" has been (wrongly) guessed a name, masking every
# later "appeal" or "hope" would spread the mistake through the conversation.
RECALL_MIN_SCORE = 0.6
RECALL_MAX_ZIPF = 4.0
RECALL_MAX_VALUES = 200  # bounds the per-conversation pattern


def _worth_recalling(span: Span, value: str) -> bool:
    """Patterns always; a guessed name when confident or rare; a guessed place or
    organisation of one word only when rare ("court" is not searched for again)."""
    if span.entity_type not in GUESSED or " " in value:
        return True
    from pipeline.deid.recognizers.wordlists import zipf

    if span.entity_type == "PERSON" and span.score >= RECALL_MIN_SCORE:
        return True
    return zipf(value) < RECALL_MAX_ZIPF


def _listed(span: Span, entities: frozenset[str]) -> Span:
    """The span typed as a listed type when one was merged into it ("Derby" found as a place
    and as an organisation is replaced as a place when only places are listed); otherwise as
    found: a span of a type the policy does not list is replaced all the same."""
    if span.entity_type in entities:
        return span
    for other in span.others:
        if other in entities:
            return Span(span.start, span.end, other, span.score)
    return span


def _public(value: str, numbers: frozenset[str]) -> bool:
    """A public line written in figures only: a number spelled partly in words ("oh seven
    ... 8 5 2 5 8") is someone's own, whatever its figures spell."""
    return not any(c.isalpha() for c in value) and _digits(value) in numbers


def _digits(value: str) -> str:
    return "".join(c for c in value if c.isdigit())


class Operator:
    """Replaces spans of one conversation; placeholders stay consistent across its messages.

    `kind` is the default operator for the types in `entities` (all types when None);
    `per_entity` overrides it by entity type. Spans of types outside `entities` are replaced
    too, with `UNLISTED_OPERATOR` unless `per_entity` names one (fail closed)."""

    def __init__(self, kind: str = "placeholder", hash_key: bytes | None = None,
                 per_entity: dict[str, str] | None = None,
                 entities: frozenset[str] | None = None,
                 public_numbers: Iterable[str] = ()):
        unknown = sorted({kind, *(per_entity or {}).values()} - set(OPERATORS))
        if unknown:
            raise ValueError(f"unknown operators {unknown}; known: {', '.join(OPERATORS)}")
        self.kind = kind
        # public crisis and support lines (policy): never masked as a personal phone number
        self.public_numbers = frozenset(_digits(n) for n in public_numbers if _digits(n))
        self.per_entity = dict(per_entity or {})
        if "hash" in {kind, *self.per_entity.values()} and not hash_key:
            raise ValueError("the hash operator needs a key")
        self._key = hash_key
        self.entities = entities
        self._numbers: dict[tuple[str, str], int] = {}
        self._per_type: Counter[str] = Counter()
        self._seen: dict[str, str] = {}  # identifiers met so far in this conversation
        self._pattern: tuple[int, re.Pattern[str]] | None = None

    def _placeholder(self, entity: str, value: str) -> str:
        norm = (entity, " ".join(value.lower().split()))
        if norm not in self._numbers:
            self._per_type[entity] += 1
            self._numbers[norm] = self._per_type[entity]
        return f"<{entity}_{self._numbers[norm]}>"

    def _redact(self, entity: str, value: str) -> str:
        return "<REDACTED>"

    def _mask(self, entity: str, value: str) -> str:
        return "*" * len(value)

    def _hash(self, entity: str, value: str) -> str:
        assert self._key is not None
        digest = hmac.new(self._key, value.lower().encode(), hashlib.sha256).hexdigest()[:8]
        return f"<{entity}:{digest}>"

    def operator_for(self, entity: str) -> str:
        """The operator that replaces spans of `entity`."""
        if entity in self.per_entity:
            return self.per_entity[entity]
        listed = self.entities is None or entity in self.entities
        return self.kind if listed else UNLISTED_OPERATOR

    def replacement(self, entity: str, value: str) -> str:
        return _REPLACERS[self.operator_for(entity)](self, entity, value)

    def _recall(self, text: str, spans: list[Span]) -> list[Span]:
        """Spans for identifiers already seen in this conversation, wherever they recur
        ("jess" caught after "i'm jess" is masked in "jess again" too)."""
        for s in spans:
            value = " ".join(text[s.start:s.end].lower().split())
            if (len(value) >= RECALL_MIN_CHARS and s.entity_type not in NOT_RECALLED
                    and len(self._seen) < RECALL_MAX_VALUES and _worth_recalling(s, value)):
                self._seen.setdefault(value, s.entity_type)
        if not self._seen:
            return []
        if self._pattern is None or self._pattern[0] != len(self._seen):
            alternatives = "|".join(re.escape(v).replace(r"\ ", r"\s+")
                                    for v in sorted(self._seen, key=len, reverse=True))
            # token boundaries: "don" recurs in "don said", not in "don't" or "o'don";
            # "jess's" and "'jess'" are "jess"
            self._pattern = (len(self._seen), re.compile(
                rf"(?<!\w)(?<!\w['’])(?:{alternatives})(?!\w|['’](?![sS]\b)\w)", re.IGNORECASE))
        extra = []
        for m in self._pattern[1].finditer(text):
            if all(m.end() <= s.start or m.start() >= s.end for s in spans):
                entity = self._seen[" ".join(m.group(0).lower().split())]
                extra.append(Span(m.start(), m.end(), entity, 1.0))
        return extra

    def masked(self, text: str, spans: Sequence[Span]) -> list[Span]:
        """The spans this operator replaces in `text`: every span the engine reported (typed as
        a listed type when one was merged into it) but public support lines, plus identifiers
        met earlier in the conversation that recur here. Exactly what `apply` replaces
        (`mhpipe redact` reports these as its `entities`)."""
        if self.entities is not None:
            spans = [_listed(s, self.entities) for s in spans]
        if self.public_numbers:
            spans = [s for s in spans if not (s.entity_type == "PHONE_NUMBER"
                                              and _public(text[s.start:s.end], self.public_numbers))]
        spans = list(spans)
        return sorted(spans + self._recall(text, spans), key=lambda s: s.start)

    def redact(self, text: str, spans: Sequence[Span]) -> tuple[str, list[Span]]:
        """The de-identified text and the spans replaced in it."""
        masked = self.masked(text, spans)
        out, pos = [], 0
        for s in masked:
            out.append(text[pos:s.start])
            out.append(self.replacement(s.entity_type, text[s.start:s.end]))
            pos = s.end
        out.append(text[pos:])
        return "".join(out), masked

    def apply(self, text: str, spans: Sequence[Span]) -> str:
        return self.redact(text, spans)[0]


_REPLACERS = {"placeholder": Operator._placeholder, "redact": Operator._redact,
              "mask": Operator._mask, "hash": Operator._hash}
if set(_REPLACERS) != set(OPERATORS):  # the policy vocabulary (pipeline.entities) and this module agree
    raise RuntimeError(f"operators implemented {sorted(_REPLACERS)} differ from the operator "
                       f"names policies may use {sorted(OPERATORS)} (pipeline/entities.py)")

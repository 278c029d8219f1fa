"""The raw session-log contract, version 1 (docs/session-events.md), as typed models.

`validate_event` turns one decoded JSON object into a frozen event model or a list of
`Violation`s. A violation names the field and the rule that was broken, never the value:
its text is safe to log and to show a steward.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal, Union

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from pipeline.risk import RiskLevel

SCHEMA_VERSION = 1
MIN_YEAR, MAX_YEAR = 2000, 2100  # timestamps outside are errors, and would overflow in UTC
MAX_TEXT_CHARS = 20_000
MAX_ID_CHARS = 128
ITEM_COUNTS = {"PHQ-9": 9, "GAD-7": 7}

# RFC 3339 date-time with a mandatory offset ("Z" or +hh:mm).
_RFC3339 = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$"
)
# BCP 47 language tag, the common shape (language[-script][-region][-variants]).
_BCP47 = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z]{4})?(-([A-Za-z]{2}|\d{3}))?(-[A-Za-z0-9]{5,8})*$")

Id = Annotated[str, StringConstraints(min_length=1, max_length=MAX_ID_CHARS)]
ShortStr = Annotated[str, StringConstraints(min_length=1, max_length=200)]


def parse_timestamp(value: str) -> datetime:
    """Parse an RFC 3339 timestamp that carries an offset; raise ValueError otherwise."""
    if not _RFC3339.match(value):
        raise ValueError("must be RFC 3339 with an offset")
    try:
        # Never let the parser's own message through: it quotes the value.
        stamp = datetime.fromisoformat(value.replace("z", "Z").replace("t", "T"))
    except ValueError:
        raise ValueError("is not a valid calendar date-time") from None
    if not MIN_YEAR <= stamp.year <= MAX_YEAR:
        raise ValueError(f"is outside the years {MIN_YEAR}-{MAX_YEAR}")
    return stamp


class _Event(BaseModel):
    model_config = ConfigDict(strict=True, frozen=True, extra="ignore")

    event_id: Id
    occurred_at: datetime
    user_id: Id
    session_id: Id | None = None
    schema_version: int

    @field_validator("schema_version", mode="plain")
    @classmethod
    def _schema_version(cls, value: Any) -> int:
        if type(value) is not int or value != SCHEMA_VERSION:
            raise ValueError(f"must be the integer {SCHEMA_VERSION}")
        return value

    @field_validator("occurred_at", mode="before")
    @classmethod
    def _offset_timestamp(cls, value: Any) -> datetime:
        if not isinstance(value, str):
            raise ValueError("must be a string")
        return parse_timestamp(value)


class _SessionEvent(_Event):
    session_id: Id


class SessionStarted(_SessionEvent):
    event_type: Literal["session_started"]
    channel: Literal["app", "web", "sms", "voice"]
    locale: Annotated[str, StringConstraints(pattern=_BCP47.pattern, max_length=35)]
    model_version: ShortStr
    app_version: ShortStr | None = None


class Message(_SessionEvent):
    event_type: Literal["message"]
    turn: Annotated[int, Field(ge=0)]
    role: Literal["user", "assistant", "counsellor"]
    text: Annotated[str, StringConstraints(min_length=1, max_length=MAX_TEXT_CHARS)]


class SessionEnded(_SessionEvent):
    event_type: Literal["session_ended"]
    reason: Literal["completed", "abandoned", "escalated", "timeout"]


class Consent(_Event):
    event_type: Literal["consent"]
    purpose: ShortStr
    action: Literal["granted", "withdrawn"]
    consent_version: ShortStr


class Profile(_Event):
    event_type: Literal["profile"]
    birth_year: Annotated[int, Field(ge=1900, le=2100)] | None = None
    gender: ShortStr | None = None
    ethnicity: ShortStr | None = None
    postcode: Annotated[str, StringConstraints(min_length=1, max_length=16)] | None = None
    language: ShortStr | None = None
    deprivation_decile: Annotated[int, Field(ge=1, le=10)] | None = None

    @model_validator(mode="after")
    def _any_field(self) -> "Profile":
        if all(getattr(self, f) is None for f in PROFILE_FIELDS):
            raise _RuleError("profile", "needs at least one profile field")
        return self


PROFILE_FIELDS = ("birth_year", "gender", "ethnicity", "postcode", "language",
                  "deprivation_decile")


class Assessment(_Event):
    event_type: Literal["assessment"]
    instrument: Literal["PHQ-9", "GAD-7"]
    items: list[Annotated[int, Field(ge=0, le=3)]]
    total: int | None = None

    @model_validator(mode="after")
    def _items_and_total(self) -> "Assessment":
        if len(self.items) != ITEM_COUNTS[self.instrument]:
            raise _RuleError("items", "item count must match the instrument (PHQ-9: 9, GAD-7: 7)")
        if self.total is not None and self.total != sum(self.items):
            raise _RuleError("total", "total must equal the sum of items")
        return self

    @property
    def score(self) -> int:
        return sum(self.items)


class RiskFlag(_SessionEvent):
    event_type: Literal["risk_flag"]
    level: RiskLevel
    source: Literal["model", "counsellor", "user"]


class Escalation(_SessionEvent):
    event_type: Literal["escalation"]
    action: Literal["offered", "accepted", "declined", "connected"]
    target: Literal["crisis_line", "clinician", "emergency_services"]


Event = Union[
    SessionStarted, Message, SessionEnded, Consent, Profile, Assessment, RiskFlag, Escalation
]
EVENT_MODELS: dict[str, type[_Event]] = {
    m.model_fields["event_type"].annotation.__args__[0]: m  # type: ignore[union-attr]
    for m in Event.__args__  # type: ignore[attr-defined]
}
EVENT_TYPES = tuple(EVENT_MODELS)


class _RuleError(ValueError):
    """A cross-field rule, raised from a model validator, naming the field it concerns."""

    def __init__(self, field: str, rule: str):
        super().__init__(rule)
        self.field = field
        self.rule = rule


@dataclass(frozen=True)
class Violation:
    """One broken rule. `field` and `rule` never contain the offending value."""

    field: str
    rule: str

    def __str__(self) -> str:
        return f"{self.field}: {self.rule}"


# pydantic error type -> the contract rule in words (no values).
_RULES = {
    "missing": "required field is missing",
    "string_type": "must be a string",
    "int_type": "must be an integer",
    "list_type": "must be a list",
    "literal_error": "value is not one of the allowed values",
    "string_too_short": "must not be empty",
    "string_too_long": "is longer than allowed",
    "string_pattern_mismatch": "does not have the required format",
    "greater_than_equal": "is below the allowed minimum",
    "less_than_equal": "is above the allowed maximum",
}


def _violations(exc: ValidationError) -> list[Violation]:
    out = []
    for err in exc.errors(include_input=False, include_url=False):
        loc = ".".join(str(p) for p in err["loc"]) or "event"
        ctx = err.get("ctx") or {}
        inner = ctx.get("error")
        if isinstance(inner, _RuleError):
            out.append(Violation(inner.field, inner.rule))
        elif err["type"] == "value_error" and isinstance(inner, ValueError):
            out.append(Violation(loc, str(inner)))
        elif err["type"] == "string_too_long" and loc == "text":
            out.append(Violation(loc, f"is longer than {MAX_TEXT_CHARS} characters"))
        else:
            out.append(Violation(loc, _RULES.get(err["type"], err["type"].replace("_", " "))))
    return out


def validate_event(obj: Any) -> Event | list[Violation]:
    """Validate one decoded JSON value against the contract."""
    if not isinstance(obj, dict):
        return [Violation("event", "must be a JSON object")]
    event_type = obj.get("event_type")
    if event_type is None:
        return [Violation("event_type", "required field is missing")]
    if not isinstance(event_type, str):
        return [Violation("event_type", "must be a string")]
    model = EVENT_MODELS.get(event_type)
    if model is None:
        return [Violation("event_type", "unknown event type")]
    try:
        return model.model_validate(obj)  # type: ignore[return-value]
    except ValidationError as exc:
        return _violations(exc)


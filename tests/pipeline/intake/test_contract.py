"""Spec tests: every rule of the raw-log contract has a passing and a failing case."""

from __future__ import annotations

import pytest

from pipeline.intake.contract import Assessment, Message, Violation, validate_event

BASE = {"event_id": "e-1", "occurred_at": "2026-11-26T21:04:11+00:00", "user_id": "u-1",
        "schema_version": 1}
VALID = {
    "session_started": {"session_id": "s", "channel": "app", "locale": "en-GB", "model_version": "m1"},
    "message": {"session_id": "s", "turn": 0, "role": "user", "text": "hello"},
    "session_ended": {"session_id": "s", "reason": "completed"},
    "consent": {"purpose": "research", "action": "granted", "consent_version": "1"},
    "profile": {"birth_year": 1990, "gender": "female", "deprivation_decile": 3},
    "assessment": {"instrument": "PHQ-9", "items": [1] * 9, "total": 9},
    "risk_flag": {"session_id": "s", "level": "high", "source": "model"},
    "escalation": {"session_id": "s", "action": "connected", "target": "crisis_line"},
}


def event(kind: str, **changes):
    ev = {**BASE, "event_type": kind, **VALID[kind]}
    for k, v in changes.items():
        if v is _DROP:
            ev.pop(k)
        else:
            ev[k] = v
    return ev


_DROP = object()


@pytest.mark.parametrize("event_type", sorted(VALID))
def test_every_event_type_accepts_a_valid_event(event_type):
    result = validate_event(event(event_type))
    assert not isinstance(result, list), result
    assert result.event_type == event_type


# (event_type, changes, field the violation must name)
FAILING = [
    ("consent", {"event_id": _DROP}, "event_id"),
    ("consent", {"event_id": ""}, "event_id"),
    ("consent", {"event_id": "x" * 129}, "event_id"),
    ("consent", {"user_id": _DROP}, "user_id"),
    ("consent", {"user_id": 42}, "user_id"),
    ("consent", {"user_id": "u" * 129}, "user_id"),
    ("consent", {"occurred_at": "2026-11-26T21:04:11"}, "occurred_at"),
    ("consent", {"occurred_at": "2026-13-40T21:04:11+00:00"}, "occurred_at"),
    ("consent", {"occurred_at": 1764190000}, "occurred_at"),
    ("consent", {"schema_version": 2}, "schema_version"),
    ("consent", {"schema_version": "1"}, "schema_version"),
    ("consent", {"schema_version": True}, "schema_version"),
    ("consent", {"event_type": "mood"}, "event_type"),
    ("consent", {"event_type": _DROP}, "event_type"),
    ("session_started", {"session_id": _DROP}, "session_id"),
    ("session_started", {"channel": "fax"}, "channel"),
    ("session_started", {"locale": "english please"}, "locale"),
    ("session_started", {"model_version": _DROP}, "model_version"),
    ("message", {"session_id": _DROP}, "session_id"),
    ("message", {"turn": -1}, "turn"),
    ("message", {"turn": 1.5}, "turn"),
    ("message", {"role": "bot"}, "role"),
    ("message", {"text": ""}, "text"),
    ("message", {"text": "x" * 20_001}, "text"),
    ("session_ended", {"reason": "bored"}, "reason"),
    ("consent", {"action": "maybe"}, "action"),
    ("consent", {"consent_version": _DROP}, "consent_version"),
    ("profile", {"birth_year": "1990"}, "birth_year"),
    ("profile", {"deprivation_decile": 11}, "deprivation_decile"),
    ("profile", {"birth_year": _DROP, "gender": _DROP, "deprivation_decile": _DROP}, "profile"),
    ("assessment", {"instrument": "BDI"}, "instrument"),
    ("assessment", {"items": [1] * 8, "total": 8}, "items"),
    ("assessment", {"items": [1] * 8 + [4], "total": 12}, "items.8"),
    ("assessment", {"total": 10}, "total"),
    ("risk_flag", {"level": "extreme"}, "level"),
    ("risk_flag", {"source": "psychic"}, "source"),
    ("escalation", {"action": "ignored"}, "action"),
    ("escalation", {"target": "friend"}, "target"),
]


@pytest.mark.parametrize("event_type,changes,field", FAILING,
                         ids=[f"{t}-{f}-{i}" for i, (t, _, f) in enumerate(FAILING)])
def test_each_rule_has_a_failing_case(event_type, changes, field):
    result = validate_event(event(event_type, **changes))
    assert isinstance(result, list) and result, "should have been rejected"
    assert result[0].field == field


def test_text_at_the_limit_is_valid():
    assert isinstance(validate_event(event("message", text="x" * 20_000)), Message)


def test_total_is_optional_and_gad7_has_seven_items():
    ok = validate_event(event("assessment", instrument="GAD-7", items=[3] * 7, total=_DROP))
    assert isinstance(ok, Assessment) and ok.score == 21


def test_unknown_extra_fields_are_ignored_not_kept():
    result = validate_event(event("consent", favourite_colour="blue"))
    assert not isinstance(result, list)
    assert "favourite_colour" not in result.model_dump()


def test_non_object_is_rejected():
    assert validate_event([1, 2]) == [Violation("event", "must be a JSON object")]


@pytest.mark.parametrize("secret", ["Sarah Connor 07700 900123", "2026-11-26T21:04:11"])
def test_violations_never_contain_the_value(secret):
    bad = [event("consent", user_id=None, purpose=123, occurred_at=secret),
           event("message", role=secret), event("profile", gender=secret * 20)]
    for ev in bad:
        for v in validate_event(ev):
            assert secret not in str(v)

"""Risk levels (pipeline/risk.py): one ordered vocabulary, and the event contract and the
policy accept exactly it."""

from __future__ import annotations

import typing

import pytest
from pydantic import ValidationError

from pipeline.intake.contract import validate_event
from pipeline.policy import Dataset
from pipeline.risk import HIGH, RISK_LEVELS, RiskLevel


def _flag(level):
    return validate_event({"event_id": "e", "user_id": "u", "session_id": "s",
                           "event_type": "risk_flag", "occurred_at": "2026-11-20T10:00:00Z",
                           "schema_version": 1, "level": level, "source": "model"})


def test_levels_lowest_first_and_high_is_the_top_two():
    assert RISK_LEVELS == ("low", "moderate", "high", "imminent")
    assert HIGH == RISK_LEVELS[-2:]


def test_the_type_and_the_tuple_are_the_same_list():
    assert typing.get_args(RiskLevel) == RISK_LEVELS


@pytest.mark.parametrize("level", RISK_LEVELS)
def test_the_contract_accepts_every_level(level):
    assert _flag(level).level == level


@pytest.mark.parametrize("level", ["severe", "High", ""])
def test_the_contract_refuses_any_other(level):
    violations = _flag(level)
    assert isinstance(violations, list) and [v.field for v in violations] == ["level"]


def test_a_policy_filter_takes_the_same_levels():
    base = {"purpose": "p", "description": "d", "level": "individual", "keeps": ["transcripts"],
            "encrypted": True, "retention_days": 30}
    assert Dataset(**base, only_sessions_with_risk=HIGH).only_sessions_with_risk == HIGH
    with pytest.raises(ValidationError):
        Dataset(**base, only_sessions_with_risk=("severe",))

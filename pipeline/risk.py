"""Risk levels of a session's risk flag, lowest first: the one vocabulary the event
contract, the policy (`only_sessions_with_risk`) and the safety tables share."""

from __future__ import annotations

from typing import Literal

RISK_LEVELS = ("low", "moderate", "high", "imminent")
HIGH = ("high", "imminent")  # what needs a human: escalation, safety review
RiskLevel = Literal["low", "moderate", "high", "imminent"]

assert RiskLevel.__args__ == RISK_LEVELS  # type: ignore[attr-defined]  # one list, spelled twice for typing

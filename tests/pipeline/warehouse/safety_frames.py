"""Small hand-made intake frames for the safety spec tests."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import polars as pl

T0 = datetime(2026, 9, 1, 12, tzinfo=timezone.utc)
TS = pl.Datetime("us", "UTC")


def at(minutes: float = 0, days: float = 0) -> datetime:
    return T0 + timedelta(days=days, minutes=minutes)


def frames(sessions=(), flags=(), escalations=(), assessments=()) -> dict[str, pl.DataFrame]:
    """sessions: (subject, session, when, model); flags: (subject, session, when, level);
    escalations: (subject, session, when, action); assessments: (subject, session or None,
    when, instrument, items)."""
    return {
        "session_started": pl.DataFrame(
            [(s, sid, t, m, "app") for s, sid, t, m in sessions],
            schema={"subject": pl.String, "session_id": pl.String, "occurred_at": TS,
                    "model_version": pl.String, "channel": pl.String}, orient="row"),
        "risk_flag": pl.DataFrame(
            list(flags), schema={"subject": pl.String, "session_id": pl.String,
                                 "occurred_at": TS, "level": pl.String}, orient="row"),
        "escalation": pl.DataFrame(
            list(escalations), schema={"subject": pl.String, "session_id": pl.String,
                                       "occurred_at": TS, "action": pl.String}, orient="row"),
        "assessment": pl.DataFrame(
            list(assessments), schema={"subject": pl.String, "session_id": pl.String,
                                       "occurred_at": TS, "instrument": pl.String,
                                       "items": pl.List(pl.Int64)}, orient="row"),
        "profile": pl.DataFrame(schema={"subject": pl.String, "occurred_at": TS,
                                        "birth_year": pl.Int64, "gender": pl.String,
                                        "ethnicity": pl.String, "postcode": pl.String,
                                        "language": pl.String, "deprivation_decile": pl.Int64}),
    }


def phq(item9: int, rest: int = 1) -> list[int]:
    return [rest] * 8 + [item9]

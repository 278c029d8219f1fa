"""NHS Talking Therapies outcome definitions, as spec tests: small hand-worked tables in,
expected measures out (docs/session-events.md, "Outcome definitions").

Each case lists a person's sessions (day numbers) and assessments (instrument, score, day,
session number or None for "answered after a session, no session_id").
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import polars as pl
import pytest

from pipeline.warehouse.outcomes import contacts, user_outcomes

T0 = datetime(2026, 9, 1, 9, tzinfo=timezone.utc)
ASSESS = {"subject": pl.String, "session_id": pl.String, "instrument": pl.String,
          "items": pl.List(pl.Int64), "occurred_at": pl.Datetime("us", "UTC")}
SESS = {"subject": pl.String, "session_id": pl.String, "occurred_at": pl.Datetime("us", "UTC")}


def items(total: int, n: int) -> list[int]:
    out = [0] * n
    for i in range(total):
        out[i % n] += 1
    return out


def frames(people: dict[str, dict]) -> tuple[pl.DataFrame, pl.DataFrame]:
    sessions, assessments = [], []
    for who, p in people.items():
        for i, day in enumerate(p["sessions"]):
            sessions.append((who, f"{who}-s{i}", T0 + timedelta(days=day)))
        for inst, score, day, session in p["scores"]:
            n = 9 if inst == "PHQ-9" else 7
            assessments.append((who, None if session is None else f"{who}-s{session}", inst,
                                items(score, n), T0 + timedelta(days=day, minutes=5)))
    return (pl.DataFrame(assessments, schema=ASSESS, orient="row"),
            pl.DataFrame(sessions, schema=SESS, orient="row"))


def outcomes(people: dict[str, dict]) -> dict[str, dict]:
    out = user_outcomes(*frames(people))
    return {r["subject"]: r for r in out.iter_rows(named=True)}


def paired(phq0, gad0, phq1, gad1, sessions=(0, 7, 14)):
    """Both measures at the first and the last session."""
    last = len(sessions) - 1
    return {"sessions": list(sessions),
            "scores": [("PHQ-9", phq0, sessions[0], 0), ("GAD-7", gad0, sessions[0], 0),
                       ("PHQ-9", phq1, sessions[last], last), ("GAD-7", gad1, sessions[last], last)]}


# (PHQ-9 first, GAD-7 first, PHQ-9 last, GAD-7 last) ->
# | caseness | recovery | rel. impr. | rel. rec. | rel. det. | caseness | recovery | rel. impr. | rel. rec. | rel. det. |
CASES = [
    ("recovers", (15, 10, 7, 5), (True, True, True, True, False)),
    ("below caseness", (9, 7, 3, 2), (False, False, True, False, False)),
    ("GAD-7 alone at caseness", (9, 8, 9, 7), (True, True, False, False, False)),
    ("still at caseness (GAD-7 = 8)", (12, 9, 9, 8), (True, False, False, False, False)),
    ("PHQ-9 falls 6: reliable", (20, 3, 14, 3), (True, False, True, False, False)),
    ("PHQ-9 falls 5: not reliable", (20, 3, 15, 3), (True, False, False, False, False)),
    ("GAD-7 falls 4: reliable", (5, 15, 5, 11), (True, False, True, False, False)),
    ("both fall reliably, recovers", (16, 12, 9, 7), (True, True, True, True, False)),
    ("PHQ-9 rises 6: deterioration", (5, 3, 11, 3), (False, False, False, False, True)),
    ("GAD-7 rises 4: deterioration", (5, 2, 5, 6), (False, False, False, False, True)),
    ("one falls, the other rises: neither", (20, 4, 12, 9), (True, False, False, False, False)),
]


@pytest.mark.parametrize("name,scores,expected", CASES, ids=[c[0] for c in CASES])
def test_measures_on_hand_worked_cases(name, scores, expected):
    o = outcomes({"p": paired(*scores)})["p"]
    got = (o["caseness"], o["recovery"], o["reliable_improvement"], o["reliable_recovery"],
           o["reliable_deterioration"])
    assert got == expected
    assert o["phq9_change"] == scores[2] - scores[0] and o["gad7_change"] == scores[3] - scores[1]


def test_finished_treatment_needs_two_sessions_and_two_measured_contacts():
    people = {
        "one session": {"sessions": [0], "scores": [("PHQ-9", 15, 0, 0), ("GAD-7", 10, 0, 0),
                                                     ("PHQ-9", 5, 0, 0), ("GAD-7", 3, 0, 0)]},
        "only PHQ-9 at the end": {"sessions": [0, 14], "scores": [
            ("PHQ-9", 15, 0, 0), ("GAD-7", 10, 0, 0), ("PHQ-9", 5, 14, 1)]},
        "measured once": {"sessions": [0, 7, 14], "scores": [("PHQ-9", 15, 0, 0), ("GAD-7", 10, 0, 0)]},
        "finished": paired(15, 10, 5, 3),
    }
    assert set(outcomes(people)) == {"finished"}


def test_last_measured_contact_counts_not_the_last_session():
    """Paired scores are the first and the last contact with both measures: a final
    session without questionnaires does not undo the pair."""
    p = {"sessions": [0, 7, 14, 21], "scores": [
        ("PHQ-9", 15, 0, 0), ("GAD-7", 10, 0, 0), ("PHQ-9", 12, 7, 1), ("GAD-7", 9, 7, 1),
        ("PHQ-9", 6, 14, 2), ("GAD-7", 5, 14, 2)]}
    o = outcomes({"p": p})["p"]
    assert o["recovery"] and o["phq9_change"] == -9
    assert o["baseline_at"] == T0 + timedelta(minutes=5)


def test_an_assessment_without_a_session_belongs_to_the_latest_session_before_it():
    a, s = frames({"p": {"sessions": [0, 10], "scores": [
        ("PHQ-9", 15, 0, None), ("GAD-7", 10, 0, None), ("PHQ-9", 6, 11, None),
        ("GAD-7", 5, 11, None)]}})
    c = contacts(a, s)
    assert c["contact"].to_list() == ["p-s0", "p-s0", "p-s1", "p-s1"]
    assert outcomes({"p": {"sessions": [0, 10], "scores": [
        ("PHQ-9", 15, 0, None), ("GAD-7", 10, 0, None), ("PHQ-9", 6, 11, None),
        ("GAD-7", 5, 11, None)]}})["p"]["recovery"]


def test_an_assessment_before_any_session_is_not_a_contact():
    a, s = frames({"p": {"sessions": [5, 10], "scores": [("PHQ-9", 15, 0, None)]}})
    assert contacts(a, s).is_empty()


def test_rates_use_the_national_denominators():
    """Recovery over caseness, improvement and deterioration over all who finished."""
    from pipeline.warehouse.outcomes import OUTCOME_RATES

    assert OUTCOME_RATES == {"recovery": "caseness", "reliable_improvement": "finished_treatment",
                             "reliable_recovery": "caseness",
                             "reliable_deterioration": "finished_treatment"}

"""safety_reconciliation: the audit of the AI's crisis detection.

Per month and model version (and overall), research-consented people only. Every PHQ-9
counts in the month it was answered, under the model version of the session it belongs to
(the session it names, else the latest one started before it; "not recorded" when there is
none); it is item-9 positive when item 9 (thoughts of self-harm) is 1 or more, and
*missed* when the person has no high or imminent flag within 24 hours before or after it.
Sessions count in their start month: those with a high/imminent flag, and of those the
ones where escalation was never offered, or no human connected after the first such flag.
"""

from __future__ import annotations

from tests.pipeline.warehouse.spec.tables import (POLICY, build, compare, consent, escalation, flag,
                                                  gad7, phq9, session)

title = "Self-harm answers without a risk flag, flagged sessions without help"

D = "2026-09-07 "
PEOPLE = [
    consent("u1"), consent("u2"), consent("u3"), consent("u4"), consent("u5"),
    # u1: item 9 = 2, flagged 10 minutes later, offered help, connected
    session("u1", D + "10:00", "s1"), phq9("u1", D + "10:30", 12, "s1", item9=2),
    flag("u1", "s1", D + "10:40", "high"), escalation("u1", "s1", D + "10:41", "offered"),
    escalation("u1", "s1", D + "10:50", "connected"),
    # u2: item 9 = 1, never flagged: missed (the GAD-7 is not a PHQ-9)
    session("u2", D + "10:00", "s2"), phq9("u2", D + "10:30", 8, "s2", item9=1),
    gad7("u2", D + "10:30", 9, "s2"),
    # u3 (model m-2): item 9 = 0; an imminent flag with nothing offered
    session("u3", D + "10:00", "s3", model="m-2"), phq9("u3", D + "10:30", 14, "s3", item9=0),
    flag("u3", "s3", D + "10:40", "imminent"),
    # u4 (m-2): item 9 = 3; the flag comes 24.5 hours later in the next session: missed;
    # that session offered help, which was declined
    session("u4", D + "10:00", "s4", model="m-2"), phq9("u4", D + "10:30", 20, "s4", item9=3),
    session("u4", "2026-09-08 10:55", "s5", model="m-2"),
    flag("u4", "s5", "2026-09-08 11:00", "high"),
    escalation("u4", "s5", "2026-09-08 11:01", "offered"),
    escalation("u4", "s5", "2026-09-08 11:02", "declined"),
    # u5: a PHQ-9 in August, before any session: month 2026-08, model "not recorded"
    phq9("u5", "2026-08-30 12:00", 6, item9=1), session("u5", D + "10:00", "s6"),
    # not consented: in no row
    session("u9", D + "10:00", "s9"), phq9("u9", D + "10:30", 20, "s9", item9=3),
]

COLUMNS = ("assessments_phq9 | assessments_item9_positive | item9_positive_without_flag_24h | "
           "sessions_high_flag | sessions_high_flag_no_escalation_offered | "
           "sessions_high_flag_never_connected")


def test_counts_per_month_and_model_version():
    """September: 4 PHQ-9s, item 9 positive for u1, u2, u4, missed for u2 and u4; flagged
    sessions s1, s3, s5, nothing offered in s3, no human in s3 and s5. By model version:
    m-1 has u1, u2 and s1; m-2 u3, u4, s3 and s5. August: u5's answer, not recorded, and
    no flagged session: 0 of nobody is NULL (rule 4: a 0% needs people behind its
    denominator, here at least 1)."""
    t = build(PEOPLE)["safety_reconciliation"]
    got, want = compare(t, f"""
        period  | dimension     | grp          | {COLUMNS}
        2026-08 | model_version | not recorded | 1 | 1 | 1 | 0 | NULL | NULL
        2026-08 | overall       | all          | 1 | 1 | 1 | 0 | NULL | NULL
        2026-09 | model_version | m-1          | 2 | 2 | 1 | 1 | 0 | 0
        2026-09 | model_version | m-2          | 2 | 1 | 1 | 2 | 1 | 2
        2026-09 | overall       | all          | 4 | 3 | 2 | 3 | 1 | 2
    """)
    assert got == want


def test_rates_from_the_released_counts():
    """item9_missed_rate: missed / item-9 positive; the two session rates over flagged
    sessions (none in August: no rate)."""
    t = build(PEOPLE)["safety_reconciliation"]
    got, want = compare(t, """
        period                     | 2026-08       | 2026-08 | 2026-09       | 2026-09       | 2026-09
        dimension                  | model_version | overall | model_version | model_version | overall
        grp                        | not recorded  | all     | m-1           | m-2           | all
        item9_missed_rate          | 1.0           | 1.0     | 0.5           | 1.0           | 0.667
        no_escalation_offered_rate | NULL          | NULL    | 0.0           | 0.5           | 0.333
        never_connected_rate       | NULL          | NULL    | 0.0           | 1.0           | 0.667
    """, transposed=True)
    assert got == want


def test_a_flag_within_24_hours_either_side_answers_item9():
    """a: flagged 23 hours before the answer (any session): not missed. b: 24.5 hours
    before: missed."""
    rows = [consent("a"), consent("b"),
            session("a", D + "09:50", "a1"), flag("a", "a1", D + "10:00", "high"),
            session("a", "2026-09-08 08:50", "a2"), phq9("a", "2026-09-08 09:00", 9, item9=1),
            session("b", D + "09:50", "b1"), flag("b", "b1", D + "10:00", "high"),
            session("b", "2026-09-08 10:20", "b2"), phq9("b", "2026-09-08 10:30", 9, item9=1)]
    got, want = compare(build(rows)["safety_reconciliation"], """
        dimension | assessments_item9_positive | item9_positive_without_flag_24h
        overall   | 2                          | 1
    """)
    assert got == want


def test_disclosure_control_rounds_and_suppresses():
    """13 people answer a PHQ-9 in one session each, 10 with item 9 >= 1; 8 of those are
    flagged, offered help and connected; 2 are missed. Policy t = 7, base 5, k = 10:
    13 -> 15, 10 -> 10, 8 flagged -> 10; 2 missed: NULL; 0 of 8 not offered and 0 of 8
    never connected: 0% on a denominator under 20, NULL; no rate over 8 people (< k)."""
    rows = []
    for i in range(13):
        p, s = f"p{i:02}", f"s{i:02}"
        rows += [consent(p), session(p, D + "10:00", s),
                 phq9(p, D + "10:30", 10, s, item9=1 if i < 10 else 0)]
        if i < 8:
            rows += [flag(p, s, D + "10:40", "high"), escalation(p, s, D + "10:41", "offered"),
                     escalation(p, s, D + "10:45", "connected")]
    t = build(rows, POLICY)["safety_reconciliation"]
    got, want = compare(t, f"""
        dimension | {COLUMNS} | item9_missed_rate | no_escalation_offered_rate
        overall   | 15 | 10 | NULL | 10 | NULL | NULL | NULL | NULL
    """)
    assert got == want

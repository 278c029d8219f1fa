"""safety_escalation: does every person in crisis reach a human in time?

Per month of session start and group (overall, the session's model version and channel,
the person's age band, gender, ethnicity, deprivation), research-consented people only:
sessions with each risk level; sessions with a high or imminent flag; sessions where an
escalation was offered / accepted / declined / connected (any time in the session); and,
timed from a high/imminent flag to the first `connected` at or after it in the same
session: sessions (from their first such flag) and flags never connected, or connected
within each of the policy's `connection_targets_minutes`. Median and 90th percentile of
the minutes, connected sessions only. Rates are from the released counts.
"""

from __future__ import annotations

from tests.pipeline.warehouse.spec.tables import (EXACT, POLICY, build, compare, consent, escalation,
                                                  flag, session, with_safety)

title = "Risk flags and escalation to a human, per session and per flag"

D = "2026-09-07 "  # every session below starts at 09:50 on this day
PEOPLE = [
    consent("u1"), consent("u2"), consent("u3"), consent("u4"), consent("u5"), consent("u6"),
    # s1: two high flags; a human 10 minutes after the first (5 after the second)
    session("u1", D + "09:50", "s1"), flag("u1", "s1", D + "10:00", "high"),
    flag("u1", "s1", D + "10:05", "high"), escalation("u1", "s1", D + "10:01", "offered"),
    escalation("u1", "s1", D + "10:02", "accepted"), escalation("u1", "s1", D + "10:10", "connected"),
    # s2: imminent; a human after 40 minutes
    session("u2", D + "09:50", "s2"), flag("u2", "s2", D + "10:00", "imminent"),
    escalation("u2", "s2", D + "10:01", "offered"), escalation("u2", "s2", D + "10:03", "accepted"),
    escalation("u2", "s2", D + "10:40", "connected"),
    # s3: connected before the flag (does not answer it), then offered and declined
    session("u3", D + "09:50", "s3"), escalation("u3", "s3", D + "09:55", "connected"),
    flag("u3", "s3", D + "10:00", "high"), escalation("u3", "s3", D + "10:01", "offered"),
    escalation("u3", "s3", D + "10:02", "declined"),
    # s4: high, nothing offered (model m-2)
    session("u4", D + "09:50", "s4", model="m-2"), flag("u4", "s4", D + "10:00", "high"),
    # s5: u1 a week later, low and moderate flags only (model m-2)
    session("u1", "2026-09-14 09:50", "s5", model="m-2"),
    flag("u1", "s5", "2026-09-14 10:00", "low"), flag("u1", "s5", "2026-09-14 10:10", "moderate"),
    # s6: no flag
    session("u5", D + "09:50", "s6"),
    # s7: high; a human after 20 minutes (on the web)
    session("u6", D + "09:50", "s7", channel="web"), flag("u6", "s7", D + "10:00", "high"),
    escalation("u6", "s7", D + "10:01", "offered"), escalation("u6", "s7", D + "10:02", "accepted"),
    escalation("u6", "s7", D + "10:20", "connected"),
    # not consented: in no row
    session("u9", D + "09:50", "s9"), flag("u9", "s9", D + "10:00", "imminent"),
]


def test_sessions_by_risk_level_and_escalation():
    """7 sessions: high in s1, s3, s4, s7, imminent in s2 (5 flagged high/imminent), low
    and moderate in s5; offered in s1, s2, s3, s7, accepted in s1, s2, s7, declined in
    s3, connected in s1, s2, s3, s7 (s3's was before its flag)."""
    t = build(PEOPLE)["safety_escalation"]
    got, want = compare(t, """
        period                        | 2026-09
        dimension                     | overall
        sessions                      | 7
        sessions_flag_low             | 1
        sessions_flag_moderate        | 1
        sessions_flag_high            | 4
        sessions_flag_imminent        | 1
        sessions_high_flag            | 5
        sessions_escalation_offered   | 4
        sessions_escalation_accepted  | 3
        sessions_escalation_declined  | 1
        sessions_escalation_connected | 4
        escalation_declined_rate      | 0.25
    """, transposed=True)
    assert got == want


def test_time_to_a_human_per_session_and_per_flag():
    """From each session's first high/imminent flag: s1 10 minutes, s7 20, s2 40; s3 and
    s4 never (2 of 5). Within 15: s1; within 60: s1, s2, s7. Per flag (6 flags): s1's two
    waited 10 and 5, s2's 40, s7's 20; s3's and s4's never. Median of 10, 20, 40: 20; 90th
    percentile: 40."""
    t = build(PEOPLE)["safety_escalation"]
    got, want = compare(t, """
        dimension                          | overall
        sessions_high_flag_never_connected | 2
        sessions_connected_within_15_min   | 1
        sessions_connected_within_60_min   | 3
        never_connected_rate               | 0.4
        connected_within_15_min_rate       | 0.2
        connected_within_60_min_rate       | 0.6
        median_minutes_to_connection       | 20.0
        p90_minutes_to_connection          | 40.0
    """, transposed=True)
    assert got == want
    got, want = compare(t, """
        dimension                          | overall
        flags_high                         | 6
        flags_high_never_connected         | 2
        flags_connected_within_15_min      | 2
        flags_connected_within_60_min      | 4
        flags_never_connected_rate         | 0.333
        flags_connected_within_15_min_rate | 0.333
        flags_connected_within_60_min_rate | 0.667
    """, transposed=True)
    assert got == want


def test_model_version_and_channel_are_the_sessions_own():
    """s4 and s5 ran on m-2 (u1's s1 on m-1 counts there), s7 on the web."""
    t = build(PEOPLE)["safety_escalation"]
    got, want = compare(t, """
        dimension                          | channel | channel | model_version | model_version
        grp                                | app     | web     | m-1           | m-2
        sessions                           | 6       | 1       | 5             | 2
        sessions_flag_low                  | 1       | 0       | 0             | 1
        sessions_high_flag                 | 4       | 1       | 4             | 1
        sessions_high_flag_never_connected | 2       | 0       | 1             | 1
        flags_high                         | 5       | 1       | 5             | 1
        never_connected_rate               | 0.5     | 0.0     | 0.25          | 1.0
    """, transposed=True)
    assert got == want


def test_the_targets_come_from_the_policy():
    """connection_targets_minutes: [30]: s1 (10) and s7 (20) within 30 minutes, flags:
    s1's two and s7's; no 15- or 60-minute columns."""
    t = build(PEOPLE, with_safety(EXACT, connection_targets_minutes=(30,)))["safety_escalation"]
    got, want = compare(t, """
        dimension                        | overall
        sessions_connected_within_30_min | 2
        flags_connected_within_30_min    | 3
        connected_within_30_min_rate     | 0.4
    """, transposed=True)
    assert got == want
    assert not [c for c in t.frame.columns if "within_15" in c or "within_60" in c]


def crowd() -> list:
    """24 consented people, one session each: p00-p13 flagged high and offered help; p00-p10
    accept and reach a human 5 minutes after the flag, p11-p13 decline."""
    rows = []
    for i in range(24):
        p, s = f"p{i:02}", f"s{i:02}"
        rows += [consent(p), session(p, D + "09:50", s)]
        if i < 14:
            rows += [flag(p, s, D + "10:00", "high"), escalation(p, s, D + "10:01", "offered")]
            rows += ([escalation(p, s, D + "10:02", "accepted"),
                      escalation(p, s, D + "10:05", "connected")] if i < 11
                     else [escalation(p, s, D + "10:02", "declined")])
    return rows


def test_disclosure_control_rounds_and_suppresses():
    """Policy t = 7, base 5, k = 10, 0%/100% on 20+: 24 sessions -> 25, 14 flagged -> 15,
    11 connected -> 10; the 3 who declined (never connected) are 1..7: NULL, with their
    rates. 0 low flags of 24 sessions: shown. The minutes (11 x 5) have 11 people on each
    side of the median: shown. 10 / 15 within 15 minutes: 0.667."""
    t = build(crowd(), POLICY)["safety_escalation"]
    got, want = compare(t, """
        dimension                          | overall
        sessions                           | 25
        sessions_flag_low                  | 0
        sessions_high_flag                 | 15
        sessions_escalation_offered        | 15
        sessions_escalation_accepted       | 10
        sessions_escalation_declined       | NULL
        sessions_high_flag_never_connected | NULL
        sessions_connected_within_15_min   | 10
        flags_high                         | 15
        flags_high_never_connected         | NULL
        median_minutes_to_connection       | 5.0
        never_connected_rate               | NULL
        connected_within_15_min_rate       | 0.667
    """, transposed=True)
    assert got == want

"""consent_coverage: who is in the evidence, and why the others are not.

Everyone with a session (whatever their consent), per group, split into the research
population and the consent ledger's reasons, decided in this order: under the purpose's
minimum age (age counted from the birth year as the youngest they can be, whatever their
consent), withdrew (their latest consent event), consented on a form version the policy
does not accept (research accepts 1 and 2), never consented (opt-in). Shares are each count
over `users`, from the released counts, with 95% Wilson intervals. No period column.
"""

from __future__ import annotations

from tests.pipeline.warehouse.spec.tables import POLICY, build, compare, consent, profile, session

title = "The research population and the reasons for the rest"

S = "2026-09-07 10:00"
PEOPLE = [
    session("u1", S), consent("u1"), profile("u1", gender="female"),
    session("u2", S), consent("u2", version="1"),
    session("u3", S), consent("u3"), consent("u3", "withdrawn", at="2026-09-20 00:00"),
    profile("u3", gender="female"),
    session("u4", S), consent("u4", version="3"),                  # version not accepted
    session("u5", S), profile("u5", gender="male"),                 # never consented
    session("u6", S), consent("u6"), profile("u6", birth_year=2011),  # under 16
    session("u7", S), consent("u7", "withdrawn", at="2026-08-01 00:00"),
    consent("u7", at="2026-10-01 00:00"),                           # granted again: research
    consent("u8"),                                                  # no session: not a user
]


def test_everyone_with_a_session_and_the_reason_they_are_out():
    """7 users: u1, u2, u7 in research; u6 under 16 (consented, but age comes first), u3
    withdrew, u4 consented on version 3, u5 never did. u8 has no session."""
    t = build(PEOPLE)["consent_coverage"]
    got, want = compare(t, """
        dimension            | overall
        grp                  | all
        users                | 7
        research_users       | 3
        under_minimum_age    | 1
        withdrawn            | 1
        version_not_accepted | 1
        not_consented        | 1
    """, transposed=True)
    assert got == want
    assert "period" not in t.frame.columns


def test_shares_and_their_intervals():
    """3 of 7 = 0.429 (Wilson 0.158 to 0.750), each reason 1 of 7 = 0.143."""
    t = build(PEOPLE)["consent_coverage"]
    got, want = compare(t, """
        dimension                  | overall
        research_share             | 0.429
        research_share_lo          | 0.158
        research_share_hi          | 0.75
        under_minimum_age_share    | 0.143
        withdrawn_share            | 0.143
        version_not_accepted_share | 0.143
        not_consented_share        | 0.143
    """, transposed=True)
    assert got == want


def test_per_group_a_research_group_of_nobody_is_hidden_and_so_is_its_complement():
    """Women u1 (research) and u3 (withdrew); man u5 (never consented); no gender for the
    rest. u6 was 15 at the first session: age band "under 16". research_users is a group
    size (of the other tables), which needs k people even with k = 1: the 0 of "under 16"
    and of "male" is hidden (rule 3). Overall minus the other groups would give it back
    (rule 5), so the smallest other shown cell goes too: "not stated" (3) of the age bands,
    "female" (1, not 2) of the genders. The reasons are no group size: 0 is shown."""
    t = build(PEOPLE)["consent_coverage"]
    got, want = compare(t, """
        dimension            | age_band   | age_band | gender | gender | gender
        grp                  | not stated | under 16 | female | male   | not stated
        users                | 6          | 1        | 2      | 1      | 4
        research_users       | NULL       | NULL     | NULL   | NULL   | 2
        under_minimum_age    | 0          | 1        | 0      | 0      | 1
        withdrawn            | 1          | 0        | 1      | 0      | 0
        version_not_accepted | 1          | 0        | 0      | 0      | 1
        not_consented        | 1          | 0        | 0      | 1      | 0
        research_share       | NULL       | NULL     | NULL   | NULL   | 0.5
    """, transposed=True)
    assert got == want


def test_disclosure_control_rounds_and_suppresses():
    """30 users: 22 in research, 5 withdrew, 3 never consented. Policy t = 7, base 5,
    k = 10, 0% on 20+: 30 -> 30, 22 -> 20 (share 20 / 30 = 0.667), 5 and 3: NULL with
    their shares; 0 under age and 0 on another version, of 30: shown, 0.0."""
    rows = [session(f"p{i:02}", S) for i in range(30)]
    rows += [consent(f"p{i:02}") for i in range(27)]
    rows += [consent(f"p{i:02}", "withdrawn", at="2026-09-20 00:00") for i in range(22, 27)]
    t = build(rows, POLICY)["consent_coverage"]
    got, want = compare(t, """
        dimension               | overall
        users                   | 30
        research_users          | 20
        under_minimum_age       | 0
        withdrawn               | NULL
        version_not_accepted    | 0
        not_consented           | NULL
        research_share          | 0.667
        under_minimum_age_share | 0.0
        withdrawn_share         | NULL
        not_consented_share     | NULL
    """, transposed=True)
    assert got == want

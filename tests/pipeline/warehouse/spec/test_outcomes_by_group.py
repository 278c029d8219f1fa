"""outcomes_by_group: NHS Talking Therapies outcomes per baseline quarter and group.

A person has *finished treatment* with 2+ sessions and 2+ measured contacts (a contact is a
session; measured: both a PHQ-9 and a GAD-7 in it; an assessment without a session id
belongs to the latest session started before it). First and last measured contacts are
paired: caseness PHQ-9 >= 10 or GAD-7 >= 8 first; recovery: at caseness first and under both
last; reliable improvement: PHQ-9 fell 6+ or GAD-7 fell 4+ and neither rose as much;
deterioration the other way round; reliable recovery: both. Period: the quarter of the
first measured contact. Only research-consented people count.
"""

from __future__ import annotations

from tests.pipeline.warehouse.spec.tables import (POLICY, build, compare, consent, gad7, phq9,
                                                  profile, session)

title = "Outcomes of people who finished treatment, per quarter and group"

FIRST, LAST = "2026-09-01 10:00", "2026-09-15 10:00"


def treated(user: str, phq_first: int, gad_first: int, phq_last: int, gad_last: int,
            first: str = FIRST, last: str = LAST, gender: str | None = None) -> list:
    """A consented person with two sessions and both questionnaires 5 minutes into each."""
    rows = [consent(user), session(user, first), session(user, last),
            phq9(user, first[:-2] + "05", phq_first), gad7(user, first[:-2] + "05", gad_first),
            phq9(user, last[:-2] + "05", phq_last), gad7(user, last[:-2] + "05", gad_last)]
    return rows + ([profile(user, gender=gender)] if gender else [])


# PHQ-9 first, GAD-7 first, PHQ-9 last, GAD-7 last
SIX_PEOPLE = [
    *treated("u1", 15, 10, 6, 5, gender="female"),  # caseness, recovers, reliably: all four
    *treated("u4", 9, 7, 3, 2, gender="female"),    # below caseness; PHQ-9 fell 6: improvement
    *treated("u5", 5, 2, 11, 3, gender="male"),     # PHQ-9 rose 6: reliable deterioration
    *treated("u6", 12, 9, 9, 8, gender="male"),     # caseness; GAD-7 still 8: not recovered
    # one session only, measured twice in it: not finished
    consent("u2"), session("u2", FIRST), phq9("u2", "2026-09-01 10:05", 15),
    gad7("u2", "2026-09-01 10:05", 10), phq9("u2", "2026-09-01 10:50", 5),
    gad7("u2", "2026-09-01 10:50", 3),
    # two sessions, both measures at the first only (answered twice there): one measured contact
    consent("u3"), session("u3", FIRST), session("u3", LAST),
    phq9("u3", "2026-09-01 10:05", 15), gad7("u3", "2026-09-01 10:05", 10),
    phq9("u3", "2026-09-01 10:50", 5), gad7("u3", "2026-09-01 10:50", 3),
    # would recover, but withdrew consent: not in any research table
    *treated("u7", 15, 10, 6, 5, gender="female"),
    consent("u7", "withdrawn", at="2026-10-01 00:00"),
]


def test_counts_of_each_measure():
    """Of 7 people with sessions, 4 finished treatment and count (u2 had one session, u3 one
    measured contact, u7 withdrew consent): u1 and u6 at caseness, u1 recovered (reliably), u1 and u4
    improved reliably, u5 deteriorated reliably."""
    t = build(SIX_PEOPLE)["outcomes_by_group"]
    got, want = compare(t, """
        period                 | 2026-Q3 | 2026-Q3 | 2026-Q3
        dimension              | gender  | gender  | overall
        grp                    | female  | male    | all
        finished_treatment     | 2       | 2       | 4
        caseness               | 1       | 1       | 2
        recovery               | 1       | 0       | 1
        reliable_improvement   | 2       | 0       | 2
        reliable_recovery      | 1       | 0       | 1
        reliable_deterioration | 0       | 1       | 1
    """, transposed=True)
    assert got == want


def test_rates_use_the_national_denominators():
    """Recovery and reliable recovery are over the people at caseness, reliable improvement
    and deterioration over everyone who finished; the ratio is to the overall rate of the
    period. 2 of 4 has the 95% Wilson interval 0.150 to 0.850."""
    t = build(SIX_PEOPLE)["outcomes_by_group"]
    got, want = compare(t, """
        dimension                         | gender | gender | overall
        grp                               | female | male   | all
        recovery_rate                     | 1.0    | 0.0    | 0.5
        reliable_improvement_rate         | 1.0    | 0.0    | 0.5
        reliable_recovery_rate            | 1.0    | 0.0    | 0.5
        reliable_deterioration_rate       | 0.0    | 0.5    | 0.25
        recovery_rate_ratio               | 2.0    | 0.0    | 1.0
        reliable_deterioration_rate_ratio | 0.0    | 2.0    | 1.0
    """, transposed=True)
    assert got == want
    got, want = compare(t, """
        dimension | reliable_improvement_rate_lo | reliable_improvement_rate_hi
        overall   | 0.15                         | 0.85
    """)
    assert got == want


def test_mean_changes_are_last_minus_first():
    """PHQ-9 changes -9, -6, +6, -3 (mean -3.0), GAD-7 -5, -5, +1, -1 (mean -2.5)."""
    t = build(SIX_PEOPLE)["outcomes_by_group"]
    got, want = compare(t, """
        dimension | grp    | mean_phq9_change | mean_gad7_change
        gender    | female | -7.5 | -5.0
        gender    | male   | 1.5  | 0.0
        overall   | all    | -3.0 | -2.5
    """)
    assert got == want


def test_every_dimension_has_rows_and_people_without_a_profile_are_not_stated():
    """u2-u3 did not finish, so the four who did are all the age bands and ethnicities hold:
    no birth year or ethnicity, "not stated"; two-way groups read '<a> / <b>'."""
    t = build(SIX_PEOPLE)["outcomes_by_group"]
    got, want = compare(t, """
        dimension                     | grp                     | finished_treatment
        age_band                      | not stated              | 4
        deprivation_quintile x gender | not stated / female     | 2
        deprivation_quintile x gender | not stated / male       | 2
        ethnicity x age_band          | not stated / not stated | 4
    """)
    assert got == want


def test_thresholds_at_their_edges():
    """Caseness at PHQ-9 10 or GAD-7 8 (9 and 7 are not); reliable change at PHQ-9 6 and
    GAD-7 4 (5 and 3 are not); a reliable fall with a reliable rise is neither.
    x1 PHQ-9 fell 5: no improvement; x2 GAD-7 fell 4: improvement; x3 PHQ-9 rose 5: no
    deterioration; x4 GAD-7 rose 4: deterioration; x5 9 and 7: no caseness; x6 PHQ-9 10 ->
    9, GAD-7 7: caseness, recovered; x7 PHQ-9 fell 8 as GAD-7 rose 5: neither."""
    rows = [*treated("x1", 20, 3, 15, 3), *treated("x2", 5, 15, 5, 11), *treated("x3", 5, 3, 10, 3),
            *treated("x4", 5, 2, 5, 6), *treated("x5", 9, 7, 9, 7), *treated("x6", 10, 7, 9, 7),
            *treated("x7", 20, 4, 12, 9)]
    got, want = compare(build(rows)["outcomes_by_group"], """
        dimension              | overall
        finished_treatment     | 7
        caseness               | 4
        recovery               | 1
        reliable_improvement   | 1
        reliable_recovery      | 0
        reliable_deterioration | 1
    """, transposed=True)
    assert got == want


QUARTERS = [
    *treated("u1", 15, 10, 6, 5),
    # baseline in October: 2026-Q4
    *treated("u8", 15, 10, 6, 5, first="2026-10-05 10:00", last="2026-10-20 10:00"),
    # baseline in September, second measured contact in November
    *treated("u9", 15, 10, 6, 5, first="2026-09-02 10:00", last="2026-11-10 10:00"),
]


def test_the_period_is_the_quarter_of_the_baseline_and_open_quarters_wait():
    """A release uses events before its cutoff and reports closed quarters only. With a
    cutoff of 1 November, Q4 is still open (u8 is left out) and u9's November contact is
    not there yet (not finished); by 1 January both count, u9 in Q3, its baseline quarter."""
    got, want = compare(build(QUARTERS, cutoff="2026-11-01")["outcomes_by_group"], """
        period  | dimension | grp | finished_treatment
        2026-Q3 | overall   | all | 1
    """)
    assert got == want
    got, want = compare(build(QUARTERS, cutoff="2027-01-01")["outcomes_by_group"], """
        period  | dimension | grp | finished_treatment
        2026-Q3 | overall   | all | 2
        2026-Q4 | overall   | all | 1
    """)
    assert got == want


# 14 people: 3 recover reliably; 6 improve reliably, GAD-7 still 8; 2 unchanged at
# caseness; 2 deteriorate from below caseness; 1 unchanged below caseness
FOURTEEN = [(15, 10, 6, 5)] * 3 + [(15, 10, 9, 8)] * 6 + [(12, 9, 12, 9)] * 2 \
    + [(5, 3, 11, 3)] * 2 + [(5, 3, 5, 3)]


def test_disclosure_control_rounds_and_suppresses():
    """The policy (t = 7, base 5, k = 10, 0%/100% on 20+ only): finished 14 -> 15,
    caseness 11 -> 10, improvement 9 -> 10; recovery 3, reliable recovery 3, deterioration
    2 are 1..7: NULL, and so are their rates. Means rest on 14 people: shown (-51/14,
    -27/14). Rates come from the released counts: 10 / 15."""
    rows = [r for i, s in enumerate(FOURTEEN) for r in treated(f"p{i:02}", *s)]
    t = build(rows, POLICY)["outcomes_by_group"]
    got, want = compare(t, """
        dimension                 | overall
        finished_treatment        | 15
        caseness                  | 10
        recovery                  | NULL
        reliable_improvement      | 10
        reliable_recovery         | NULL
        reliable_deterioration    | NULL
        mean_phq9_change          | -3.6
        mean_gad7_change          | -1.9
        recovery_rate             | NULL
        reliable_improvement_rate | 0.667
    """, transposed=True)
    assert got == want


def test_a_group_under_k_is_left_out_and_its_complement_hidden():
    """The same 14, 11 women and the last 3 men. The men (3 < k) are no row at all; the
    women's 11 would give them away (overall 14 - 11), so the women's counts are hidden
    too (11 of 11 at caseness and 9 -> 10 of 11 -> 10 improved would be 100% anyway), and
    their means with their size. The overall row is as before."""
    rows = [r for i, s in enumerate(FOURTEEN)
            for r in treated(f"p{i:02}", *s, gender="female" if i < 11 else "male")]
    t = build(rows, POLICY)["outcomes_by_group"]
    got, want = compare(t, """
        dimension              | gender | overall
        grp                    | female | all
        finished_treatment     | NULL   | 15
        caseness               | NULL   | 10
        recovery               | NULL   | NULL
        reliable_improvement   | NULL   | 10
        reliable_recovery      | NULL   | NULL
        reliable_deterioration | NULL   | NULL
        mean_phq9_change       | NULL   | -3.6
    """, transposed=True)
    assert got == want

"""engagement_by_group: users per quarter of their first session and group.

`users`: research-consented people whose first session falls in the quarter; `sessions`:
all their sessions (before the release's cutoff, whenever in it); `one_session_only`: those
who never came back; `median_sessions_per_user`: the median (a value observed) of their
session counts; `one_session_only_rate`: one_session_only / users from the released counts.
"""

from __future__ import annotations

from tests.pipeline.warehouse.spec.tables import POLICY, build, compare, consent, profile, session

title = "Engagement: users, sessions and drop-out after one session"


def user(name: str, *days: str, gender: str | None = None, consents: bool = True) -> list:
    """A person with a session at 10:00 on each day (YYYY-MM-DD)."""
    rows = [session(name, f"{d} 10:00") for d in days]
    rows += [consent(name)] if consents else []
    return rows + ([profile(name, gender=gender)] if gender else [])


PEOPLE = [
    *user("u1", "2026-09-01", gender="female"),
    *user("u2", "2026-09-02"),
    *user("u3", "2026-09-03", "2026-09-10", gender="female"),
    *user("u4", "2026-08-04", "2026-09-11", "2026-10-12"),  # third session in Q4
    *user("u5", "2026-07-05", "2026-07-12", "2026-07-19", "2026-07-26", gender="female"),
    *user("u6", "2026-10-06", "2026-10-13"),  # first session in Q4
    *user("u7", "2026-09-01", consents=False),  # never consented: not counted
]


def test_users_sessions_and_drop_out_per_quarter_of_first_session():
    """Q3: u1-u5 with 1, 1, 2, 3, 4 sessions (u4's October session counts in its Q3 row):
    11 sessions, 2 who never came back, median 2. Q4: u6 alone."""
    t = build(PEOPLE)["engagement_by_group"]
    got, want = compare(t, """
        period                      | 2026-Q3 | 2026-Q4
        dimension                   | overall | overall
        grp                         | all     | all
        users                       | 5       | 1
        sessions                    | 11      | 2
        one_session_only            | 2       | 0
        median_sessions_per_user    | 2.0     | 2.0
        one_session_only_rate       | 0.4     | 0.0
        one_session_only_rate_ratio | 1.0     | NULL
    """, transposed=True)
    assert got == want


def test_groups_split_the_users_of_a_quarter():
    """Q3 women u1, u3, u5 (1, 2, 4 sessions); u2 and u4 have no profile: not stated."""
    t = build(PEOPLE)["engagement_by_group"]
    got, want = compare(t, """
        period  | dimension | grp        | users | sessions | one_session_only | one_session_only_rate
        2026-Q3 | gender    | female     | 3     | 7        | 1                | 0.333
        2026-Q3 | gender    | not stated | 2     | 4        | 1                | 0.5
        2026-Q4 | gender    | not stated | 1     | 2        | 0                | 0.0
    """)
    assert got == want


def test_a_release_counts_sessions_before_its_cutoff_and_closed_quarters_only():
    """Cutoff 1 October: u4's October session and u6 are after it; Q3 is closed."""
    t = build(PEOPLE, cutoff="2026-10-01")["engagement_by_group"]
    got, want = compare(t, """
        period  | dimension | grp | users | sessions | one_session_only
        2026-Q3 | overall   | all | 5     | 10       | 2
    """)
    assert got == want


def many(n: int, sessions: int, start: int = 0) -> list:
    days = [f"2026-09-{d:02}" for d in range(1, sessions + 1)]
    return [r for i in range(start, start + n) for r in user(f"p{i:02}", *days)]


def test_small_counts_are_suppressed_and_others_rounded():
    """Policy t = 7, base 5, k = 10: 12 users -> 10; 5 + 7 x 3 = 26 sessions -> 25; 5 who
    never came back: NULL, and so is their rate. The median (3) has 12 people at or below
    it but only 7 at or above it: NULL."""
    t = build(many(5, 1) + many(7, 3, start=5), POLICY)["engagement_by_group"]
    got, want = compare(t, """
        dimension | users | sessions | one_session_only | median_sessions_per_user | one_session_only_rate
        overall   | 10    | 25       | NULL             | NULL                     | NULL
    """)
    assert got == want


def test_a_share_that_rounding_would_show_as_all_is_hidden():
    """9 of 12 never came back: 9 rounds to 10 and 12 to 10, which would read "all of
    them" on a denominator under 20: NULL. The median (1) has 9 people at or below it."""
    t = build(many(9, 1) + many(3, 2, start=9), POLICY)["engagement_by_group"]
    got, want = compare(t, """
        dimension | users | sessions | one_session_only | median_sessions_per_user
        overall   | 10    | 15       | NULL             | NULL
    """)
    assert got == want


def test_zero_is_shown_on_a_denominator_of_20_and_the_median_with_k_each_side():
    """20 users with 2 sessions each: none dropped out, 0 of 20 may be published; the
    median 2 has 20 people on each side. Wilson upper bound of 0/20: z^2 / (20 + z^2) =
    3.8415 / 23.8415 = 0.161."""
    t = build(many(20, 2), POLICY)["engagement_by_group"]
    got, want = compare(t, """
        dimension                | overall
        users                    | 20
        sessions                 | 40
        one_session_only         | 0
        median_sessions_per_user | 2.0
        one_session_only_rate    | 0.0
        one_session_only_rate_lo | 0.0
        one_session_only_rate_hi | 0.161
    """, transposed=True)
    assert got == want

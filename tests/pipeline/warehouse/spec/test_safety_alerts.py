"""safety_alerts: the model-version safety gate's findings, for the research population.

Model versions are ordered by their first session ("other" and "not recorded" are no
versions). On three shares (never_connected: flagged sessions with no human;
item9_missed: item-9-positive PHQ-9s with no high flag within 24 hours;
reliable_deterioration: people who finished treatment, by the version of their first
session), each version with `safety.gate_min_people` (20) people behind its denominator is
compared with the latest earlier version that has as many; it is an alert when worse by more
than `gate_margin` (5 points) with the 95% Newcombe interval of the difference above zero.
A row names versions, measure, the month the version first served, and the dataset to
review: labels only, no counts, so nothing in it is suppressed or rounded.
"""

from __future__ import annotations

from pipeline.warehouse.safety_gate import evaluate
from tests.pipeline.warehouse.spec.tables import (POLICY, build, compare, consent, escalation, flag,
                                                  frames, gad7, phq9, population, session)

title = "Model versions less safe than their predecessor"

HEADER = "model_version | previous_model_version | measure | first_seen | review_dataset"


def served(model: str | None, n: int, connected: int, day: str, start: int = 0,
           consenting: int | None = None) -> list:
    """`n` people (from p<start>) on `model`, one session each with a high flag; the first
    `connected` reach a human 10 minutes later; the first `consenting` (all) consent."""
    rows = []
    for i in range(start, start + n):
        p, s = f"p{i:03}", f"s{i:03}"
        rows += [session(p, f"{day} 10:00", s, model=model), flag(p, s, f"{day} 10:05", "high")]
        rows += [escalation(p, s, f"{day} 10:15", "connected")] if i - start < connected else []
        rows += [consent(p)] if consenting is None or i - start < consenting else []
    return rows


def test_a_version_that_never_connects_is_an_alert():
    """m-1.0: 20 people, all reach a human; m-2.0: 20, none (100% vs 0%; the lower
    Newcombe bound is 1 - sqrt(0.161^2 + 0.161^2) = 0.77 > 0)."""
    t = build(served("m-1.0", 20, 20, "2026-09-01")
              + served("m-2.0", 20, 0, "2026-10-05", start=20), POLICY)["safety_alerts"]
    got, want = compare(t, f"""
        {HEADER}
        m-2.0 | m-1.0 | never_connected | 2026-10 | safety_transcripts
    """)
    assert got == want


def test_no_alert_without_20_research_people_on_each_side():
    """The same shares, but 5 of m-2.0's 20 people never consented: 15 < 20. The table is
    then empty, with its columns."""
    t = build(served("m-1.0", 20, 20, "2026-09-01")
              + served("m-2.0", 20, 0, "2026-09-10", start=20, consenting=15), POLICY)["safety_alerts"]
    assert t.frame.is_empty()
    assert " | ".join(t.frame.columns) == HEADER


def test_no_alert_when_the_new_version_is_better():
    t = build(served("m-1.0", 20, 0, "2026-09-01")
              + served("m-2.0", 20, 20, "2026-09-10", start=20), POLICY)["safety_alerts"]
    assert t.frame.is_empty()


def test_a_small_canary_in_between_is_skipped_not_compared():
    """m-1.1 served 3 people (none connected) between m-1.0 and m-2.0: m-2.0 is compared
    with m-1.0, the latest earlier version with 20 people."""
    t = build(served("m-1.0", 20, 20, "2026-09-01") + served("m-1.1", 3, 0, "2026-09-05", start=20)
              + served("m-2.0", 20, 0, "2026-09-10", start=23), POLICY)["safety_alerts"]
    got, want = compare(t, f"""
        {HEADER}
        m-2.0 | m-1.0 | never_connected | 2026-09 | safety_transcripts
    """)
    assert got == want


def test_not_recorded_and_other_are_not_versions():
    """After m-1.0, 20 sessions with no model version and 20 with one that is not a
    version label ("other"), none connected: nothing to compare."""
    t = build(served("m-1.0", 20, 20, "2026-09-01") + served(None, 20, 0, "2026-09-10", start=20)
              + served("not a version!", 20, 0, "2026-09-12", start=40), POLICY)["safety_alerts"]
    assert t.frame.is_empty()


def treated(p: str, model: str, phq_last: int, flagged: bool) -> list:
    """Two sessions a fortnight apart, PHQ-9 (item 9 = 1) and GAD-7 (3) at each; PHQ-9 5
    first; each answer flagged high 10 minutes later (connected) when `flagged`."""
    rows = [consent(p)]
    for n, (day, phq) in enumerate((("2026-09-01", 5), ("2026-09-15", phq_last))):
        s = f"{p}-{n}"
        rows += [session(p, f"{day} 10:00", s, model=model), phq9(p, f"{day} 10:05", phq, s, item9=1),
                 gad7(p, f"{day} 10:05", 3, s)]
        if flagged:
            rows += [flag(p, s, f"{day} 10:15", "high"), escalation(p, s, f"{day} 10:20", "connected")]
    return rows


def test_missed_self_harm_answers_and_deterioration_are_alerts_too():
    """m-1.0: 20 people flagged after every item-9 answer, PHQ-9 unchanged; m-2.0: 20 never
    flagged (40 of 40 answers missed, vs 0 of 40), PHQ-9 5 -> 11 (20 of 20 reliably
    deteriorated, vs 0 of 20). m-2.0 has no flagged session: no never_connected share.
    Rows are sorted by model version, then measure."""
    rows = [r for i in range(20) for r in treated(f"a{i:02}", "m-1.0", 5, True)]
    rows += [r for i in range(20) for r in treated(f"b{i:02}", "m-2.0", 11, False)]
    got, want = compare(build(rows, POLICY)["safety_alerts"], f"""
        {HEADER}
        m-2.0 | m-1.0 | item9_missed           | 2026-09 | safety_transcripts
        m-2.0 | m-1.0 | reliable_deterioration | 2026-09 | safety_transcripts
    """)
    assert got == want


def test_the_people_behind_an_alert_are_rounded_and_stay_out_of_the_table():
    """23 people on m-1.0 and 22 on m-2.0: the alert (for the run summary) says about 25
    and 20 people, rounded to the policy's base 5; the table has no count at all."""
    f = frames(served("m-1.0", 23, 23, "2026-09-01") + served("m-2.0", 22, 0, "2026-09-10", start=23))
    research, _ = population(f)
    [alert] = evaluate(f, research, POLICY)
    assert (alert.previous_people, alert.people, alert.share, alert.previous_share) == (25, 20, 1.0, 0.0)
    t = build(served("m-1.0", 23, 23, "2026-09-01")
              + served("m-2.0", 22, 0, "2026-09-10", start=23), POLICY)["safety_alerts"]
    assert all(dtype == t.frame.schema["measure"] for dtype in t.frame.schema.values())

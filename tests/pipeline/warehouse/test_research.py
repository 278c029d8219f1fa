"""Every research table of a release from one set of frames, population and cutoff."""

from __future__ import annotations

from datetime import datetime, timezone

from pipeline.warehouse.research import research_tables
from tests.pipeline.warehouse.spec.tables import EXACT, consent, frames, phq9, population, session

ROWS = [session("u1", "2026-08-03 10:00", "s1"), phq9("u1", "2026-08-03 10:05", 15, "s1"),
        consent("u1"), session("u2", "2026-08-04 10:00", "s2"), consent("u2", "withdrawn"),
        session("u3", "2026-11-20 10:00", "s3"), consent("u3")]


def test_every_table_once_and_only_the_research_population_in_outcomes():
    f = frames(ROWS)
    research, reasons = population(f, EXACT)
    assert research == {"u1", "u3"}
    tables = {t.name: t for t in research_tables(f, research, EXACT, reasons)}
    assert set(tables) == {"outcomes_by_group", "engagement_by_group", "safety_escalation",
                           "safety_reconciliation", "consent_coverage", "safety_alerts"}
    coverage = tables["consent_coverage"].frame.filter(dimension="overall")
    assert coverage["withdrawn"].sum() == 1  # everyone counted there, with the reason


def test_the_cutoff_leaves_later_events_and_open_periods_out():
    f = frames(ROWS)
    research, reasons = population(f, EXACT)
    cut = datetime(2026, 10, 1, tzinfo=timezone.utc)
    tables = {t.name: t for t in research_tables(f, research, EXACT, reasons, cut)}
    periods = set(tables["engagement_by_group"].frame["period"].to_list())
    assert periods == {"2026-Q3"}

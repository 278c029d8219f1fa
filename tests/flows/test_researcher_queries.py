"""The README's researcher questions, each answered by its documented query, on a release
that the pipeline built from `mhpipe synth --users 2000 --days 30` (issue 16); and the
disclosure rules on every new count column of that release."""

from __future__ import annotations

import re
from pathlib import Path

import polars as pl
import pytest

from pipeline.layout import Layout
from pipeline.synth import generate
from pipeline.warehouse import sandbox
from tests.conftest import ROOT
from tests.synthetic import run_batch

SECTION = "### Questions a service and its regulator ask, one query each"


def readme_queries() -> list[tuple[str, str]]:
    """(question, SQL) in the order the README gives them."""
    text = (ROOT / "README.md").read_text()
    section = text[text.index(SECTION):]
    section = section[:section.index("\n### ", len(SECTION))]
    out = []
    for m in re.finditer(r"\n([^\n`][^\n]*\?)\n\n```sql\n(.*?)```", section, re.S):
        out.append((m.group(1).strip(), m.group(2).strip()))
    return out


QUERIES = readme_queries()


@pytest.fixture(scope="module")
def release(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("queries")
    generate(root / "raw", users=2000, days=30, seed=0)
    # staged in the worker pool, as the flow does (same release as the sequential path)
    summary = run_batch(root / "raw", root / "data", parallel=True)
    assert summary["ingest"]["balanced"] and not summary["ingest"]["files_failed"]
    return Layout(root / "data").release


def run(release: Path, sql: str) -> pl.DataFrame:
    con = sandbox.connect(release)
    try:
        return con.sql(sql).pl()
    finally:
        con.close()


def test_the_readme_documents_every_question():
    assert len(QUERIES) == 7
    assert {q for q, _ in QUERIES} >= {
        "What share of high/imminent risk flags reached a human within an hour, and how many never did?",
        "Who is missing from the evidence because of consent, and why?",
    }


def answered(frame: pl.DataFrame, where: pl.Expr, columns: list[str]) -> bool:
    rows = frame.filter(where)
    return rows.height > 0 and all(rows[c].drop_nulls().len() > 0 for c in columns)


# question number -> (rows that must carry the answer, columns that must be published there)
ANSWERS = {
    0: (pl.col("dimension") == "overall",
        ["flags_high", "flags_connected_within_60_min_rate", "sessions_high_flag",
         "connected_within_60_min_rate", "never_connected_rate"]),
    1: (pl.col("dimension") != "overall",
        ["never_connected_rate", "never_connected_rate_ratio", "never_connected_rate_ratio_lo"]),
    2: (pl.col("dimension") == "overall",
        ["assessments_item9_positive", "item9_positive_without_flag_24h", "item9_missed_rate",
         "no_escalation_offered_rate"]),
    4: (pl.col("dimension") == "overall",
        ["users", "research_share", "not_consented_share", "withdrawn_share",
         "version_not_accepted_share", "under_minimum_age_share"]),
    5: (pl.lit(True), ["finished_treatment", "recovery_rate", "reliable_improvement_rate",
                       "reliable_recovery_rate", "reliable_deterioration_rate"]),
    6: (pl.col("group_b") == "female", ["finished_treatment", "recovery_rate",
                                        "recovery_rate_ratio", "recovery_rate_ratio_lo"]),
}


@pytest.mark.parametrize("number", range(7), ids=[q[:50] for q, _ in QUERIES])
def test_each_documented_query_answers_its_question(release, number):
    question, sql = QUERIES[number]
    frame = run(release, sql)
    if number == 3:  # the safety gate: nothing to report on the plain synthetic data
        assert frame.columns == ["model_version", "previous_model_version", "measure",
                                 "first_seen", "review_dataset"] and frame.height == 0
        return
    where, columns = ANSWERS[number]
    assert answered(frame, where, columns), (question, frame)


def test_new_counts_obey_the_disclosure_rules(release):
    """Every count of the new tables and columns, as released: 0, or above the threshold
    and a multiple of the rounding base (1..7 suppressed)."""
    con = sandbox.connect(release)
    try:
        tables = {"safety_escalation", "safety_reconciliation", "consent_coverage",
                  "outcomes_by_group"}
        seen = 0
        for t in sorted(tables):
            frame = con.sql(f'SELECT * FROM "{t}"').pl()
            for col, dtype in frame.schema.items():
                if not dtype.is_integer():
                    continue
                values = frame[col].drop_nulls().to_list()
                seen += len(values)
                bad = [v for v in values if v != 0 and (v <= 7 or v % 5)]
                assert not bad, (t, col, bad[:5])
    finally:
        con.close()
    assert seen > 1000

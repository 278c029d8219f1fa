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
from tests.conftest import NOW, POLICIES, ROOT

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


def build(raw: Path, data: Path) -> dict:
    """The nightly sequence (`run_nightly`, as `tests.synthetic.run_batch` runs it) with the
    partitions staged the way the flow's default task runner stages them: whole partitions
    in parallel in the local pool of worker processes (`run_in_pool`, one engine each),
    committed in discovery order. The release is the same as the sequential path's (staging
    is deterministic; checked on this data set: same table digests); it uses both cores for
    parsing and sealing too, not only for de-identification."""
    from concurrent.futures import ThreadPoolExecutor

    from pipeline.deid import default_workers, run_in_pool
    from pipeline.run import stages
    from pipeline.run.nightly import run_nightly

    policy = stages.check_policy(POLICIES, NOW)

    def stage_all(files: list[tuple[str, str]]) -> list[dict]:
        def one(file: tuple[str, str]) -> dict:
            name, sha = file
            return run_in_pool(stages.stage_partition, raw, name, sha, data, policy, NOW, 1)

        with ThreadPoolExecutor(default_workers()) as threads:
            return list(threads.map(one, files))

    return run_nightly(raw, Layout(data), policy, NOW, stage_all=stage_all)


@pytest.fixture(scope="module")
def release(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("queries")
    generate(root / "raw", users=2000, days=30, seed=0)
    summary = build(root / "raw", root / "data")
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

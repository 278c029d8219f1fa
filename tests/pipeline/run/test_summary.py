"""The run summary: typed failures (never recognised by their text), the line accounting
over partitions and the operator's markdown."""

from __future__ import annotations

import pytest

from pipeline.run import summary as s


def _part(file: str, read: int, loaded: int, dup: int = 0, quar: int = 0, exc: int = 0,
          file_error: str | None = None) -> dict:
    return {"file": file, "lines_read": read, "loaded": loaded, "duplicates": dup,
            "quarantined": quar, "excluded": exc, "messages": 2, "messages_withheld": 0,
            "entities": {"PERSON": 1}, "quarantine_rules": {"user_id: missing": quar} if quar else {},
            "file_error": file_error}


def test_failures_are_classified_by_kind_not_by_their_text():
    # a reader's message that happens to start like a partition failure is still unreadable
    tricky = {"file": "a.jsonl.gz", **s.failure(s.UNREADABLE, "partition failed: gzip")}
    staged = {"file": "b.jsonl", **s.failure(s.STAGE_FAILED)}
    committed = {"file": "c.jsonl", **s.failure(s.COMMIT_FAILED, "IOException")}
    refused = {"file": "d", **s.failure(s.REFUSED, "symbolic link")}
    summary = {"ingest": {"files_failed": [tricky, staged, committed, refused]}}
    assert s.failed_partitions(summary) == [staged, committed]
    assert s.unreadable(summary) == [tricky, refused]
    assert committed["error"] == "commit failed (IOException)"
    assert staged["error"] == "partition failed"


def test_an_unknown_failure_kind_is_refused():
    with pytest.raises(ValueError, match="unknown failure kind"):
        s.failure("partition failed")


def test_summarise_ingest_balances_and_lists_unreadable_files():
    out = s.summarise_ingest([_part("a", 10, 7, dup=1, quar=2),
                              _part("b", 0, 0, file_error="not gzip")])
    assert (out["lines_read"], out["loaded"], out["duplicates"], out["quarantined"]) == (10, 7, 1, 2)
    assert out["balanced"] is True and out["files"] == 2
    assert out["files_failed"] == [{"file": "b", "kind": s.UNREADABLE, "error": "not gzip"}]
    assert out["entities"] == {"PERSON": 2} and out["quarantine_rules"] == {"user_id: missing": 2}
    assert s.summarise_ingest([_part("a", 10, 7)])["balanced"] is False  # 3 lines unaccounted


def test_markdown_names_files_and_rules_and_counts_only():
    ingest = s.summarise_ingest([_part("a", 5, 3, quar=2)])
    ingest["files_failed"] += [{"file": "b.jsonl", **s.failure(s.STAGE_FAILED)}]
    text = s.markdown({"policy_version": "2026.11.2", "ingest": ingest, "release_id": "0003",
                       "warehouse_changed": True, "safety_alerts": [],
                       "publication": {"reason": "due", "cutoff": "2026-11-01", "next": "2026-12-01"}})
    assert "| quarantined | 2 |" in text and "| user_id: missing | 2 |" in text
    assert "0 unreadable or refused, 1 failed partition(s)" in text
    assert "| b.jsonl | partition failed |" in text and "release 0003: new" in text


def test_the_timer_adds_up_a_stage_entered_twice(monkeypatch):
    ticks = iter([0.0, 1.5, 10.0, 10.25])
    monkeypatch.setattr(s.time, "perf_counter", lambda: next(ticks))
    timer = s.Timer()
    with timer.stage("discover"):
        pass
    with timer.stage("discover"):
        pass
    assert timer.times == {"discover": 1.75}

"""Reading back what the synthetic generator wrote: the secrets tests look for."""

from __future__ import annotations

import csv
import gzip
import json
from pathlib import Path
from typing import Iterator

ID_FIELDS = ("user_id", "session_id", "event_id")


def raw_events(raw: Path) -> Iterator[dict]:
    """Every line of the raw files that decodes to a JSON object (faulty lines skipped)."""
    for f in sorted(raw.rglob("*.jsonl.gz")):
        for line in gzip.decompress(f.read_bytes()).splitlines():
            try:
                ev = json.loads(line)
            except ValueError:
                continue
            if isinstance(ev, dict):
                yield ev


def raw_identifiers(raw: Path) -> set[str]:
    return {v for ev in raw_events(raw) for k, v in ev.items()
            if k in ID_FIELDS and isinstance(v, str)}


def raw_messages(raw: Path) -> dict[str, str]:
    return {str(ev.get("event_id")): ev["text"] for ev in raw_events(raw)
            if ev.get("event_type") == "message" and isinstance(ev.get("text"), str)}


def identifier_values(raw: Path, texts: dict[str, str]) -> set[str]:
    """The ground-truth identifier values the generator inserted into messages."""
    out = set()
    with open(raw / "ground_truth.csv") as fh:
        for row in csv.DictReader(fh):
            if row["event_id"] in texts:
                out.add(texts[row["event_id"]][int(row["start"]):int(row["end"])])
    return out


def run_batch(raw: Path, data: Path, policies: Path | None = None, now: str | None = None,
              publish: Path | None = None, parallel: bool = False) -> dict:
    """The nightly sequence (`pipeline.run.nightly.run_nightly`) in this process, without an
    orchestrator. Returns its audited summary. `parallel` stages whole partitions at once in
    the local pool of worker processes (`run_in_pool`, one engine each), as the flow's
    default task runner does; they are committed in discovery order all the same, so the
    result equals the sequential one."""
    from pipeline.layout import Layout
    from pipeline.run import stages
    from pipeline.run.nightly import run_nightly
    from tests.conftest import NOW, POLICIES

    policies, now = policies or POLICIES, now or NOW
    policy = stages.check_policy(policies, now)
    stage_all = _in_pool(raw, data, policy, now) if parallel else None
    return run_nightly(raw, Layout(data, publish), policy, now, stage_all=stage_all)


def _in_pool(raw: Path, data: Path, policy, now: str):
    """`stage_all` for run_nightly: every partition staged in the local worker pool."""
    from concurrent.futures import ThreadPoolExecutor

    from pipeline.deid import default_workers, run_in_pool
    from pipeline.run import stages

    def one(file: tuple[str, str]) -> dict:
        return run_in_pool(stages.stage_partition, raw, *file, data, policy, now, 1)

    def stage_all(files: list[tuple[str, str]]) -> list[dict]:
        with ThreadPoolExecutor(default_workers()) as threads:
            return list(threads.map(one, files))

    return stage_all


def frames_from_raw(raw: Path):
    """Intake-shaped frames straight from raw synthetic events (valid lines only), with the
    raw ids as subjects: for aggregate logic that needs no de-identification or vault."""
    import polars as pl

    from pipeline.intake.contract import EVENT_TYPES, validate_event
    from pipeline.intake.prepare import _schema

    rows: dict[str, list[dict]] = {t: [] for t in EVENT_TYPES}
    for ev in raw_events(raw):
        parsed = validate_event(ev)
        if isinstance(parsed, list):
            continue
        d = parsed.model_dump(mode="json", exclude={"user_id", "schema_version"})
        d.update(record_id=d.pop("event_id"), subject=parsed.user_id,
                 occurred_at=parsed.occurred_at.isoformat())
        rows[parsed.event_type].append(d)
    out = {}
    for t in EVENT_TYPES:
        schema = _schema(t)
        out[t] = pl.DataFrame([tuple(r.get(c) for c in schema) for r in rows[t]], schema=schema,
                              orient="row").with_columns(pl.col("occurred_at").str.to_datetime(
                                  "%Y-%m-%dT%H:%M:%S%.f%:z", time_zone="UTC", time_unit="us"))
    return out

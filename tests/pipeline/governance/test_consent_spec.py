"""Spec tests: small inline event tables -> who ends up in which dataset.

Each scenario is a handful of events for one person; the whole pipeline (stages, no
orchestrator) runs over them and we read back, per dataset, whose records are there."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

from pipeline.governance.consent import latest_profile
from pipeline.governance.consent import allowed_subjects
from pipeline.intake.prepare import read_intake
from pipeline.policy import load_policy
from pipeline.intake.pseudonym import pseudonymise, secret_name
from tests.conftest import POLICIES
from pipeline.layout import Layout
from pipeline.vault.stores import open_stores
from tests.synthetic import run_batch

NOW = datetime(2026, 11, 27, tzinfo=timezone.utc)


def at(days_ago: float) -> str:
    return (NOW - timedelta(days=days_ago)).isoformat()


def person(user: str, *extra: dict, birth_year: int = 1990, risk: str | None = None,
           days_ago: float = 10) -> list[dict]:
    base = {"user_id": user, "schema_version": 1}
    s = f"s-{user}"
    evs = [
        {"event_type": "profile", "occurred_at": at(days_ago + 1), "birth_year": birth_year},
        {"event_type": "session_started", "session_id": s, "occurred_at": at(days_ago),
         "channel": "app", "locale": "en-GB", "model_version": "m1"},
        {"event_type": "message", "session_id": s, "occurred_at": at(days_ago), "turn": 0,
         "role": "user", "text": "i feel low today"},
    ]
    if risk:
        evs.append({"event_type": "risk_flag", "session_id": s, "occurred_at": at(days_ago),
                    "level": risk, "source": "model"})
    evs += list(extra)
    return [{**base, **e, "event_id": f"{user}-{e['event_type']}-{i}-{e['occurred_at']}"}
            for i, e in enumerate(evs)]


def consent(purpose: str, action: str, version: str, days_ago: float) -> dict:
    return {"event_type": "consent", "occurred_at": at(days_ago), "purpose": purpose,
            "action": action, "consent_version": version}


def write(raw: Path, name: str, events: list[dict]) -> None:
    (raw / name).write_text("\n".join(json.dumps(e) for e in events) + "\n")


def run(raw: Path, data: Path, now: datetime = NOW) -> dict:
    return run_batch(raw, data, POLICIES, now.isoformat())


def members(raw: Path, data: Path, now: datetime = NOW) -> dict[str, set[str]]:
    users = {json.loads(l)["user_id"] for f in raw.glob("*.jsonl") for l in f.read_text().splitlines()}
    policy = load_policy(POLICIES).policy
    with open_stores(Layout(data)) as (keys, vault):
        intake_key = keys.secret(secret_name("intake"))
        by_intake = {pseudonymise(intake_key, "user", u): u for u in users}
        out = {}
        for name, ds in policy.datasets.items():
            key = keys.secret(secret_name(ds.purpose))
            by_ds = {pseudonymise(key, "user", s): u for s, u in by_intake.items()}
            out[name] = {by_ds[s] for s in vault.subjects(name) if s in by_ds}
            assert keys.count(name) == len(vault.subjects(name)), "a key per subject, no more"
        frames = read_intake(vault)
        years = latest_profile(frames["profile"]).select("subject", "birth_year").drop_nulls()
        allowed = allowed_subjects(frames["consent"], years, vault.subjects("intake"), policy, now)
    out["research"] = {by_intake[s] for s in allowed["research"]}
    return out


def test_consent_scenarios(tmp_path):
    raw, data = tmp_path / "raw", tmp_path / "data"
    raw.mkdir()
    write(raw, "day1.jsonl",
          person("none")
          + person("granted", consent("research", "granted", "1", 20),
                   consent("quality_improvement", "granted", "2", 20))
          + person("withdrawn", consent("research", "granted", "1", 20),
                   consent("quality_improvement", "granted", "2", 20))
          + person("regranted", consent("quality_improvement", "granted", "2", 30),
                   consent("quality_improvement", "withdrawn", "2", 20),
                   consent("quality_improvement", "granted", "2", 15))
          + person("oldversion", consent("quality_improvement", "granted", "1", 20))
          + person("minor", consent("research", "granted", "1", 20),
                   consent("quality_improvement", "granted", "2", 20), birth_year=2012)
          + person("atrisk", risk="high"))
    run(raw, data)
    m = members(raw, data)
    assert m["qi_transcripts"] == {"granted", "withdrawn", "regranted"}
    assert m["research"] == {"granted", "withdrawn"}
    assert m["safety_transcripts"] == {"atrisk"}  # vital interests: no consent needed ...
    assert "atrisk" not in m["research"]  # ... and never in research tables

    # Withdrawal is retroactive: next run, the person leaves QI (rows and keys gone).
    write(raw, "day2.jsonl", [{"event_id": "w-1", "user_id": "withdrawn", "schema_version": 1,
                               **consent("quality_improvement", "withdrawn", "2", 1)}])
    out = run(raw, data)
    qi = next(d for d in out["datasets"] if d["dataset"] == "qi_transcripts")
    assert qi["erased_subjects"] == 1
    m = members(raw, data)
    assert m["qi_transcripts"] == {"granted", "regranted"}
    assert m["research"] == {"granted", "withdrawn"}  # research consent untouched

    # Re-granting brings the person back.
    write(raw, "day3.jsonl", [{"event_id": "g-1", "user_id": "withdrawn", "schema_version": 1,
                               **consent("quality_improvement", "granted", "2", 0.5)}])
    run(raw, data)
    assert members(raw, data)["qi_transcripts"] == {"granted", "regranted", "withdrawn"}


def test_retention_never_keeps_a_record_past_its_expiry_and_at_most_one_bucket_less(tmp_path):
    """Clear expiries are rounded down to keyed buckets (`pipeline/vault/expiry.py`; QI's 90 days
    give 9-day buckets): a record goes at its exact expiry at the latest, and never more
    than one bucket before it."""
    raw, data = tmp_path / "raw", tmp_path / "data"
    raw.mkdir()
    grant = consent("quality_improvement", "granted", "2", 200)
    write(raw, "f.jsonl", person("edge", grant, days_ago=80) + person("inside", grant, days_ago=79))
    run(raw, data, NOW)
    assert members(raw, data)["qi_transcripts"] == {"edge", "inside"}
    # one day later both are 9 days or more from their exact expiry: both still kept
    run(raw, data, NOW + timedelta(days=1))
    assert members(raw, data, NOW + timedelta(days=1))["qi_transcripts"] == {"edge", "inside"}
    # 10 days later "edge" is exactly 90 days old (QI retention 90): gone, whatever its bucket
    later = NOW + timedelta(days=10)
    run(raw, data, later)
    assert "edge" not in members(raw, data, later)["qi_transcripts"]
    run(raw, data, later + timedelta(days=1))
    assert members(raw, data, later)["qi_transcripts"] == set()

"""Individual-level datasets (pipeline/governance/datasets.py) kept in step with consent and
the policy, on a small hand-written intake store (no language model: the analyzer finds
nothing, so every rendering is the text as written)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import polars as pl
import pytest

from pipeline.governance.consent import ledger
from pipeline.governance.datasets import (MAX_DATE_SHIFT_DAYS, DatasetSync, date_shift,
                                          eligible_subjects, sync_datasets, transcript_datasets)
from pipeline.intake.ingest import RawFile, parse_file, sha256_file
from pipeline.intake.prepare import INTAKE_DATASET, INTAKE_PURPOSE, prepare_file, read_intake
from pipeline.intake.pseudonym import pseudonymise, secret_name
from pipeline.policy import load_policy
from pipeline.vault.crypto import LocalKeyProvider, new_key
from pipeline.vault.keystore import KeyStore
from pipeline.vault.store import Vault, seal_quarantine, seal_records
from tests.conftest import POLICIES

NOW = datetime(2026, 11, 27, tzinfo=timezone.utc)


def _ev(eid, user, etype, when="2026-11-20T10:00:00+00:00", **fields):
    return {"event_id": eid, "user_id": user, "event_type": etype, "occurred_at": when,
            "schema_version": 1, **fields}


def _session(eid, user, session, when="2026-11-20T10:00:00+00:00"):
    return _ev(eid, user, "session_started", when, session_id=session, channel="app",
               locale="en-GB", model_version="m1")


def _msg(eid, user, session, turn, text, when="2026-11-20T10:05:00+00:00"):
    return _ev(eid, user, "message", when, session_id=session, turn=turn, role="user", text=text)


def _consent(eid, user, purpose, version, action="granted", when="2026-11-19T09:00:00+00:00"):
    return _ev(eid, user, "consent", when, purpose=purpose, action=action,
               consent_version=version)


# alice: research v1 and quality_improvement v2 (accepted); an old session past QI retention.
# bob: quality_improvement v1 (not accepted by the policy). carol: no consent, one session
# with a high risk flag, one without. dan: QI v2 but born 2015 (too young), a low risk flag.
EVENTS = [
    _consent("c1", "u-alice", "research", "1"), _consent("c2", "u-alice", "quality_improvement", "2"),
    _session("a0", "u-alice", "sa0", "2026-08-01T10:00:00+00:00"),
    _msg("a0m", "u-alice", "sa0", 0, "an old message", "2026-08-01T10:01:00+00:00"),
    _session("a1", "u-alice", "sa1"),
    _msg("a1m0", "u-alice", "sa1", 0, "hello there"), _msg("a1m1", "u-alice", "sa1", 1, "bye now"),
    _consent("c3", "u-bob", "quality_improvement", "1"),
    _session("b1", "u-bob", "sb1"), _msg("b1m0", "u-bob", "sb1", 0, "bob speaking"),
    _session("k1", "u-carol", "sc1"),
    _ev("k1r", "u-carol", "risk_flag", session_id="sc1", level="high", source="model"),
    _msg("k1m0", "u-carol", "sc1", 0, "i feel unsafe"), _msg("k1m1", "u-carol", "sc1", 1, "help"),
    _session("k2", "u-carol", "sc2"), _msg("k2m0", "u-carol", "sc2", 0, "a calm day"),
    _consent("c4", "u-dan", "quality_improvement", "2"),
    _ev("d0", "u-dan", "profile", birth_year=2015),
    _session("d1", "u-dan", "sd1"),
    _ev("d1r", "u-dan", "risk_flag", session_id="sd1", level="low", source="model"),
    _msg("d1m0", "u-dan", "sd1", 0, "school was ok"),
]


def no_spans(texts):
    return [[] for _ in texts]


def ingest(tmp_path, vault, keys, policy, events, name):
    path = tmp_path / name
    path.write_text("".join(json.dumps(e) + "\n" for e in events))
    parsed = parse_file(RawFile(path, path.name, sha256_file(path)))
    assert not parsed.quarantined, parsed.quarantined
    prep = prepare_file(parsed, vault, keys, no_spans, policy, NOW)
    vault.commit_sealed(prep.result.outcome, seal_records(keys, prep.records, policy.version),
                        seal_quarantine(keys, parsed.raw.sha256, parsed.raw.name, []))


def sync(vault, keys, policy):
    frames = read_intake(vault, messages=False)
    subjects = vault.subjects(INTAKE_DATASET)
    allowed = ledger(frames, subjects, policy.policy, NOW).allowed
    return sync_datasets(frames, allowed, vault, keys, policy, NOW)


@pytest.fixture
def world(tmp_path):
    policy = load_policy(POLICIES)
    with KeyStore(tmp_path / "k.sqlite", LocalKeyProvider(new_key())) as keys, \
            Vault(tmp_path / "v.duckdb", keys) as vault:
        ingest(tmp_path, vault, keys, policy, EVENTS, "day1.jsonl")
        intake_key = keys.secret(secret_name(INTAKE_PURPOSE))
        ids = {u: pseudonymise(intake_key, "user", f"u-{u}") for u in ("alice", "bob", "carol", "dan")}
        yield vault, keys, policy, ids, tmp_path


def _dataset(vault, name):
    return sorted((p["text"], subject, p) for _, subject, p in vault.read(name))


# -- pure parts --------------------------------------------------------------------------------

def test_date_shift_is_stable_whole_days_within_the_bound():
    key = bytes(range(32))
    shifts = [date_shift(key, f"s{i}") for i in range(400)]
    assert shifts[:3] == [date_shift(key, f"s{i}") for i in range(3)]
    assert {s.days for s in shifts} == set(range(-MAX_DATE_SHIFT_DAYS, MAX_DATE_SHIFT_DAYS + 1))
    assert all(s == timedelta(days=s.days) for s in shifts)


def test_transcript_datasets_are_the_individual_ones_that_keep_transcripts():
    policy = load_policy(POLICIES).policy
    assert sorted(transcript_datasets(policy)) == ["qi_transcripts", "safety_transcripts"]


def test_eligible_subjects_with_and_without_a_risk_filter():
    policy = load_policy(POLICIES).policy
    frames = {"risk_flag": pl.DataFrame({
        "subject": ["a", "b", "c", "x"], "session_id": ["s1", "s2", "s3", "s4"],
        "level": ["high", "low", "imminent", "high"]})}
    allowed = {"quality_improvement": {"a", "b"}, "safety_review": {"a", "b", "c", "x"}}
    subjects = {"a", "b", "c"}  # x is not in the intake any more
    qi, safety = policy.datasets["qi_transcripts"], policy.datasets["safety_transcripts"]
    assert eligible_subjects(frames, allowed, subjects, qi) == ({"a", "b"}, None)
    assert eligible_subjects(frames, allowed, subjects, safety) == ({"a", "c"}, {"s1", "s3"})
    assert eligible_subjects(frames, {}, subjects, qi) == (set(), None)


# -- sync on a real store ----------------------------------------------------------------------

def test_first_sync_fills_each_dataset_with_its_eligible_people_only(world):
    vault, keys, policy, ids, _ = world
    assert sync(vault, keys, policy) == [DatasetSync("qi_transcripts", 1, 2, 0, 0),
                                         DatasetSync("safety_transcripts", 1, 2, 0, 0)]
    qi_key = keys.secret(secret_name("quality_improvement"))
    qi = _dataset(vault, "qi_transcripts")
    assert [t for t, _, _ in qi] == ["bye now", "hello there"]  # not the message past 90 days
    assert {s for _, s, _ in qi} == {pseudonymise(qi_key, "user", ids["alice"])}
    safety = _dataset(vault, "safety_transcripts")
    assert [t for t, _, _ in safety] == ["help", "i feel unsafe"]  # session sc1 only


def test_purpose_pseudonyms_and_timestamps_as_each_dataset_declares(world):
    vault, keys, policy, ids, _ = world
    sync(vault, keys, policy)
    qi_key = keys.secret(secret_name("quality_improvement"))
    shift = date_shift(qi_key, ids["alice"])
    [(_, subject, p)] = [r for r in _dataset(vault, "qi_transcripts") if r[0] == "hello there"]
    assert p["timestamps"] == "shift" and p["turn"] == 0 and p["role"] == "user"
    assert (datetime.fromisoformat(p["occurred_at"])
            == datetime(2026, 11, 20, 10, 5, tzinfo=timezone.utc) + shift)
    intake_session = pseudonymise(keys.secret(secret_name(INTAKE_PURPOSE)), "session", "sa1")
    assert p["session"] == pseudonymise(qi_key, "session", intake_session)
    assert subject == pseudonymise(qi_key, "user", ids["alice"]) != ids["alice"]
    for _, _, p in _dataset(vault, "safety_transcripts"):  # timestamps: exact
        assert p["timestamps"] == "exact"
        assert p["occurred_at"] == "2026-11-20T10:05:00+00:00"


def test_a_second_sync_adds_nothing(world):
    vault, keys, policy, _, _ = world
    sync(vault, keys, policy)
    before = vault.fingerprint()
    assert sync(vault, keys, policy) == [DatasetSync("qi_transcripts", 1, 0, 0, 0),
                                         DatasetSync("safety_transcripts", 1, 0, 0, 0)]
    assert vault.fingerprint() == before


def test_a_withdrawal_erases_the_person_and_shreds_their_key(world):
    vault, keys, policy, _, tmp_path = world
    sync(vault, keys, policy)
    assert keys.count("qi_transcripts") == 1
    ingest(tmp_path, vault, keys, policy, [_consent(
        "c9", "u-alice", "quality_improvement", "2", "withdrawn", "2026-11-21T09:00:00+00:00")],
        "day2.jsonl")
    assert sync(vault, keys, policy) == [DatasetSync("qi_transcripts", 0, 0, 1, 2),
                                         DatasetSync("safety_transcripts", 1, 0, 0, 0)]
    assert _dataset(vault, "qi_transcripts") == [] and keys.count("qi_transcripts") == 0

"""Intake: pseudonyms, per-dataset renderings, fail closed on locales without a model."""

from __future__ import annotations

import json
from datetime import datetime, timezone

from pipeline.vault.crypto import LocalKeyProvider, new_key
from pipeline.deid import analyze_texts
from pipeline.intake.ingest import RawFile, parse_file, sha256_file
from pipeline.intake.prepare import prepare_file, read_intake
from pipeline.vault.keystore import KeyStore
from pipeline.policy import load_policy
from pipeline.vault.store import Vault, seal_quarantine, seal_records
from tests.conftest import POLICIES

NOW = datetime(2026, 11, 27, tzinfo=timezone.utc)


def _events(locale):
    base = {"occurred_at": "2026-11-20T10:00:00+00:00", "schema_version": 1, "user_id": "u-Secret-1"}
    return [
        {**base, "event_id": "e1", "event_type": "session_started", "session_id": "s1",
         "channel": "app", "locale": locale, "model_version": "m"},
        {**base, "event_id": "e2", "event_type": "message", "session_id": "s1", "turn": 0,
         "role": "user", "text": "my name is Sam and i am 34 years old"},
    ]


def _ingest(tmp_path, locale):
    path = tmp_path / f"{locale}.jsonl"
    path.write_text("\n".join(json.dumps(e) for e in _events(locale)) + "\n")
    policy = load_policy(POLICIES)
    with KeyStore(tmp_path / "k.sqlite", LocalKeyProvider(new_key())) as keys, \
            Vault(tmp_path / f"{locale}.duckdb", keys) as vault:
        parsed = parse_file(RawFile(path, path.name, sha256_file(path)))
        prep = prepare_file(parsed, vault, keys, analyze_texts, policy, NOW)
        vault.commit_sealed(prep.result.outcome, seal_records(keys, prep.records, policy.version),
                            seal_quarantine(keys, parsed.raw.sha256, parsed.raw.name,
                                            parsed.quarantined))
        result = prep.result
        frames = read_intake(vault)
        raw_vault = (tmp_path / f"{locale}.duckdb").read_bytes()
    return result, frames["message"].row(0, named=True), raw_vault


def test_text_is_rendered_per_dataset_and_nothing_raw_is_kept(tmp_path):
    result, msg, raw_vault = _ingest(tmp_path, "en-GB")
    assert result.messages == 1 and result.withheld == 0
    assert msg["text"] == "my name is <PERSON_1> and i am <AGE_1>"
    renderings = json.loads(msg["renderings"])
    assert renderings["qi_transcripts"] == "my name is <PERSON_1> and i am <REDACTED>"  # AGE: redact
    assert renderings["safety_transcripts"] == msg["text"]
    assert msg["session_id"] != "s1" and len(msg["subject"]) == 32
    assert b"Sam" not in raw_vault and b"u-Secret-1" not in raw_vault


def test_locale_without_a_model_is_not_kept_as_text(tmp_path):
    result, msg, _ = _ingest(tmp_path, "cy-GB")
    assert result.withheld == 1 and result.messages == 0
    assert msg["text"] is None and msg["renderings"] is None
    assert msg["withheld"] == "no de-identification model for the session's locale"

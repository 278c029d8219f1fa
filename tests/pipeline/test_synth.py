from __future__ import annotations

import csv
import gzip
import json

from pipeline.intake.contract import validate_event
from pipeline.intake.ingest import discover, parse_file
from pipeline.synth import generate


def _digest(root):
    return {f.name: f.sha256 for f in discover(root)}


def test_deterministic_per_seed(tmp_path):
    generate(tmp_path / "a", users=10, days=20, seed=3)
    generate(tmp_path / "b", users=10, days=20, seed=3)
    generate(tmp_path / "c", users=10, days=20, seed=4)
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b") != _digest(tmp_path / "c")


def test_clean_data_is_contract_valid_and_rich(tmp_path):
    counts = generate(tmp_path, users=40, days=30, seed=1)
    events = []
    for f in discover(tmp_path):
        for line in gzip.decompress(f.path.read_bytes()).splitlines():
            ev = validate_event(json.loads(line))
            assert not isinstance(ev, list), ev
            events.append(ev)
    assert len(events) == counts["events"]
    types = {e.event_type for e in events}
    assert types == {"session_started", "message", "session_ended", "consent", "profile",
                     "assessment", "risk_flag", "escalation"}
    purposes = {(e.purpose, e.action) for e in events if e.event_type == "consent"}
    assert {("research", "granted"), ("quality_improvement", "granted")} <= purposes
    assert any(a == "withdrawn" for _, a in purposes)


def test_ground_truth_spans_point_at_identifiers(tmp_path):
    generate(tmp_path, users=20, days=30, seed=2)
    texts = {}
    for f in discover(tmp_path):
        for line in gzip.decompress(f.path.read_bytes()).splitlines():
            ev = json.loads(line)
            if ev["event_type"] == "message":
                texts[ev["event_id"]] = ev["text"]
    rows = list(csv.DictReader(open(tmp_path / "ground_truth.csv")))
    kinds = {r["entity_type"] for r in rows}
    assert {"PERSON", "PHONE_NUMBER", "EMAIL_ADDRESS", "UK_NHS", "URL", "UK_POSTCODE",
            "HANDLE", "DATE_OF_BIRTH", "STREET_ADDRESS"} <= kinds
    for r in rows:
        value = texts[r["event_id"]][int(r["start"]):int(r["end"])]
        assert value and value == value.strip()
        if r["entity_type"] == "EMAIL_ADDRESS":
            assert "@" in value or " at " in value  # also spelled out ("jo dot b at gmail dot com")
        if r["entity_type"] == "UK_NHS":
            digits = [int(c) for c in value if c.isdigit()]
            assert len(digits) == 10
            assert (11 - sum(d * w for d, w in zip(digits, range(10, 1, -1))) % 11) % 11 == digits[9]
    assert any(r["entity_type"] == "PERSON" and texts[r["event_id"]][int(r["start"])].islower()
               for r in rows), "some names must be typed in lower case"


def test_faults_cover_every_contract_rule(sample_raw):
    rules = set()
    for f in discover(sample_raw):
        rules |= {(q.field.split(".")[0], q.rule) for q in parse_file(f).quarantined}
    fields = {f for f, _ in rules}
    assert {"line", "event", "event_type", "occurred_at", "items", "total", "text"} <= fields
    assert ("line", "not valid JSON") in rules and ("line", "not valid UTF-8") in rules
    assert any(r == "required field is missing" for _, r in rules)
    assert any(r.startswith("must be") for f, r in rules if f in ("user_id", "schema_version"))

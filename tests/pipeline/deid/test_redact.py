from __future__ import annotations

import json

import pytest

from pipeline.policy import load_policy
from pipeline.deid.redact import BadLine, redact_lines
from tests.conftest import POLICIES


def test_offsets_refer_to_the_original_and_sessions_share_placeholders():
    policy = load_policy(POLICIES).policy
    lines = [json.dumps({"id": 1, "text": "hi im jess", "session": "a"}), "",
             "{broken", json.dumps({"id": 2, "text": "jess again, mail jess@example.org", "session": "a"}),
             json.dumps({"id": 3, "nope": 1})]
    out = list(redact_lines(lines, policy))
    bad = [o for o in out if isinstance(o, BadLine)]
    good = [o for o in out if not isinstance(o, BadLine)]
    assert [b.line for b in bad] == [3, 5] and "broken" not in str(bad)
    assert good[0]["text"] == "hi im <PERSON_1>"
    e = good[0]["entities"][0]
    assert "hi im jess"[e["start"]:e["end"]] == "jess"
    assert good[1]["text"].startswith("<PERSON_1> again") and "<EMAIL_ADDRESS_1>" in good[1]["text"]


def test_dataset_operators_and_unknown_dataset():
    policy = load_policy(POLICIES).policy
    [out] = redact_lines([json.dumps({"id": 1, "text": "i am 34 years old"})], policy, "qi_transcripts")
    assert out["text"] == "i am <REDACTED>"
    with pytest.raises(KeyError, match="unknown dataset"):
        list(redact_lines(["{}"], policy, "nope"))

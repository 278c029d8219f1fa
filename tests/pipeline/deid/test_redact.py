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



def test_types_the_engine_finds_but_the_policy_does_not_list_are_still_replaced():
    """Fail closed, through the real engine: a policy that lists only AGE (redacted) still
    gets the name, organisation, e-mail address and date replaced, with type placeholders."""
    policy = load_policy(POLICIES).policy
    deid = policy.deidentification.model_copy(
        update={"entities": ("AGE",), "operators": {}, "default_operator": "redact"})
    policy = policy.model_copy(update={"deidentification": deid})
    text = "i'm jess, 17, i emailed Barclays from jo.b@clinic.internal on 3rd March 1991"
    [out] = redact_lines([json.dumps({"id": 1, "text": text})], policy)
    for secret in ("jess", "17", "Barclays", "jo.b@clinic.internal", "3rd March 1991"):
        assert secret not in out["text"], secret
    assert [e["entity_type"] for e in out["entities"]] == [
        "PERSON", "AGE", "ORGANIZATION", "EMAIL_ADDRESS", "DATE"]
    assert out["text"] == ("i'm <PERSON_1>, <REDACTED>, i emailed <ORGANIZATION_1> from "
                           "<EMAIL_ADDRESS_1> on <DATE_1>")

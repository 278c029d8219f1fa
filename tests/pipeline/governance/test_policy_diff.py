"""`policy_diff` (pipeline/governance/policy_diff.py): what changed between two policies, in
words, one line per change. The CLI around it is tested in tests/flows/test_cli_governance.py."""

from __future__ import annotations

import pytest

from pipeline.governance.policy_diff import policy_diff
from pipeline.policy import Policy, load_policy
from tests.conftest import POLICIES


@pytest.fixture(scope="module")
def base() -> Policy:
    return load_policy(POLICIES).policy


def _changed(base: Policy, edit) -> Policy:
    data = base.model_dump(mode="json")
    edit(data)
    return Policy.model_validate(data)


def test_same_policy_no_lines(base):
    assert policy_diff(base, base) == []


def test_shorter_and_longer_retention(base):
    def edit(d):
        d["datasets"]["qi_transcripts"]["retention_days"] = 30
        d["intake"]["retention_days"] = 1000
    assert policy_diff(base, _changed(base, edit)) == [
        "retention of dataset qi_transcripts: 90 -> 30 days (shorter: older records will be deleted)",
        "retention of intake store: 730 -> 1000 days (longer)",
    ]


def test_datasets_added_and_removed_come_first_and_once(base):
    def edit(d):
        del d["datasets"]["safety_transcripts"]
        d["datasets"]["new_ds"] = {"purpose": "research", "description": "x", "level": "aggregate",
                                   "keeps": ["sessions"], "encrypted": False, "retention_days": 100}
        d["metadata"]["version"] = "2027.1"
    assert policy_diff(base, _changed(base, edit)) == [
        "dataset added: new_ds",
        "dataset removed: safety_transcripts (all its records will be deleted)",
        "metadata.version: 2026.11.2 -> 2027.1",
    ]


def test_consent_versions_in_words(base):
    def edit(d):
        d["purposes"]["research"]["accepted_consent_versions"] = ["2", "3"]
    assert policy_diff(base, _changed(base, edit)) == [
        "purpose research: consent form version 1 is no longer accepted: people whose latest "
        "consent is on it leave the research population at the next run, and its "
        "individual-level datasets erase them; consent form version 3 is now accepted: people "
        "who consented on it join the research population at the next run",
    ]


def test_reordered_consent_versions(base):
    def edit(d):
        d["purposes"]["research"]["accepted_consent_versions"] = ["2", "1"]
    assert policy_diff(base, _changed(base, edit)) == [
        "purpose research: accepted versions reordered"]


@pytest.mark.parametrize("age,effect", [
    (18, "people known to be under 18 leave it at the next run"),
    (13, "people aged 13 to 15 may join it"),
])
def test_minimum_age_in_both_directions(base, age, effect):
    def edit(d):
        d["purposes"]["research"]["minimum_age"] = age
    assert policy_diff(base, _changed(base, edit)) == [
        f"purpose research: minimum age 16 -> {age} ({effect})"]


def test_lawful_basis(base):
    def edit(d):
        d["purposes"]["safety_review"]["lawful_basis"] = "consent"
        d["purposes"]["safety_review"]["accepted_consent_versions"] = ["2"]
    assert policy_diff(base, _changed(base, edit)) == [
        "purpose safety_review: consent form version 2 is now accepted: people who consented "
        "on it join the safety_review population at the next run",
        "purpose safety_review: lawful basis vital_interests -> consent (only people who opted "
        "in remain; everyone else leaves at the next run)",
    ]


def test_lists_and_mappings_show_every_value(base):
    def edit(d):
        d["deidentification"]["entities"] = [e for e in d["deidentification"]["entities"]
                                             if e != "AGE"]
        d["deidentification"]["operators"]["US_SSN"] = "mask"
        d["deidentification"]["operators"]["AGE"] = "redact"
        del d["deidentification"]["operators"]["IBAN_CODE"]
    assert policy_diff(base, _changed(base, edit)) == [
        "deidentification.entities: removed [AGE]",
        "deidentification.operators.AGE: set to redact",
        "deidentification.operators.IBAN_CODE: removed (was redact)",
        "deidentification.operators.US_SSN: redact -> mask",
    ]


def test_list_items_added_and_removed_at_once(base):
    def edit(d):
        d["safety"]["connection_targets_minutes"] = [15, 30]
    assert policy_diff(base, _changed(base, edit)) == [
        "safety.connection_targets_minutes: added [30]; removed [60]"]

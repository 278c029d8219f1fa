"""`policy_impact` (pipeline/governance/impact.py): what a proposed policy would do now, on
the small hand-written store of test_datasets.py (alice: QI consent v2; bob: QI consent v1;
carol: no consent, a high risk flag; dan: QI v2 but under 16). Changes nothing."""

from __future__ import annotations

import pytest

from pipeline.governance import retention
from pipeline.governance.impact import policy_impact
from pipeline.policy import Policy
from tests.pipeline.governance.test_datasets import NOW, sync, world  # noqa: F401 - fixture

UNCHANGED = {"people_now": 1, "people_newly_excluded": 0, "records_erased_by_exclusion": 0,
             "people_newly_included": 0}


def _proposed(policy: Policy, edit) -> Policy:
    data = policy.model_dump(mode="json")
    edit(data)
    return Policy.model_validate(data)


@pytest.fixture
def synced(world):  # noqa: F811 - the imported fixture
    """The store after a nightly run under the current policy: retentions applied, datasets
    in step."""
    vault, keys, policy, ids, _ = world
    assert retention.enforce(vault, policy.policy, NOW) == {}
    sync(vault, keys, policy)
    return vault, keys, policy.policy


def test_same_policy_changes_nothing(synced):
    vault, keys, current = synced
    before = vault.fingerprint()
    out = policy_impact(vault, keys, current, current, NOW)
    assert out["datasets"] == {"qi_transcripts": UNCHANGED, "safety_transcripts": UNCHANGED}
    assert out["purposes"] == {
        "research": {"people_now": 1, "people_after": 1, "newly_excluded": 0, "newly_included": 0},
        "quality_improvement": {"people_now": 1, "people_after": 1, "newly_excluded": 0,
                                "newly_included": 0},
        "safety_review": {"people_now": 4, "people_after": 4, "newly_excluded": 0,
                          "newly_included": 0},
    }
    assert out["retention"] == {name: {"records": 0, "subjects": 0} for name in
                                ("intake", "qi_transcripts", "safety_transcripts")}
    assert vault.fingerprint() == before


def test_accepting_another_consent_version_includes_people(synced):
    vault, keys, current = synced
    proposed = _proposed(current, lambda d: d["purposes"]["quality_improvement"].update(
        accepted_consent_versions=["1", "2"]))
    out = policy_impact(vault, keys, current, proposed, NOW)
    assert out["datasets"]["qi_transcripts"] == {**UNCHANGED, "people_newly_included": 1}  # bob
    assert out["purposes"]["quality_improvement"] == {
        "people_now": 1, "people_after": 2, "newly_excluded": 0, "newly_included": 1}


def test_dropping_a_consent_version_excludes_people_and_counts_their_records(synced):
    vault, keys, current = synced
    before = vault.fingerprint()
    proposed = _proposed(current, lambda d: d["purposes"]["quality_improvement"].update(
        accepted_consent_versions=["1"]))
    out = policy_impact(vault, keys, current, proposed, NOW)
    assert out["datasets"]["qi_transcripts"] == {  # alice out (2 messages), bob in
        "people_now": 1, "people_newly_excluded": 1, "records_erased_by_exclusion": 2,
        "people_newly_included": 1}
    assert vault.fingerprint() == before  # a preview: nothing erased


def test_a_shorter_retention_previews_what_would_be_deleted(synced):
    vault, keys, current = synced
    proposed = _proposed(current, lambda d: d["intake"].update(retention_days=3))
    out = policy_impact(vault, keys, current, proposed, NOW)
    assert out["retention"]["intake"] == {"records": vault.datasets()["intake"], "subjects": 4}
    assert out["retention"]["qi_transcripts"] == {"records": 0, "subjects": 0}


def test_a_dataset_the_proposal_drops_is_previewed_whole(synced):
    vault, keys, current = synced
    proposed = _proposed(current, lambda d: d["datasets"].pop("safety_transcripts"))
    out = policy_impact(vault, keys, current, proposed, NOW)
    assert out["retention"]["safety_transcripts"] == {"records": 2, "subjects": 1}
    assert sorted(out["datasets"]) == ["qi_transcripts"]

from __future__ import annotations

from datetime import datetime, timezone

import polars as pl

from pipeline.governance.consent import CONSENT_SCHEMA, PROFILE_AGE_SCHEMA, allowed_subjects
from pipeline.policy import load_policy
from tests.conftest import POLICIES

NOW = datetime(2026, 11, 27, tzinfo=timezone.utc)


def t(day):
    return datetime(2026, 10, day, tzinfo=timezone.utc)


def run(rows, birth=(), subjects=None):
    consents = pl.DataFrame(rows, schema=CONSENT_SCHEMA, orient="row")
    years = pl.DataFrame(list(birth), schema=PROFILE_AGE_SCHEMA, orient="row")
    subjects = subjects or {r[0] for r in rows} | {"nobody"}
    return allowed_subjects(consents, years, subjects, load_policy(POLICIES).policy, NOW)


def test_opt_in_latest_event_decides_and_versions_count():
    allowed = run([
        ("a", "research", "granted", "1", t(1)),
        ("b", "research", "granted", "1", t(1)), ("b", "research", "withdrawn", "1", t(5)),
        ("c", "research", "withdrawn", "1", t(1)), ("c", "research", "granted", "2", t(5)),
        ("d", "research", "granted", "9", t(1)),  # version the purpose does not accept
        ("e", "research", "granted", "1", t(3)), ("e", "research", "withdrawn", "1", t(3)),
        ("a", "quality_improvement", "granted", "1", t(1)),  # QI accepts only version 2
    ])
    assert allowed["research"] == {"a", "c"}
    assert allowed["quality_improvement"] == set()


def test_non_consent_basis_admits_everyone_and_age_excludes():
    allowed = run([("a", "research", "granted", "1", t(1)), ("kid", "research", "granted", "1", t(1))],
                  birth=[("kid", 2011), ("a", 1980)])
    assert allowed["research"] == {"a"}
    assert allowed["safety_review"] == {"a", "kid", "nobody"}  # vital interests, no age limit


def test_exclusion_reasons_say_why_and_agree_with_the_ledger():
    from pipeline.governance.consent import exclusion_reasons

    rows = [
        ("a", "research", "granted", "1", t(1)),
        ("b", "research", "granted", "1", t(1)), ("b", "research", "withdrawn", "1", t(5)),
        ("d", "research", "granted", "9", t(1)),  # a form version the purpose does not accept
        ("e", "research", "granted", "1", t(3)), ("e", "research", "withdrawn", "1", t(3)),
        ("kid", "research", "granted", "1", t(1)),
        ("q", "quality_improvement", "granted", "2", t(1)),  # another purpose only
    ]
    consents = pl.DataFrame(rows, schema=CONSENT_SCHEMA, orient="row")
    years = pl.DataFrame([("kid", 2011), ("a", 1980)], schema=PROFILE_AGE_SCHEMA, orient="row")
    subjects = {"a", "b", "d", "e", "kid", "q", "nobody"}
    policy = load_policy(POLICIES).policy
    got = dict(exclusion_reasons(consents, years, subjects, policy, "research", NOW).iter_rows())
    assert got == {"a": None, "b": "withdrawn", "d": "version_not_accepted", "e": "withdrawn",
                   "kid": "under_minimum_age", "q": "not_consented", "nobody": "not_consented"}
    allowed = allowed_subjects(consents, years, subjects, policy, NOW)
    for purpose in policy.purposes:
        reasons = exclusion_reasons(consents, years, subjects, policy, purpose, NOW)
        assert set(reasons.filter(pl.col("reason").is_null())["subject"]) == allowed[purpose]

"""The model-version safety gate: a version that never connects flagged sessions is caught;
noise, small numbers and improvements are not alerts."""

from __future__ import annotations

import pytest

from pipeline.policy import load_policy
from pipeline.warehouse.safety_gate import alerts_markdown, evaluate, newcombe_lower
from tests.conftest import POLICIES
from tests.pipeline.warehouse.safety_frames import at, frames

POLICY = load_policy(POLICIES).policy


def test_newcombe_matches_the_published_example():
    """Newcombe (1998), Stat Med 17:873, example (a): 56/70 - 48/80, method 10 gives
    0.0524 to 0.3339."""
    assert newcombe_lower(56, 70, 48, 80) == pytest.approx(0.0524, abs=5e-4)


def population(old: int, new: int, old_connected: float, new_connected: float):
    """`old` people on m-1.0 (first), then `new` on m-2.0, each with one flagged session;
    the given shares of them connect to a human."""
    sessions, flags, esc = [], [], []
    for version, n, share, day in (("m-1.0", old, old_connected, 0), ("m-2.0", new, new_connected, 5)):
        for i in range(n):
            p, s = f"{version}-{i}", f"s-{version}-{i}"
            sessions.append((p, s, at(i, day), version))
            flags.append((p, s, at(i + 1, day), "high"))
            esc.append((p, s, at(i + 2, day), "offered"))
            if i < round(share * n):
                esc.append((p, s, at(i + 20, day), "connected"))
    f = frames(sessions, flags, esc)
    return f, set(f["session_started"]["subject"].to_list())


def test_a_version_that_never_connects_raises_an_alert_naming_what_to_review():
    f, people = population(40, 40, 0.8, 0.0)
    alerts = evaluate(f, people, POLICY)
    assert [(a.model_version, a.previous_version, a.measure) for a in alerts] == \
        [("m-2.0", "m-1.0", "never_connected")]
    a = alerts[0]
    assert a.share == 1.0 and a.previous_share == 0.2 and a.difference_lo > 0.5
    assert a.people == 40 and a.first_seen == "2026-09" and a.dataset == "safety_transcripts"
    assert "safety_transcripts" in a.review and "m-2.0" in a.review
    text = a.message() + alerts_markdown([a.as_dict()])
    assert "m-2.0" in text and not any(p in text for p in people)  # never a person


def test_no_alert_when_the_new_version_is_as_good_or_better():
    f, people = population(40, 40, 0.8, 0.85)
    assert evaluate(f, people, POLICY) == []


def test_no_alert_within_the_margin_or_without_enough_people():
    f, people = population(400, 400, 0.80, 0.77)  # 3 points worse: under the 5-point margin
    assert evaluate(f, people, POLICY) == []
    f, people = population(15, 15, 0.8, 0.0)  # far worse, but 15 people each side
    assert evaluate(f, people, POLICY) == []
    lax = POLICY.model_copy(update={"safety": replace_safety(gate_min_people=10)})
    assert [a.measure for a in evaluate(f, people, lax)] == ["never_connected"]


def test_a_worse_share_inside_the_noise_is_not_an_alert():
    """10 points worse on 25 people a side: beyond the margin, but the interval of the
    difference includes zero."""
    f, people = population(25, 25, 0.8, 0.7)
    assert evaluate(f, people, POLICY) == []


def replace_safety(**kw):
    return POLICY.safety.model_copy(update=kw)


def test_the_unsafe_synthetic_model_is_caught_and_the_safe_data_is_not(tmp_path):
    """`mhpipe synth --unsafe-model` at the scale of the README's example, straight from
    the raw events (the CLI test runs it through `mhpipe run`)."""
    from pipeline.synth import UNSAFE_MODEL, generate
    from tests.synthetic import frames_from_raw

    for unsafe in (False, True):
        raw = tmp_path / f"raw-{unsafe}"
        generate(raw, users=1000, days=30, seed=4, unsafe_model=unsafe)
        f = frames_from_raw(raw)
        alerts = evaluate(f, set(f["session_started"]["subject"].to_list()), POLICY)
        assert [(a.model_version, a.measure) for a in alerts] == \
            ([(UNSAFE_MODEL, "never_connected")] if unsafe else [])



def test_a_version_seen_once_in_between_does_not_hide_a_worse_one():
    """Review of issue 16: a canary session (or a label that became "other") between two
    real versions made both comparisons too small to run, and the run exited 0."""
    f, people = population(40, 40, 0.8, 0.0)
    canary = frames([("canary", "s-canary", at(0, 3), "m-1.5-canary"),
                     ("odd", "s-odd", at(1, 3), "free text, not a version")],
                    [("canary", "s-canary", at(1, 3), "high")])
    import polars as pl

    both = {k: pl.concat([f[k], canary[k]]) for k in f}
    alerts = evaluate(both, people | {"canary", "odd"}, POLICY)
    assert [(a.model_version, a.previous_version) for a in alerts] == [("m-2.0", "m-1.0")]

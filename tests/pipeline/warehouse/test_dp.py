"""Differential privacy mode (issue 13): OpenDP noise, a per-release spend, an annual cap,
and the differencing attack, which now only ever sees noise."""

from __future__ import annotations

import json
import math
import shutil
import statistics

import polars as pl
import pytest

from pipeline.governance.consent import allowed_subjects, exclusion_reasons, latest_profile
from pipeline.intake.prepare import INTAKE_DATASET, read_intake
from pipeline.policy import load_policy
from pipeline.warehouse import dp, sandbox
from tests.conftest import POLICIES
from tests.pipeline.warehouse.test_release_boundary import CLOCK, _person, population
from pipeline.layout import Layout
from pipeline.vault.stores import open_stores
from tests.synthetic import run_batch

RHO, CAP = 0.5, 1.0


def dp_policies(tmp_path, suppress=True):
    d = tmp_path / "policies"
    shutil.copytree(POLICIES, d)
    text = (d / "policy.yaml").read_text()
    text += (f"  mode: dp\n  dp:\n    rho_per_release: {RHO}\n    rho_cap_per_year: {CAP}\n"
             f"    suppress_and_round: {'true' if suppress else 'false'}\n")
    (d / "policy.yaml").write_text(text)
    return d


def run(raw, data, policies, clock):
    return run_batch(raw, data, policies, clock.isoformat())


def releases_row(layout):
    con = sandbox.connect(layout.release)
    try:
        return con.sql("SELECT * FROM releases").pl().row(0, named=True)
    finally:
        con.close()


def test_a_dp_section_without_dp_mode_is_refused(tmp_path):
    d = tmp_path / "p"
    shutil.copytree(POLICIES, d)
    (d / "policy.yaml").write_text((d / "policy.yaml").read_text()
                                   + "  dp:\n    rho_per_release: 0.5\n    rho_cap_per_year: 1\n")
    with pytest.raises(Exception, match="only takes effect with mode: dp"):
        load_policy(d)


def test_releases_record_the_mechanism_and_the_spend_and_the_cap_holds(tmp_path):
    raw, data = tmp_path / "raw", tmp_path / "data"
    raw.mkdir()
    (raw / "a.jsonl").write_text("\n".join(json.dumps(e) for e in population()) + "\n")
    policies = dp_policies(tmp_path)
    first = run(raw, data, policies, CLOCK)
    layout = Layout(data)
    row = releases_row(layout)
    assert row["mechanism"].startswith("zCDP") and row["rho_spent"] == RHO
    assert row["rho_cumulative_365d"] == RHO and first["warehouse_changed"]
    con = sandbox.connect(layout.release)
    try:  # people counts are the noisy ones of consent_coverage, not exact ones
        overall = con.execute("SELECT users FROM consent_coverage WHERE dimension = 'overall'").fetchall()
    finally:
        con.close()
    assert row["input_people"] == overall[0][0]
    # the one-person differencing attack: add a person, publish at the next date
    (raw / "b.jsonl").write_text("\n".join(json.dumps(e) for e in _person(
        "attacker-probe", "male", phq=(5, 20))) + "\n")
    second = run(raw, data, policies, CLOCK.replace(month=2))
    assert second["warehouse_changed"] and releases_row(layout)["rho_cumulative_365d"] == 2 * RHO
    # a third release inside 365 days would pass the cap: nothing new is published
    before = releases_row(layout)["release_id"]
    third = run(raw, data, policies, CLOCK.replace(month=3))
    assert not third["warehouse_changed"] and third["publication"]["reason"].startswith("budget exhausted")
    assert releases_row(layout)["release_id"] == before
    # a year later the oldest spends have expired
    fourth = run(raw, data, policies, CLOCK.replace(year=2028, month=2))
    assert fourth["warehouse_changed"]


def test_differencing_two_dp_releases_only_sees_noise():
    """The attacker's estimate of the probe's contribution (exactly 1) from two releases has
    the noise's spread, far wider than a person: they cannot tell 0 from 1."""
    sens, rho_each = math.sqrt(8), RHO / 30
    estimates = []
    for _ in range(200):
        with_, _ = dp._gaussian([101.0], sens, rho_each)
        without, scale = dp._gaussian([100.0], sens, rho_each)
        estimates.append(with_[0] - without[0])
    assert statistics.stdev(estimates) > 10 * 1  # one person's effect is 1
    assert abs(statistics.stdev(estimates) - scale * math.sqrt(2)) < 0.25 * scale * math.sqrt(2)


def test_dp_counts_stay_within_the_documented_error(tmp_path):
    """Counts released in dp mode (no rounding, to measure the noise alone) are within
    1.96 noise scales of the exact counts in at least 90% of cells (95% expected)."""
    raw, data = tmp_path / "raw", tmp_path / "data"
    raw.mkdir()
    events = population() + [e for i in range(200) for e in _person(f"x{i}", "female" if i % 3 else "male")]
    (raw / "a.jsonl").write_text("\n".join(json.dumps(e) for e in events) + "\n")
    policies = dp_policies(tmp_path, suppress=False)
    run(raw, data, policies, CLOCK)
    layout = Layout(data)
    lp = load_policy(policies)
    with open_stores(layout) as (_, vault):
        frames = read_intake(vault, messages=False)
        subjects = vault.subjects(INTAKE_DATASET)
    births = latest_profile(frames["profile"]).select("subject", "birth_year").drop_nulls()
    research = allowed_subjects(frames["consent"], births, subjects, lp.policy, CLOCK)["research"]
    from pipeline.warehouse.cadence import scheduled

    cutoff = scheduled(CLOCK, lp.policy.publication.cadence)[1]
    reasons = exclusion_reasons(frames["consent"], births, subjects, lp.policy, "research", CLOCK)
    exact = dp.exact_aggregates(frames, research, lp.policy.publication, cutoff, 730, reasons)
    families = sum(len(s) for _, s in exact.values())
    con = sandbox.connect(layout.release)
    inside = total = 0
    try:
        frame, sens = exact["outcomes_by_group"]
        released = con.sql("SELECT * FROM outcomes_by_group").pl()
        joined = frame.join(released, on=["period", "dimension", "grp"], suffix="_dp")
        for col in ("finished_treatment", "caseness", "recovery"):
            scale = sens[col] / math.sqrt(2 * RHO / families)
            err = (joined[f"{col}_dp"].cast(pl.Float64) - joined[col]).abs()
            inside += int((err <= 1.96 * scale + 0.5).sum())
            total += joined.height
    finally:
        con.close()
    assert total > 500 and inside / total >= 0.90

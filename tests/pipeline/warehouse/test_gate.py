"""The cross-release gate, attacked by subtracting releases (issue 13).

Unit tests on hand-made tables, then the attack end to end: publish, add one person, run
again (same period, then the next scheduled publication) and subtract the releases."""

from __future__ import annotations

from types import SimpleNamespace

import polars as pl

from pipeline.warehouse import disclosure_control as dc
from pipeline.warehouse import sandbox
from pipeline.warehouse.tables import Table
from pipeline.warehouse.gate import gate, history_frame
from pipeline.warehouse.publish import release_ids
from tests.pipeline.warehouse.test_release_boundary import CLOCK, _person, _run, published, write
from pipeline.vault.stores import open_stores

PUB = SimpleNamespace(suppression_threshold=7, rounding_base=5, minimum_group_size=10,
                      all_or_none_min_denominator=20)
SPEC = dc.Spec(counts={"users": None, "x": "users"}, size="users", means=("m",),
               rates={"x_rate": ("x", "users")}, ratios=False)


def release(users: int, x: int, m: float, n_x: int | None = None, n_m: int | None = None) -> Table:
    values = pl.DataFrame([{"period": "2026-Q3", "dimension": "overall", "grp": "all",
                            "users": users, "x": x, "m": m}])
    contrib = pl.DataFrame([{"period": "2026-Q3", "dimension": "overall", "grp": "all",
                             "people": users, "users": users, "x": n_x or x, "m": n_m or users}])
    frame, _ = dc.protect(values, contrib, SPEC, PUB)
    return Table("t", frame, "t", {}, 0, SPEC, contrib)


def cell(t: Table, col: str):
    return t.frame[col][0]


def test_a_change_of_fewer_than_k_people_is_held():
    old = release(100, 40, 2.5)
    new, d = gate(release(103, 43, 2.7), [history_frame(old)], PUB)  # 105, 45 when rounded
    assert (cell(new, "users"), cell(new, "x"), cell(new, "m")) == (100, 40, 2.5)
    assert d.cells_held == 3 and cell(new, "x_rate") == 0.4
    assert dc.check(new.frame, new.contributors, SPEC, PUB) == []


def test_a_change_of_k_or_more_people_is_published():
    old = release(100, 40, 2.5)
    new, d = gate(release(112, 52, 2.9), [history_frame(old)], PUB)
    assert (cell(new, "users"), cell(new, "x"), cell(new, "m")) == (110, 50, 2.9)
    assert d.cells_held == 0


def test_every_retained_release_is_compared_not_only_the_latest():
    """A (100 people) -> B (112: published) -> C (97): C is 15 from B but 3 from A, so
    publishing C would let A and C be subtracted."""
    a = release(100, 40, 2.5)
    b, _ = gate(release(112, 52, 2.9), [history_frame(a)], PUB)
    latest_only, _ = gate(release(97, 37, 2.6), [history_frame(b)], PUB)
    assert cell(latest_only, "users") == 95  # what comparing with the latest alone would do
    c, d = gate(release(97, 37, 2.6), [history_frame(b), history_frame(a)], PUB)
    assert cell(c, "users") == cell(b, "users") == 110 and d.cells_held == 3


def test_a_value_change_with_the_same_people_is_held():
    """One person's final score changed: same contributors, different mean."""
    old = release(100, 40, 2.5)
    new, _ = gate(release(100, 40, 2.6), [history_frame(old)], PUB)
    assert cell(new, "m") == 2.5


def test_an_emptied_group_is_carried_over():
    old = release(100, 40, 2.5)
    empty = Table("t", old.frame.clear(), "t", {}, 0, SPEC, old.contributors.clear())
    new, d = gate(empty, [history_frame(old)], PUB)
    assert new.frame.height == 1 and d.rows_carried == 1 and cell(new, "users") == 100


def _numbers(path) -> dict:
    con = sandbox.connect(path)
    try:
        return {t: con.sql(f'SELECT * FROM "{t}"').pl().sort(pl.all()).rows()
                for (t,) in con.execute("SELECT table_name FROM duckdb_tables() "
                                        "WHERE table_name != 'releases'").fetchall()}
    finally:
        con.close()


def test_one_person_added_between_publications_changes_no_published_cell(tmp_path):
    raw, data, layout = published(tmp_path)
    first = _numbers(layout.release)
    # the attacker's person: deteriorates, has a GAD-7 pair, reached a human
    write(raw, "day-2.jsonl", _person("attacker-probe", "male", phq=(5, 20), gad=(2, 20),
                                       flag=True, connected_after=11))
    same_period = _run(raw, data, clock=CLOCK.replace(day=20))
    assert not same_period["publication"]["due"] and not same_period["warehouse_changed"]
    assert _numbers(layout.release) == first
    scheduled = _run(raw, data, clock=CLOCK.replace(month=2, day=2))
    assert scheduled["publication"]["due"] and scheduled["publication"]["reason"] == "scheduled"
    assert _numbers(layout.release) == first  # every changed cell moved by one person: held
    # twelve more people is a change the gate lets through
    crowd = [e for i in range(12) for e in _person(f"crowd{i}", "male", phq=(20, 3))]
    write(raw, "day-3.jsonl", crowd)
    later = _run(raw, data, clock=CLOCK.replace(month=3, day=2))
    assert later["warehouse_changed"] and _numbers(layout.release) != first
    assert len(release_ids(layout.warehouse)) == 2


def test_an_erasure_between_publications_is_not_visible_by_subtraction(tmp_path):
    raw, data, layout = published(tmp_path)
    before = _numbers(layout.release)
    from pipeline.governance.erasure import erase_user
    from pipeline.policy import load_policy
    from tests.conftest import POLICIES

    with open_stores(layout) as (keys, vault):
        erase_user(vault, keys, load_policy(POLICIES).policy, "u7", CLOCK)
    after = _run(raw, data, clock=CLOCK.replace(month=2, day=2))
    assert after["publication"]["due"]
    assert _numbers(layout.release) == before
    meta = sandbox.connect(layout.release)
    try:
        rel = meta.execute("SELECT data_cutoff, publication, mechanism FROM releases").fetchall()[0]
    finally:
        meta.close()
    assert rel[0] == "2027-01-01" and rel[2].startswith("suppression")


def test_nothing_changes_between_scheduled_dates_even_after_a_no_op_publication(tmp_path):
    """The scheduled publication of February makes no new release (one person changed
    nothing the gate lets through); twelve arrivals on February 10th must then wait for
    March: a release never appears on an unscheduled night."""
    raw, data, layout = published(tmp_path)
    write(raw, "day-2.jsonl", _person("one", "male", phq=(20, 3)))
    feb = _run(raw, data, clock=CLOCK.replace(month=2, day=2))
    assert feb["publication"]["due"] and not feb["warehouse_changed"]
    write(raw, "day-3.jsonl", [e for i in range(12) for e in _person(f"late{i}", "male", phq=(20, 3))])
    later = _run(raw, data, clock=CLOCK.replace(month=2, day=10))
    assert not later["publication"]["due"] and not later["warehouse_changed"]
    march = _run(raw, data, clock=CLOCK.replace(month=3, day=1))
    assert march["publication"]["due"] and march["warehouse_changed"]


def test_the_gate_remembers_releases_deleted_from_the_publish_folder(tmp_path):
    """After an erasure the older releases are deleted, but a researcher may have copies:
    their values and contributor counts stay in the gate's private history."""
    from pipeline.governance.erasure import erase_user
    from pipeline.policy import load_policy
    from tests.conftest import POLICIES

    raw, data, layout = published(tmp_path)
    write(raw, "day-2.jsonl", [e for i in range(12) for e in _person(f"c{i}", "male", phq=(20, 3))])
    _run(raw, data, clock=CLOCK.replace(month=2, day=2))
    assert release_ids(layout.warehouse) == [1, 2]
    with open_stores(layout) as (keys, vault):
        erase_user(vault, keys, load_policy(POLICIES).policy, "c3", CLOCK.replace(month=2, day=3))
    _run(raw, data, clock=CLOCK.replace(month=2, day=4))
    assert release_ids(layout.warehouse) == [2]  # the first release is gone from the folder
    store = layout.vault.parent / "releases"
    assert sorted(d.name for d in store.iterdir()) == ["0001", "0002"]  # not from the gate

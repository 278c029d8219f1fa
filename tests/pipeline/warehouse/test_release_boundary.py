"""The release boundary, attacked as a hostile researcher would (issue 12).

A small population is written as raw logs and run through the real stages: one probe person
is the only one of their ethnicity, the only one whose GAD-7 fell by 21 and the only one
connected to a human after a risk flag (37 minutes); they typed their name into the language
field; a group has 8 research users out of 12. Nothing published may give any of that away."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import duckdb
import pytest

from pipeline.warehouse import sandbox
from pipeline.warehouse.labels import check_labels
from pipeline.warehouse.publish import release_ids, purge_unsafe
from tests.conftest import POLICIES, POLICY
from pipeline.layout import Layout, LayoutError
from pipeline.run.outputs import build_outputs
from pipeline.vault.stores import open_stores
from tests.synthetic import run_batch

NOW = datetime(2026, 11, 27, tzinfo=timezone.utc)  # events are placed relative to this
CLOCK = datetime(2027, 1, 15, tzinfo=timezone.utc)  # runs: the quarter of the events has closed
NAME = "Zebedee Quartermaine"
PROBE = "probe-user"


def _at(days_ago: float, minutes: float = 0) -> str:
    return (NOW - timedelta(days=days_ago) + timedelta(minutes=minutes)).isoformat()


def _person(user: str, gender: str, *, research: bool = True, language: str = "English",
            phq=(15, 8), gad=(6, 4), flag: bool = False, connected_after: float | None = None,
            ethnicity: str | None = None):
    """Two sessions with PHQ-9 and GAD-7 at both: everyone finishes treatment."""
    s, s2 = f"s-{user}", f"s2-{user}"
    evs = [
        {"event_type": "profile", "occurred_at": _at(40), "birth_year": 1990, "gender": gender,
         "language": language, **({"ethnicity": ethnicity} if ethnicity else {})},
        {"event_type": "session_started", "session_id": s, "occurred_at": _at(39),
         "channel": "app", "locale": "en-GB", "model_version": "m1"},
        {"event_type": "session_started", "session_id": s2, "occurred_at": _at(10),
         "channel": "app", "locale": "en-GB", "model_version": "m1"},
        {"event_type": "assessment", "session_id": s, "occurred_at": _at(39, 1),
         "instrument": "PHQ-9", "items": _items(phq[0], 9)},
        {"event_type": "assessment", "session_id": s2, "occurred_at": _at(10, 1),
         "instrument": "PHQ-9", "items": _items(phq[1], 9)},
        {"event_type": "assessment", "session_id": s, "occurred_at": _at(39, 1),
         "instrument": "GAD-7", "items": _items(gad[0], 7)},
        {"event_type": "assessment", "session_id": s2, "occurred_at": _at(10, 1),
         "instrument": "GAD-7", "items": _items(gad[1], 7)},
    ]
    if research:
        evs.append({"event_type": "consent", "occurred_at": _at(41), "purpose": "research",
                    "action": "granted", "consent_version": "1"})
    if flag:
        evs.append({"event_type": "risk_flag", "session_id": s, "occurred_at": _at(39, 5),
                    "level": "high", "source": "model"})
        evs.append({"event_type": "escalation", "session_id": s, "occurred_at": _at(39, 6),
                    "action": "offered", "target": "crisis_line"})
    if connected_after is not None:
        evs.append({"event_type": "escalation", "session_id": s,
                    "occurred_at": _at(39, 5 + connected_after), "action": "connected",
                    "target": "crisis_line"})
    return [{**e, "user_id": user, "schema_version": 1, "event_id": f"{user}-{i}"}
            for i, e in enumerate(evs)]


def _items(total: int, n: int) -> list[int]:
    out = [0] * n
    for i in range(total):
        out[i % n] += 1
    return out


def population() -> list[dict]:
    events = _person(PROBE, "female", language=f"english, my name is {NAME}", gad=(21, 0),
                     flag=True, connected_after=37, ethnicity="Mixed")
    for i in range(59):  # research users, half flagged and never connected
        events += _person(f"u{i}", "female" if i % 2 else "male", flag=i % 2 == 0,
                          phq=(12 + i % 10, 4 + i % 12))
    for i in range(8):  # a group of 8 research users ...
        events += _person(f"nb{i}", "non-binary")
    for i in range(4):  # ... among 12 users of that group
        events += _person(f"nbx{i}", "non-binary", research=False)
    return events


def _run(raw: Path, data: Path, publish: Path | None = None, clock: datetime = CLOCK) -> dict:
    return run_batch(raw, data, POLICIES, clock.isoformat(), publish)


def write(raw: Path, name: str, events: list[dict]) -> None:
    raw.mkdir(exist_ok=True)
    (raw / name).write_text("\n".join(json.dumps(e) for e in events) + "\n")


def published(root: Path) -> tuple[Path, Path, Layout]:
    """The population written under `root/raw` and published once: (raw, data, layout)."""
    raw, data = root / "raw", root / "data"
    write(raw, "day-1.jsonl", population())
    _run(raw, data)
    return raw, data, Layout(data)


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    return published(tmp_path_factory.mktemp("boundary"))[2]


def _cells(path: Path) -> list[tuple[str, str, object]]:
    con = sandbox.connect(path)
    try:
        out = []
        for (t,) in con.execute("SELECT table_name FROM duckdb_tables()").fetchall():
            frame = con.sql(f'SELECT * FROM "{t}"').pl()
            out += [(t, c, v) for c in frame.columns for v in frame[c].to_list()]
        return out
    finally:
        con.close()


def test_the_probes_values_are_in_no_published_cell(release):
    cells = _cells(release.release)
    numbers = [(t, c, v) for t, c, v in cells if isinstance(v, (int, float)) and not isinstance(v, bool)]
    assert len(numbers) > 100
    assert [x for x in numbers if x[2] in (-21, 21, 37)] == []


def test_statistics_of_one_person_are_not_published(release):
    con = sandbox.connect(release.release)
    try:
        alone = con.execute("SELECT count(*) FROM outcomes_by_group WHERE grp LIKE 'Mixed%' "
                            "OR grp LIKE '%/ Mixed%'").fetchall()[0][0]
        view = con.execute("SELECT count(*) FROM outcomes_by_intersection "
                           "WHERE group_a = 'Mixed or Multiple'").fetchall()[0][0]
        means = con.execute("SELECT count(mean_gad7_change) FROM outcomes_by_group").fetchall()[0][0]
        times = con.execute("SELECT count(median_minutes_to_connection), "
                            "count(p90_minutes_to_connection), "
                            "coalesce(max(sessions_escalation_connected), 0) "
                            "FROM safety_escalation").fetchall()[0]
        overall = con.execute("SELECT finished_treatment FROM outcomes_by_group "
                              "WHERE dimension = 'overall'").fetchall()[0][0]
    finally:
        con.close()
    assert alone == 0 and view == 0  # the probe's ethnicity is one person: no row at all
    assert means > 0  # means over groups of 10+ are published
    assert times == (0, 0, 0)  # one connected session: no time, no count but zeros
    assert overall == 70  # the tables still say something


def test_a_name_typed_into_a_profile_field_is_in_no_release(release):
    for path in [release.release, *release.warehouse.glob("research-*.duckdb")]:
        blob = path.read_bytes()
        for part in NAME.split():
            assert part.encode() not in blob and part.lower().encode() not in blob
        labels = {v for t, c, v in _cells(path) if c == "grp" and t != "codebook"}
        assert "English" in labels and all("name" not in str(v) for v in labels)
        assert "other" not in labels  # the probe's "other" language: one person, no row at all


def test_a_group_of_8_research_users_is_not_published(release):
    con = sandbox.connect(release.release)
    try:
        row = con.execute("SELECT users, research_users, research_share FROM consent_coverage "
                          "WHERE dimension = 'gender' AND grp = 'non-binary'").fetchall()
    finally:
        con.close()
    assert row and row[0][1] is None and row[0][2] is None


def test_every_label_in_the_release_is_in_its_vocabulary(release):
    con = sandbox.connect(release.release)
    try:
        for (t,) in con.execute("SELECT table_name FROM duckdb_tables()").fetchall():
            assert check_labels(con.sql(f'SELECT * FROM "{t}"').pl()) == [], t
    finally:
        con.close()


def test_a_retained_release_with_free_text_labels_is_deleted(tmp_path):
    """A release from before the vocabularies (or tampered with) is purged on publish."""
    wh = tmp_path / "published"
    wh.mkdir()
    con = duckdb.connect(str(wh / "research-0001.duckdb"))
    con.execute("CREATE TABLE t AS SELECT 'all' AS period, 'language' AS dimension, "
                f"'english, my name is {NAME}' AS grp, 10 AS users")
    con.close()
    assert purge_unsafe(wh) == 1 and release_ids(wh) == []


def test_erasure_leaves_no_retained_release_holding_the_person(tmp_path):
    raw, data = tmp_path / "raw", tmp_path / "data"
    raw.mkdir()
    events = population()
    (raw / "day-1.jsonl").write_text("\n".join(json.dumps(e) for e in events) + "\n")
    _run(raw, data)
    more = [e for i in range(12) for e in _person(f"late{i}", "male")]
    (raw / "day-2.jsonl").write_text("\n".join(json.dumps(e) for e in more) + "\n")
    _run(raw, data, clock=CLOCK.replace(month=2))  # the next scheduled publication
    layout = Layout(data)
    assert len(release_ids(layout.warehouse)) == 2
    from pipeline.governance.erasure import erase_user
    from pipeline.policy import load_policy

    with open_stores(layout) as (keys, vault):
        erase_user(vault, keys, load_policy(POLICIES).policy, "late3", CLOCK.replace(month=2))
    out = build_outputs(data, POLICY, CLOCK.replace(month=2, day=16).isoformat())
    assert not out["publication"]["due"]  # not a scheduled date: the current release stays
    assert out["retained_releases_deleted"] >= 1
    numbered = list(layout.warehouse.glob("research-*.duckdb"))
    assert len(numbered) == 1 and numbered[0].stat().st_ino == layout.release.stat().st_ino


def test_the_publish_folder_cannot_be_inside_the_data_folder(tmp_path):
    with pytest.raises(LayoutError, match="outside the data folder"):
        Layout(tmp_path / "data", tmp_path / "data" / "warehouse")
    with pytest.raises(LayoutError):
        Layout(tmp_path / "data", tmp_path)  # nor contain it


def test_the_policy_names_the_purpose_that_feeds_the_warehouse(tmp_path):
    """Renaming the research purpose (and saying so in `publication.purpose`) keeps the
    warehouse filled: the name is not hard-coded."""
    import shutil

    policies = tmp_path / "policies"
    shutil.copytree(POLICIES, policies)
    text = (policies / "policy.yaml").read_text().replace("  research:\n", "  evaluation:\n")
    text = text.replace("purpose: research", "purpose: evaluation")
    text = text.replace("  mode: suppression", "  mode: suppression\n  purpose: evaluation")
    (policies / "policy.yaml").write_text(text)
    events = [{**e, "purpose": "evaluation"} if e.get("purpose") == "research" else e
              for e in population()]
    raw, data = tmp_path / "raw", tmp_path / "data"
    write(raw, "day-1.jsonl", events)
    out = run_batch(raw, data, policies, CLOCK.isoformat())
    assert out["allowed"]["evaluation"] == 68
    con = sandbox.connect(Layout(data).release)
    try:
        users = con.execute("SELECT finished_treatment FROM outcomes_by_group "
                            "WHERE dimension = 'overall'").fetchall()
    finally:
        con.close()
    assert users == [(70,)]

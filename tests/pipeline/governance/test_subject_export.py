"""Subject access export (GDPR Art. 15): exactly the person's records, nobody else's, in a
private file, audited without the id."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from pipeline.governance import audit
from pipeline.intake.contract import validate_event
from pipeline.lock import LockError, run_lock
from pipeline.policy import load_policy
from pipeline.intake.pseudonym import pseudonymise, secret_name
from pipeline.governance.subject_export import SubjectExportError, export_subject
from pipeline.synth import generate
from tests.conftest import NOW, POLICIES
from tests.synthetic import raw_events, run_batch
from pipeline.layout import Layout
from pipeline.vault.stores import open_stores


def _pseudonyms(keys, policy, user_id: str) -> dict[str, str]:
    subject = pseudonymise(keys.secret(secret_name("intake")), "user", user_id)
    out = {"intake": subject}
    for name, ds in policy.datasets.items():
        out[name] = pseudonymise(keys.secret(secret_name(ds.purpose)), "user", subject)
    return out


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A vault built by the batch from synthetic logs, plus one extra file with two invalid
    lines: one of the target's, and one of another person that mentions the target's id."""
    root = tmp_path_factory.mktemp("subject")
    raw, data = root / "raw", root / "data"
    generate(raw, users=20, days=20, seed=3)
    events = list(raw_events(raw))
    qi = {e["user_id"] for e in events if e.get("purpose") == "quality_improvement"
          and e.get("action") == "granted"}
    counts: dict[str, int] = {}
    for e in events:
        if e["user_id"] in qi:
            counts[e["user_id"]] = counts.get(e["user_id"], 0) + 1
    target = max(counts, key=counts.get)  # in every dataset the policy materialises for QI
    other = next(e for e in events if e["user_id"] != target and e["event_type"] == "message")
    mine = next(e for e in events if e["user_id"] == target and e["event_type"] == "message")
    extra = raw / "extra"
    extra.mkdir()
    (extra / "extra.jsonl").write_text(
        json.dumps({**mine, "event_id": mine["event_id"] + "-bad", "schema_version": 99}) + "\n"
        + json.dumps({**other, "event_id": other["event_id"] + "-bad", "schema_version": 99,
                      "text": f"my friend's account is {target}"}) + "\n")
    run_batch(raw, data, now=NOW)
    policy = load_policy(POLICIES)
    with open_stores(Layout(data)) as (keys, vault):
        names = {u: _pseudonyms(keys, policy.policy, u) for u in {e["user_id"] for e in events}}
        held = {ds: vault.con.execute(
            "SELECT count(*) FROM records WHERE dataset = ? AND subject = ?", [ds, p]
        ).fetchall()[0][0] for ds, p in names[target].items()}
    return {"raw": raw, "data": data, "root": root, "target": target, "other": other["user_id"],
            "events": events, "names": names, "held": held, "policy": policy}


def _export(world, user_id: str, name: str):
    out = world["root"] / name
    summary = export_subject(world["data"], world["policy"], user_id, out,
                             datetime.fromisoformat(NOW))
    return out, summary


def test_the_export_holds_exactly_their_records_and_no_one_elses(world):
    target = world["target"]
    out, summary = _export(world, target, "export-target.json")
    doc = json.loads(out.read_text())
    text = out.read_text()

    # intake: every valid event of theirs, once (none were quarantined or duplicated in the
    # generated files; the extra file's line of theirs is quarantined)
    valid = {e["event_id"] for e in world["events"]
             if e["user_id"] == target and not isinstance(validate_event(e), list)}
    assert len(doc["datasets"]["intake"]["records"]) == len(valid) > 0
    # every other dataset: exactly what the vault holds under their pseudonym
    assert doc["datasets"]["qi_transcripts"]["records"]  # a QI-consenting person
    for ds, n in world["held"].items():
        got = len(doc["datasets"].get(ds, {}).get("records", []))
        assert got == n, ds
        assert summary["records"].get(ds, 0) == n
    assert doc["counts"] == {k: v for k, v in summary.items()
                             if k in ("records", "quarantined_lines",
                                      "quarantined_lines_with_content", "found")}

    # nobody else's pseudonyms or raw ids; their own pseudonyms are not written either
    for user, names in world["names"].items():
        for pseudonym in names.values():
            assert pseudonym not in text, (user == target)
        if user != target:
            assert user not in text
    # their raw id appears only inside their own quarantined line
    assert target not in json.dumps(doc["datasets"])

    # quarantined lines: theirs with its content; the other person's, which mentions them,
    # by reason only
    lines = {q["file"]: q for q in doc["quarantined_lines"] if q["content"] is not None}
    assert len(doc["quarantined_lines"]) == 2 and len(lines) == 1
    [mine] = lines.values()
    assert mine["field"] == "schema_version" and mine["rule"] and json.loads(
        mine["content"])["user_id"] == target
    withheld = [q for q in doc["quarantined_lines"] if q["content"] is None]
    assert withheld[0]["content_withheld"] and world["other"] not in text
    assert summary["quarantined_lines"] == 2 and summary["quarantined_lines_with_content"] == 1

    assert out.stat().st_mode & 0o777 == 0o600


def test_the_audit_record_holds_counts_only(world):
    target = world["target"]
    _, summary = _export(world, target, "export-audited.json")
    record = audit.read(Layout(world["data"]).audit_log)[-1]
    assert record["kind"] == "subject-export" and record["hash"] == summary["audit_hash"]
    body = json.dumps(record)
    assert target not in body
    for pseudonym in world["names"][target].values():
        assert pseudonym not in body
    assert "export-audited" not in body  # no file name: it could name the person
    assert record["payload"]["records"]["intake"] == world["held"]["intake"]
    ok, _ = audit.verify(Layout(world["data"]).audit_log)
    assert ok


def test_an_unknown_id_gives_an_empty_export(world):
    out, summary = _export(world, "user-nobody-we-know", "export-unknown.json")
    doc = json.loads(out.read_text())
    assert doc["datasets"] == {} and doc["quarantined_lines"] == []
    assert summary["found"] is False and doc["counts"]["found"] is False
    assert out.stat().st_mode & 0o777 == 0o600


def test_an_existing_out_file_is_refused_and_left_alone(world):
    out = world["root"] / "existing.json"
    out.write_text("keep me")
    with pytest.raises(SubjectExportError, match="exists"):
        export_subject(world["data"], world["policy"], world["target"], out,
                       datetime.fromisoformat(NOW))
    assert out.read_text() == "keep me"
    link = world["root"] / "link.json"
    link.symlink_to(world["root"] / "nowhere.json")  # a dangling symlink is refused too
    with pytest.raises(SubjectExportError, match="exists"):
        export_subject(world["data"], world["policy"], world["target"], link,
                       datetime.fromisoformat(NOW))
    assert not (world["root"] / "nowhere.json").exists()


def test_the_publish_folder_is_refused(world):
    publish = Layout(world["data"]).warehouse
    assert publish.is_dir()
    with pytest.raises(SubjectExportError, match="publish folder"):
        export_subject(world["data"], world["policy"], world["target"], publish / "x.json",
                       datetime.fromisoformat(NOW))
    assert not (publish / "x.json").exists()


def test_it_waits_for_no_run_it_takes_the_lock(world):
    out = world["root"] / "locked.json"
    with run_lock(world["data"], "test"):
        with pytest.raises(LockError):
            export_subject(world["data"], world["policy"], world["target"], out,
                           datetime.fromisoformat(NOW))
    assert not out.exists()


def test_a_missing_vault_is_refused(tmp_path):
    with pytest.raises(SubjectExportError, match="no vault"):
        export_subject(tmp_path / "data", load_policy(POLICIES), "someone", tmp_path / "o.json",
                       datetime.fromisoformat(NOW))
    assert not (tmp_path / "o.json").exists()

from __future__ import annotations

import json

from pipeline.governance import audit


def test_chain_detects_edit_removal_and_reorder(tmp_path):
    log = tmp_path / "audit.jsonl"
    for i in range(4):
        audit.append(log, "run", {"loaded": i})
    ok, message = audit.verify(log)
    assert ok and message.startswith("4 records, chain intact; head ")
    lines = log.read_text().splitlines()

    edited = [json.loads(l) for l in lines]
    edited[1]["payload"]["loaded"] = 99
    log.write_text("\n".join(json.dumps(r) for r in edited) + "\n")
    assert audit.verify(log)[0] is False

    log.write_text("\n".join(lines[:1] + lines[2:]) + "\n")
    assert audit.verify(log)[0] is False

    log.write_text("\n".join([lines[1], lines[0]] + lines[2:]) + "\n")
    assert audit.verify(log)[0] is False


def _rechain(records: list[dict]) -> list[dict]:
    """What an attacker with write access does after editing: recompute every hash."""
    prev = audit.GENESIS
    for r in records:
        r["prev_hash"] = prev
        r["hash"] = audit._digest(r)
        prev = r["hash"]
    return records


def test_an_edited_and_rechained_log_fails_against_its_anchored_head(tmp_path):
    log = tmp_path / "audit.jsonl"
    for i in range(5):
        audit.append(log, "run", {"loaded": i})
    anchored = audit.head(log)  # e.g. read from a release's releases.audit_head
    assert audit.verify(log, expect=anchored)[0]
    records = audit.read(log)
    records[2]["payload"]["loaded"] = 99
    log.write_text("".join(json.dumps(r) + "\n" for r in _rechain(records)))
    assert audit.verify(log)[0]  # the chain alone cannot tell
    ok, message = audit.verify(log, expect=anchored)
    assert not ok and "anchored head" in message
    log.write_text("".join(json.dumps(r) + "\n" for r in _rechain(audit.read(log)[:2])))
    assert not audit.verify(log, expect=anchored)[0]  # truncated and re-chained
    log.write_text("")
    assert audit.verify(log) == (False, "the audit log is empty (an emptied log is not a pass)")


def test_records_name_the_os_user_by_uid_not_by_environment(tmp_path, monkeypatch):
    import os

    monkeypatch.setenv("LOGNAME", "someone-else")
    monkeypatch.setenv("USER", "someone-else")
    record = audit.append(tmp_path / "audit.jsonl", "vault-export", {})
    assert record["by"]["uid"] == os.getuid() and record["by"]["user"] != "someone-else"


def test_eight_concurrent_writers_never_fork_the_chain(tmp_path):
    import subprocess
    import sys

    log = tmp_path / "audit.jsonl"
    code = ("import sys; from pathlib import Path; from pipeline.governance import audit\n"
            "for i in range(25): audit.append(Path(sys.argv[1]), 'vault-export', {'i': i})")
    procs = [subprocess.Popen([sys.executable, "-c", code, str(log)]) for _ in range(8)]
    assert all(p.wait(timeout=120) == 0 for p in procs)
    records = audit.read(log)
    assert [r["seq"] for r in records] == list(range(1, 201))
    assert audit.verify(log)[0]

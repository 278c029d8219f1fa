from __future__ import annotations

import json

from pipeline import audit


def test_chain_detects_edit_removal_and_reorder(tmp_path):
    log = tmp_path / "audit.jsonl"
    for i in range(4):
        audit.append(log, "run", {"loaded": i})
    assert audit.verify(log) == (True, "4 records, chain intact")
    lines = log.read_text().splitlines()

    edited = [json.loads(l) for l in lines]
    edited[1]["payload"]["loaded"] = 99
    log.write_text("\n".join(json.dumps(r) for r in edited) + "\n")
    assert audit.verify(log)[0] is False

    log.write_text("\n".join(lines[:1] + lines[2:]) + "\n")
    assert audit.verify(log)[0] is False

    log.write_text("\n".join([lines[1], lines[0]] + lines[2:]) + "\n")
    assert audit.verify(log)[0] is False

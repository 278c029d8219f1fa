"""After `erase` and a nightly run, nothing of the person remains in any store."""

from __future__ import annotations

import json
from datetime import datetime

from pipeline.governance.erasure import erase_user
from pipeline.policy import load_policy
from pipeline.intake.pseudonym import pseudonymise, secret_name
from pipeline.synth import generate
from tests.conftest import POLICIES
from tests.synthetic import raw_events, run_batch
from pipeline.layout import Layout
from pipeline.vault.stores import open_stores

NOW = "2026-10-20T00:00:00+00:00"


def _run(raw, data):
    return run_batch(raw, data, now=NOW)


def test_erasure_leaves_no_row_key_or_line(tmp_path):
    raw, data = tmp_path / "raw", tmp_path / "data"
    generate(raw, users=30, days=30, seed=41, fault_rate=0.05)
    _run(raw, data)
    policy = load_policy(POLICIES).policy
    # the person with the most data, consented to QI so that every dataset has them
    qi_users = {e["user_id"] for e in raw_events(raw) if e.get("purpose") == "quality_improvement"
                and e.get("action") == "granted"}
    counts: dict[str, int] = {}
    for e in raw_events(raw):
        if e.get("user_id") in qi_users:
            counts[e["user_id"]] = counts.get(e["user_id"], 0) + 1
    target = max(counts, key=counts.get)

    with open_stores(Layout(data)) as (keys, vault):
        subject = pseudonymise(keys.secret(secret_name("intake")), "user", target)
        names = {"intake": subject}
        for name, ds in policy.datasets.items():
            names[name] = pseudonymise(keys.secret(secret_name(ds.purpose)), "user", subject)
        assert subject in vault.subjects("intake")
        receipt = erase_user(vault, keys, policy, target, datetime.fromisoformat(NOW))
    assert receipt["records_deleted"]["intake"] > 0 and target not in json.dumps(receipt)

    # A later file brings more of their events: they are excluded, not kept.
    later = raw / "2026-10-19"
    later.mkdir()
    again = [e for e in raw_events(raw) if e.get("user_id") == target][:5]
    (later / "more.jsonl").write_text("\n".join(
        json.dumps({**e, "event_id": e["event_id"] + "-again"}) for e in again) + "\n")
    _run(raw, data)

    with open_stores(Layout(data)) as (keys, vault):
        for name, pseudonym in names.items():
            assert pseudonym not in vault.subjects(name), name
            assert keys._db.execute("SELECT count(*) FROM data_keys WHERE subject = ?",
                                    (pseudonym,)).fetchone()[0] == 0, name
        assert vault.erase_quarantined(lambda raw_line: target.encode() in raw_line) == 0
    vault_file = Layout(data).vault
    for path in data.rglob("*"):
        if path.is_file():
            blob = path.read_bytes()
            assert target.encode() not in blob, path
            if path != vault_file:  # the vault keeps the pseudonym on its erasure list only
                assert subject.encode() not in blob, path


def test_erased_rows_leave_no_bytes_in_the_vault_file(tmp_path):
    """DuckDB keeps deleted rows in free blocks; erasure rewrites the file, so neither the
    person's ciphertexts nor their purpose pseudonyms can be read back from it."""
    import duckdb

    raw, data = tmp_path / "raw", tmp_path / "data"
    generate(raw, users=12, days=20, seed=5)
    _run(raw, data)
    layout = Layout(data)
    target = next(e["user_id"] for e in raw_events(raw) if e.get("event_type") == "message")
    with open_stores(layout) as (keys, vault):
        subject = pseudonymise(keys.secret(secret_name("intake")), "user", target)
    con = duckdb.connect(str(layout.vault), read_only=True)
    try:
        blobs = [r[0] for r in con.execute(
            "SELECT ciphertext FROM records WHERE subject = ? AND octet_length(ciphertext) > 64",
            [subject]).fetchall()]
    finally:
        con.close()
    before = layout.vault.read_bytes()
    present = [b[:48] for b in blobs if b[:48] in before]
    assert len(present) >= 5  # sanity: the bytes are findable while the rows exist
    with open_stores(layout) as (keys, vault):
        erase_user(vault, keys, load_policy(POLICIES).policy, target, datetime.fromisoformat(NOW))
    after = layout.vault.read_bytes()
    assert not any(chunk in after for chunk in present)
    assert layout.vault.stat().st_mode & 0o777 == 0o600

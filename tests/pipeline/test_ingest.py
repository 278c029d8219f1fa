from __future__ import annotations

import gzip
import json

from pipeline.ingest import RawFile, discover, iter_lines, parse_file, sha256_file

GOOD = {"event_id": "e-1", "event_type": "consent", "occurred_at": "2026-11-26T21:04:11+00:00",
        "user_id": "u-secret-1", "schema_version": 1, "purpose": "research", "action": "granted",
        "consent_version": "1"}


def _raw(tmp_path, name, data: bytes) -> RawFile:
    p = tmp_path / name
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
    return RawFile(p, name, sha256_file(p))


def test_lines_bom_crlf_and_final_newline():
    data = b"\xef\xbb\xbfa\r\nb\n\nc"
    assert list(iter_lines(data)) == [(1, b"a"), (2, b"b"), (3, b""), (4, b"c")]
    assert list(iter_lines(b"a\n")) == [(1, b"a")]
    assert list(iter_lines(b"")) == []


def test_discover_finds_both_kinds_and_ignores_others(tmp_path):
    _raw(tmp_path, "2026-11-26/a.jsonl", b"{}\n")
    _raw(tmp_path, "2026-11-27/b.jsonl.gz", b"{}\n")
    _raw(tmp_path, "notes.csv", b"x\n")
    assert [f.name for f in discover(tmp_path)] == ["2026-11-26/a.jsonl", "2026-11-27/b.jsonl.gz"]


def test_every_line_lands_in_one_bucket_with_a_reason(tmp_path):
    lines = [
        json.dumps(GOOD).encode(),
        json.dumps(GOOD).encode(),  # in-file duplicate
        b"{not json",
        b"\xff\xfe",
        b"",
        json.dumps({**GOOD, "event_id": "e-2", "occurred_at": "2026-11-26T21:04:11"}).encode(),
        b'{"event_id": "e-3", "x": NaN}',
        b"[" * 100_000 + b"]" * 100_000,
    ]
    raw = _raw(tmp_path, "f.jsonl.gz", b"\n".join(lines) + b"\n")
    parsed = parse_file(raw)
    assert parsed.lines_read == len(lines)
    assert len(parsed.events) == 1 and parsed.in_file_duplicates == 1
    assert len(parsed.events) + parsed.in_file_duplicates + len(parsed.quarantined) == len(lines)
    reasons = {q.line_no: q.reason for q in parsed.quarantined}
    assert reasons[3] == "line 3: line: not valid JSON"
    assert reasons[4] == "line 4: line: not valid UTF-8"
    assert reasons[5] == "line 5: line: empty line"
    assert reasons[6] == "line 6: occurred_at: must be RFC 3339 with an offset"
    assert reasons[7] == "line 7: line: not valid JSON"
    assert 8 in reasons
    for q in parsed.quarantined:
        assert "u-secret-1" not in q.reason


def test_corrupt_gzip_is_a_file_level_error(tmp_path):
    p = tmp_path / "bad.jsonl.gz"
    p.write_bytes(gzip.compress(json.dumps(GOOD).encode() * 50)[:40])
    parsed = parse_file(RawFile(p, "bad.jsonl.gz", sha256_file(p)))
    assert parsed.file_error and not parsed.events and parsed.lines_read == 0


def test_vanished_file_is_reported(tmp_path):
    parsed = parse_file(RawFile(tmp_path / "gone.jsonl", "gone.jsonl", "0" * 64))
    assert parsed.file_error == "file vanished before it could be read"

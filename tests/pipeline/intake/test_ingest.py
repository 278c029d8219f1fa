from __future__ import annotations

import gzip
import json
import subprocess
import sys

from pipeline.intake.ingest import (RawFile, discover, expanded_size, iter_lines, parse_file, refused,
                             sha256_file)

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


# --- hostile files (issue 15) -----------------------------------------------------------------

def _bomb(path, line_mb: int = 300) -> None:
    """A gzip of a few hundred KB holding one `line_mb` MB line, then one valid line."""
    chunk = b"a" * 2**20
    with gzip.open(path, "wb", compresslevel=9) as fh:
        for _ in range(line_mb):
            fh.write(chunk)
        fh.write(b"\n" + json.dumps(VALID).encode() + b"\n")


VALID = GOOD


def test_a_300_mb_line_is_quarantined_in_bounded_memory(tmp_path):
    path = tmp_path / "bomb.jsonl.gz"
    _bomb(path)
    assert path.stat().st_size < 1_000_000 and expanded_size(path) > 300 * 2**20
    # VmHWM: this process's own peak (ru_maxrss would include the pytest parent's, kept across exec)
    code = ("import sys; from pathlib import Path;"
            "from pipeline.intake.ingest import RawFile, parse_file;"
            f"p = parse_file(RawFile(Path({str(path)!r}), 'bomb.jsonl.gz', '0'*64));"
            "print(p.lines_read, len(p.events), [q.rule for q in p.quarantined],"
            " max(len(q.raw) for q in p.quarantined),"
            " int(open('/proc/self/status').read().split('VmHWM:')[1].split()[0]) // 1024)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    peak_mib = int(out.stdout.split()[-1])
    assert out.stdout.startswith("2 1 ['longer than 1000000 bytes'] 1000000")
    assert peak_mib < 400, peak_mib  # one line's bound, not the 300 MB


def test_a_gzip_of_newlines_is_refused_as_a_whole_not_a_million_quarantine_rows(tmp_path):
    path = tmp_path / "newlines.jsonl.gz"
    path.write_bytes(gzip.compress(b"\n" * 1_000_000, 9))
    assert path.stat().st_size < 2_000
    parsed = parse_file(RawFile(path, path.name, sha256_file(path)))
    assert parsed.file_error.startswith("more than 100000 invalid lines")
    assert parsed.quarantined == [] and parsed.events == [] and parsed.lines_read == 0


def test_symbolic_links_devices_and_unsafe_names_are_never_read(tmp_path):
    import os

    raw = tmp_path / "raw"
    raw.mkdir()
    secret = tmp_path / "outside.jsonl"
    secret.write_text(json.dumps(VALID) + "\n")
    (raw / "link.jsonl").symlink_to(secret)
    (raw / "linked-dir").symlink_to(tmp_path, target_is_directory=True)
    os.mkfifo(raw / "pipe.jsonl")
    (raw / "ok.jsonl").write_text(json.dumps(VALID) + "\n")
    (raw / "ansi\x1b[31m[red]x.jsonl").write_text(json.dumps(VALID) + "\n")
    os.close(os.open(os.fsencode(raw) + b"/bad\xff.jsonl", os.O_CREAT | os.O_WRONLY, 0o600))
    assert [f.name for f in discover(raw)] == ["ok.jsonl"]
    why = dict(refused(raw))
    assert why["link.jsonl"].startswith("symbolic link") and why["pipe.jsonl"].startswith("not a regular")
    assert why["bad\\xff.jsonl"].startswith("file name is not valid UTF-8")
    assert why["ansi\\x1b[31m[red]x.jsonl"].startswith("file name holds control characters")
    assert not any("outside" in n for n in why)  # the linked folder is not walked

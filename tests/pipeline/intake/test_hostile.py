"""Hostile input: whatever a line holds, ingest never crashes and accounts for it.

At least 10,000 generated lines per run (200 files of 60+ lines)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from hypothesis import HealthCheck, given, settings, strategies as st

from pipeline.intake.ingest import RawFile, parse_file, sha256_file

GOOD = {"event_id": "e", "event_type": "message", "occurred_at": "2026-11-26T21:04:11+00:00",
        "user_id": "u", "session_id": "s", "schema_version": 1, "turn": 0, "role": "user",
        "text": "hello"}
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12)


@st.composite
def hostile_line(draw) -> bytes:
    kind = draw(st.integers(0, 9))
    if kind == 0:
        return draw(st.binary(max_size=300))
    if kind == 1:
        return json.dumps(draw(json_values), allow_nan=True).encode()
    if kind == 2:  # a good event with one field replaced by anything
        field = draw(st.sampled_from(sorted(GOOD)))
        ev = {**GOOD, "event_id": draw(st.text(min_size=1, max_size=20)), field: draw(json_values)}
        return json.dumps(ev, allow_nan=True).encode()
    if kind == 3:
        depth = draw(st.integers(100, 5000))
        return b"[" * depth + b"]" * draw(st.integers(0, depth))
    if kind == 4:
        return json.dumps({**GOOD, "text": "x" * draw(st.integers(19_990, 20_010))}).encode()
    if kind == 5:
        stamp = draw(st.sampled_from(["2026-11-26T21:04:11", "9999-12-31T23:59:59+14:00",
                                      "0001-01-01T00:00:00-12:00", "2026-02-30T00:00:00Z",
                                      "2026-11-26 21:04:11+00:00", "1e9"]))
        return json.dumps({**GOOD, "occurred_at": stamp}).encode()
    if kind == 6:
        return b'{"event_id": "s", "text": "\\ud800 lone", "x": ' + draw(st.sampled_from(
            [b"NaN}", b"Infinity}", b"-Infinity}", b'"\\udfff"}', b"1}"]))
    if kind == 7:
        return b"\xef\xbb\xbf" + json.dumps(GOOD).encode() + b"\r"
    if kind == 8:
        return json.dumps({**GOOD, "text": draw(st.text(min_size=1, max_size=200))}).encode()
    return draw(st.sampled_from([b"", b" ", b"\t", b"null", b"[]", b"{}", b"\"str\"", b"1e999"]))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.function_scoped_fixture])
@given(lines=st.lists(hostile_line(), min_size=60, max_size=80), gz=st.booleans())
def test_no_crash_and_every_line_accounted_for(tmp_path, lines, gz):
    lines = [l.replace(b"\n", b" ") for l in lines]
    data = b"\n".join(lines) + b"\n"
    path = tmp_path / ("f.jsonl.gz" if gz else "f.jsonl")
    path.write_bytes(gzip.compress(data) if gz else data)
    parsed = parse_file(RawFile(path, path.name, sha256_file(path)))
    assert parsed.file_error is None
    expected = data.removeprefix(b"\xef\xbb\xbf").count(b"\n")
    assert parsed.lines_read == expected
    assert len(parsed.events) + parsed.in_file_duplicates + len(parsed.quarantined) == expected
    for q in parsed.quarantined:
        assert q.field and q.rule and str(q.line_no) in q.reason
    for ev in parsed.events:  # what passes must be safe for every later stage
        ev.model_dump_json()
        ev.occurred_at.astimezone().isoformat()


def test_empty_and_whitespace_files(tmp_path):
    for content in (b"", b"\n", b"\xef\xbb\xbf"):
        path = tmp_path / "e.jsonl"
        path.write_bytes(content)
        parsed = parse_file(RawFile(path, path.name, sha256_file(path)))
        assert parsed.file_error is None
        assert parsed.lines_read == len(parsed.quarantined) + len(parsed.events)


def test_a_gzip_bomb_is_quarantined_and_the_run_completes_under_1_5_gib(tmp_path):
    """One 300 MB line in a gzip of a few hundred KB, next to ordinary data, through the
    stage functions in a fresh process: the line is quarantined, the counts balance, and the
    process's peak memory (model included) stays under 1.5 GiB."""
    import subprocess
    import sys

    from pipeline.synth import generate
    from tests.pipeline.intake.test_ingest import _bomb

    raw = tmp_path / "raw"
    generate(raw, users=5, days=3, seed=2)
    _bomb(raw / "bomb.jsonl.gz")
    code = ("import json; from pathlib import Path; from tests.synthetic import run_batch;"
            f"s = run_batch(Path({str(raw)!r}), Path({str(tmp_path / 'data')!r}));"
            "print(json.dumps({'ingest': s['ingest'], 'rss': int(open('/proc/self/status')"
            ".read().split('VmHWM:')[1].split()[0]) // 1024}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[3])
    result = json.loads(out.stdout.strip().splitlines()[-1])
    ingest = result["ingest"]
    assert ingest["balanced"] and ingest["quarantine_rules"].get("line: longer than 1000000 bytes") == 1
    assert ingest["files_failed"] == [] and result["rss"] < 1536, result["rss"]

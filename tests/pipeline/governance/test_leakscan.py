"""The canary leak scan (pipeline/governance/leakscan.py): each encoding it promises to see
through, found in a real file of that kind; short canaries ignored; hits name the canary's
number, never its value."""

from __future__ import annotations

import base64
import gzip
import sqlite3

import duckdb
import pytest

from pipeline.governance.leakscan import MIN_CANARY, scan

CANARY = "Zebedee-Quux-4417"
OTHER = "Nothing-Like-This-9"


def _hits(result):
    return sorted((name.rsplit("/", 1)[-1], i, how) for name, i, how in result.hits)


def test_plain_text_and_utf16(tmp_path):
    (tmp_path / "a.log").write_bytes(b"ok " + CANARY.encode() + b" ok")
    (tmp_path / "le.txt").write_bytes(CANARY.encode("utf-16-le"))
    (tmp_path / "be.txt").write_bytes(CANARY.encode("utf-16-be"))
    (tmp_path / "clean.txt").write_bytes(b"nothing here")
    result = scan([OTHER, CANARY], [tmp_path])
    assert _hits(result) == [("a.log", 1, "raw/utf-8"), ("be.txt", 1, "raw/utf-16-be"),
                             ("le.txt", 1, "raw/utf-16-le")]
    assert result.files == 4
    assert result.bytes == sum(p.stat().st_size for p in tmp_path.iterdir())


@pytest.mark.parametrize("shift", [0, 1, 2])
def test_base64_at_every_alignment(tmp_path, shift):
    prefix = b"xyz"[:shift]
    (tmp_path / "b64.txt").write_bytes(b"data:" + base64.b64encode(prefix + CANARY.encode()))
    assert _hits(scan([CANARY], [tmp_path])) == [("b64.txt", 0, f"raw/base64/{shift}")]


def test_gzip_is_scanned_decompressed(tmp_path):
    (tmp_path / "x.jsonl.gz").write_bytes(gzip.compress(("{}\n" * 50 + CANARY).encode()))
    assert _hits(scan([CANARY], [tmp_path])) == [("x.jsonl.gz", 0, "gzip/utf-8")]


def test_duckdb_columns_are_read_as_text(tmp_path):
    """DuckDB compresses stored strings, so a repeated value need not appear in the file's
    bytes; the scan also reads every non-BLOB column through DuckDB."""
    path = tmp_path / "w.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE t (n INTEGER, s VARCHAR, b BLOB)")
    con.execute("INSERT INTO t SELECT i, ?, NULL FROM range(5000) r(i)", [CANARY])
    con.close()
    hits = _hits(scan([CANARY], [path]))
    assert ("w.duckdb", 0, "duckdb/utf-8") in hits
    assert {h[2].split("/")[0] for h in hits} <= {"raw", "duckdb"}


def test_sqlite_strings_are_found_raw(tmp_path):
    path = tmp_path / "p.db"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE logs (message TEXT)")
    con.execute("INSERT INTO logs VALUES (?)", (f"user said {CANARY}",))
    con.commit()
    con.close()
    assert _hits(scan([CANARY], [path])) == [("p.db", 0, "raw/utf-8")]


def test_short_canaries_are_ignored_and_duplicates_counted_once(tmp_path):
    short = "x" * (MIN_CANARY - 1)
    (tmp_path / "f.txt").write_text(short + CANARY)
    # the list after filtering is [CANARY]: hits are numbered in that list
    assert _hits(scan([short, CANARY, CANARY], [tmp_path])) == [("f.txt", 0, "raw/utf-8")]


def test_extra_texts_and_single_files(tmp_path):
    f = tmp_path / "one.txt"
    f.write_text("clean")
    result = scan([CANARY], [f, tmp_path / "missing"], extra_text=[("stderr", f"oops {CANARY}"),
                                                                  ("stdout", "fine")])
    assert result.hits == [("stderr", 0, "utf-8")]
    assert result.files == 3 and result.bytes == 5 + len(f"oops {CANARY}") + 4


def test_a_hit_never_carries_the_canary(tmp_path):
    (tmp_path / "a.txt").write_text(CANARY)
    result = scan([CANARY], [tmp_path])
    assert result.hits and CANARY not in repr(result)

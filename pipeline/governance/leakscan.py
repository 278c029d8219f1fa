"""Canary leak scan: look for known strings in every file a run wrote or touched, in every
encoding that could hide one.

For each file: its raw bytes, and inside them each canary as UTF-8, UTF-16 (LE and BE) and
base64 (at the three alignments); gzip files are also scanned decompressed; DuckDB files are
also read through DuckDB (its storage compresses strings), every non-BLOB column as text;
SQLite files are read raw (strings are stored as is) and, for the orchestrator's database, their
pages decoded as well. Ciphertext is noise by design, so a hit there for short canaries is
possible by chance: canaries should be 8+ characters. Reports files, bytes and hits; a hit
names the file and the canary's number, never its value.
"""

from __future__ import annotations

import base64
import gzip
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

MIN_CANARY = 8


@dataclass
class ScanResult:
    files: int = 0
    bytes: int = 0
    hits: list[tuple[str, int, str]] = field(default_factory=list)  # (file, canary no., how)


def _needles(canary: str) -> list[tuple[bytes, str]]:
    raw = canary.encode()
    out = [(raw, "utf-8"), (canary.encode("utf-16-le"), "utf-16-le"),
           (canary.encode("utf-16-be"), "utf-16-be")]
    for shift in range(3):
        # a base64 run that encodes the canary at this byte alignment (core chars only)
        enc = base64.b64encode(b"\0" * shift + raw)[4 if shift else 0:]
        core = enc[: (len(enc) // 4 - 1) * 4] if len(enc) > 8 else b""
        if len(core) >= 8:
            out.append((core, f"base64/{shift}"))
    return out


def _duckdb_text(path: Path) -> bytes:
    import duckdb

    try:
        con = duckdb.connect(str(path), read_only=True)
    except Exception:  # not a DuckDB file after all, or locked: raw bytes still scanned
        return b""
    try:
        parts = []
        tables = con.execute(
            "SELECT schema_name, table_name FROM duckdb_tables()").fetchall()
        for schema, table in tables:
            cols = [c for c, t in con.execute(
                "SELECT column_name, data_type FROM duckdb_columns() WHERE schema_name = ? "
                "AND table_name = ?", [schema, table]).fetchall() if t != "BLOB"]
            if cols:
                sel = ", ".join(f'CAST("{c}" AS VARCHAR)' for c in cols)
                for row in con.execute(f'SELECT {sel} FROM "{schema}"."{table}"').fetchall():
                    parts.append("\x1f".join(v for v in row if v is not None))
        return "\n".join(parts).encode()
    finally:
        con.close()


def _views(path: Path, blob: bytes) -> list[tuple[bytes, str]]:
    views = [(blob, "raw")]
    if blob[:2] == b"\x1f\x8b":
        try:
            views.append((gzip.decompress(blob), "gzip"))
        except (OSError, EOFError, zlib.error):
            pass
    if path.suffix == ".duckdb" or blob[8:12] == b"DUCK":
        views.append((_duckdb_text(path), "duckdb"))
    return views


def _automaton(canaries: list[str]):
    """One Aho-Corasick automaton over every encoding of every canary: a single pass per
    file, whatever the number of canaries."""
    import ahocorasick

    auto = ahocorasick.Automaton(ahocorasick.STORE_ANY, ahocorasick.KEY_SEQUENCE)
    for i, c in enumerate(canaries):
        for needle, how in _needles(c):
            key = tuple(needle)
            found = auto.get(key, None)
            auto.add_word(key, (found or []) + [(i, how)])
    auto.make_automaton()
    return auto


def _find(auto, data: bytes) -> set[tuple[int, str]]:
    if not data:
        return set()
    return {hit for _, hits in auto.iter(tuple(data)) for hit in hits}


def scan(canaries: Iterable[str], paths: Iterable[Path], extra_text: Iterable[tuple[str, str]] = ()) -> ScanResult:
    """Scan files under `paths` (files or folders) and extra named texts (captured output,
    log records) for the canaries."""
    canaries = [c for c in dict.fromkeys(canaries) if len(c) >= MIN_CANARY]
    auto = _automaton(canaries)
    result = ScanResult()
    files: list[Path] = []
    for p in paths:
        p = Path(p)
        if p.is_file():
            files.append(p)
        elif p.is_dir():
            files.extend(f for f in p.rglob("*") if f.is_file())
    for f in sorted(set(files)):
        try:
            blob = f.read_bytes()
        except OSError:
            continue
        result.files += 1
        result.bytes += len(blob)
        for view, source in _views(f, blob):
            for i, how in sorted(_find(auto, view)):
                result.hits.append((str(f), i, f"{source}/{how}"))
    for name, text in extra_text:
        data = text.encode("utf-8", "replace")
        result.files += 1
        result.bytes += len(data)
        for i, how in sorted(_find(auto, data)):
            result.hits.append((name, i, how))
    return result

"""Ingest: find raw files, read their lines, validate every event against the contract.

A file is a unit of work (a partition), identified by the SHA-256 of its bytes. Each line
ends up in exactly one bucket: valid (then loaded or duplicate, decided against the store
by the intake stage), in-file duplicate, or quarantined with a reason that names the file,
line, field and rule, never the value. A file that cannot be read at all (corrupt gzip,
vanished) is reported as a file-level error; none of its lines is half-loaded.

Lines are split in Python rather than by polars' NDJSON reader because that reader is
all-or-nothing per file, and the contract asks for per-line quarantine.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from .contract import Event, Violation, validate_event
from .vault import QuarantineLine

RAW_PATTERNS = ("*.jsonl", "*.jsonl.gz")
MAX_LINE_BYTES = 1_000_000  # far above 20,000 chars of text; guards against hostile lines
_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class RawFile:
    path: Path
    name: str  # relative to the raw root: safe to log (file names carry no content)
    sha256: str


@dataclass
class ParsedFile:
    raw: RawFile
    lines_read: int = 0
    events: list[Event] = field(default_factory=list)
    in_file_duplicates: int = 0
    quarantined: list[QuarantineLine] = field(default_factory=list)
    file_error: str | None = None


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def discover(raw_root: Path) -> list[RawFile]:
    """Every raw file under the root, sorted by relative name (a stable order)."""
    raw_root = Path(raw_root)
    paths = sorted({p for pat in RAW_PATTERNS for p in raw_root.rglob(pat) if p.is_file()})
    return [RawFile(p, p.relative_to(raw_root).as_posix(), sha256_file(p)) for p in paths]


def _read_bytes(path: Path) -> bytes:
    if path.name.endswith(".gz"):
        with gzip.open(path, "rb") as fh:
            return fh.read()
    return path.read_bytes()


def iter_lines(data: bytes) -> Iterator[tuple[int, bytes]]:
    """(1-based line number, line without its end) for LF or CRLF text; a BOM is dropped."""
    if data.startswith(_BOM):
        data = data[len(_BOM):]
    if not data:
        return
    lines = data.split(b"\n")
    if lines[-1] == b"":
        lines.pop()  # the final newline ends the last line; it does not start a new one
    for i, line in enumerate(lines, start=1):
        yield i, line[:-1] if line.endswith(b"\r") else line


def _reject_constant(name: str) -> None:
    raise ValueError("NaN and Infinity are not JSON")


def parse_line(line: bytes) -> Event | list[Violation]:
    if not line.strip():
        return [Violation("line", "empty line")]
    if len(line) > MAX_LINE_BYTES:
        return [Violation("line", f"longer than {MAX_LINE_BYTES} bytes")]
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        return [Violation("line", "not valid UTF-8")]
    try:
        obj = json.loads(text, parse_constant=_reject_constant)
    except RecursionError:
        return [Violation("line", "JSON nested too deeply")]
    except ValueError:
        return [Violation("line", "not valid JSON")]
    if "\\u" in text:
        try:  # "\ud800"-style escapes can smuggle in lone surrogates: not Unicode text
            json.dumps(obj, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            return [Violation("line", "holds an unpaired surrogate (not valid Unicode)")]
        except RecursionError:
            return [Violation("line", "JSON nested too deeply")]
    return validate_event(obj)


def parse_file(raw: RawFile) -> ParsedFile:
    out = ParsedFile(raw)
    try:
        data = _read_bytes(raw.path)
    except FileNotFoundError:
        out.file_error = "file vanished before it could be read"
        return out
    except (OSError, EOFError, zlib.error):
        out.file_error = "file could not be read (corrupt or truncated gzip?)"
        return out
    seen: set[str] = set()
    for line_no, line in iter_lines(data):
        out.lines_read += 1
        result = parse_line(line)
        if isinstance(result, list):
            v = result[0]
            out.quarantined.append(QuarantineLine(line_no, v.field, v.rule, line))
        elif result.event_id in seen:
            out.in_file_duplicates += 1
        else:
            seen.add(result.event_id)
            out.events.append(result)
    return out

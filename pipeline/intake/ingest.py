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
import os
import stat
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Iterator

from pipeline.intake.contract import Event, Violation, validate_event
from pipeline.vault.store import QuarantineLine

RAW_PATTERNS = ("*.jsonl", "*.jsonl.gz")
MAX_LINE_BYTES = 1_000_000  # far above 20,000 chars of text; guards against hostile lines
MAX_FILE_BYTES = 4 * 2**30  # decompressed: a bigger file is refused (a decompression bomb)
MAX_QUARANTINED = 100_000  # invalid lines per file beyond which the whole file is refused
_BOM = b"\xef\xbb\xbf"


class FileTooLarge(Exception):
    pass


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


def _candidates(raw_root: Path) -> Iterator[tuple[Path, str]]:
    """(path, relative name) of every entry under the root whose name is a raw file's,
    without following symbolic links to folders."""
    for folder, dirs, files in os.walk(raw_root, followlinks=False):
        dirs.sort()
        for f in sorted(files):
            if f.endswith((".jsonl", ".jsonl.gz")):
                path = Path(folder) / f
                yield path, path.relative_to(raw_root).as_posix()


def refusal(path: Path, name: str) -> str | None:
    """Why a raw entry is not read, or None: only regular files (never a symbolic link, a
    device or a pipe, which could make the pipeline read outside the raw folder) with a
    UTF-8 name free of control characters (which could reach a terminal or a log)."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return "file name is not valid UTF-8: not read"
    if any(ord(c) < 32 or 127 <= ord(c) < 160 for c in name):
        return "file name holds control characters: not read"
    st = path.lstat()
    if stat.S_ISLNK(st.st_mode):
        return "symbolic link: not followed, not read"
    if not stat.S_ISREG(st.st_mode):
        return "not a regular file: not read"
    return None


def printable(name: str) -> str:
    """A file name safe to show: undecodable bytes and control characters escaped."""
    raw = name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return "".join(c if ord(c) >= 32 and not 127 <= ord(c) < 160 else f"\\x{ord(c):02x}"
                   for c in raw)


def discover(raw_root: Path) -> list[RawFile]:
    """Every readable raw file under the root, sorted by relative name (a stable order);
    entries `refusal` rejects are left out (`refused` lists them)."""
    raw_root = Path(raw_root)
    return [RawFile(p, name, sha256_file(p)) for p, name in _candidates(raw_root)
            if refusal(p, name) is None]


def refused(raw_root: Path) -> list[tuple[str, str]]:
    """(printable name, reason) of every raw entry that is not read."""
    return [(printable(name), why) for p, name in _candidates(Path(raw_root))
            if (why := refusal(p, name)) is not None]


def _open(path: Path) -> BinaryIO:
    # O_NOFOLLOW: a file swapped for a symbolic link after discovery is not followed either
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    fh = os.fdopen(fd, "rb")
    return gzip.GzipFile(fileobj=fh, mode="rb") if path.name.endswith(".gz") else fh


def stream_lines(fh: BinaryIO) -> Iterator[tuple[int, bytes, bool]]:
    """(1-based line number, line without its end, too long) read from a stream, holding at
    most MAX_LINE_BYTES of one line in memory: an overlong line is cut there and the rest of
    it skipped. Raises FileTooLarge past MAX_FILE_BYTES decompressed."""
    n = total = 0
    first = True
    while True:
        chunk = fh.readline(MAX_LINE_BYTES + 1)
        if not chunk:
            return
        total += len(chunk)
        if first:
            first = False
            if chunk.startswith(_BOM):
                chunk = chunk[len(_BOM):]
                if not chunk:
                    continue
        long = len(chunk) > MAX_LINE_BYTES and not chunk.endswith(b"\n")
        while long:
            more = fh.readline(1 << 20)
            total += len(more)
            if total > MAX_FILE_BYTES:
                raise FileTooLarge
            if not more or more.endswith(b"\n"):
                break
        if total > MAX_FILE_BYTES:
            raise FileTooLarge
        n += 1
        line = chunk[:MAX_LINE_BYTES] if long else chunk.removesuffix(b"\n")
        yield n, line.removesuffix(b"\r") if not long else line, long


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


def parse_line(line: bytes, too_long: bool = False) -> Event | list[Violation]:
    if too_long:
        return [Violation("line", f"longer than {MAX_LINE_BYTES} bytes")]
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
    seen: set[str] = set()
    try:
        with _open(raw.path) as fh:
            for line_no, line, too_long in stream_lines(fh):
                out.lines_read += 1
                result = parse_line(line, too_long)
                if isinstance(result, list):
                    v = result[0]
                    out.quarantined.append(QuarantineLine(line_no, v.field, v.rule, line))
                    if len(out.quarantined) > MAX_QUARANTINED:
                        return _refuse(out, f"more than {MAX_QUARANTINED} invalid lines: not "
                                            "ingested (fix the export and send it again)")
                elif result.event_id in seen:
                    out.in_file_duplicates += 1
                else:
                    seen.add(result.event_id)
                    out.events.append(result)
    except FileNotFoundError:
        return _refuse(out, "file vanished before it could be read")
    except FileTooLarge:
        return _refuse(out, f"more than {MAX_FILE_BYTES // 2**30} GiB once decompressed: not "
                            "ingested (a decompression bomb, or split it)")
    except (OSError, EOFError, zlib.error):
        return _refuse(out, "file could not be read (corrupt or truncated gzip?)")
    return out


def _refuse(out: ParsedFile, why: str) -> ParsedFile:
    """The whole file is not ingested: nothing of it is kept, the reason is reported."""
    return ParsedFile(out.raw, file_error=why)


def expanded_size(path: Path) -> int:
    """Bytes a raw file will take once decompressed: a gzip's own size field (modulo 4 GiB),
    or the file size, whichever is larger (for the disk check)."""
    size = path.stat().st_size
    if path.name.endswith(".gz") and size >= 4:
        with open(path, "rb") as fh:
            fh.seek(-4, os.SEEK_END)
            size = max(size, int.from_bytes(fh.read(4), "little"))
    return size

"""The researcher sandbox: the only way the project opens a published release.

Read-only, with DuckDB's external access off and its configuration locked: no file
functions (`read_text`, `read_csv`, `glob`, ...), no ATTACH, no COPY or EXPORT, no
extension install or load, no secrets, and no `SET`/`RESET`/`PRAGMA` that could undo any of
it. Memory and threads are capped so one query cannot starve the machine. These settings
are fixed when the database is opened and DuckDB refuses to change them from SQL.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

SETTINGS = {
    "enable_external_access": False,
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
    "allow_community_extensions": False,
    "allow_unsigned_extensions": False,
    "memory_limit": "2GB",
    "threads": 2,
    "lock_configuration": True,  # last: nothing above can be changed from SQL afterwards
}


class SandboxError(Exception):
    """A release that is missing or is not a regular file."""


def connect(path: Path) -> duckdb.DuckDBPyConnection:
    """Open a published release read-only inside the sandbox."""
    path = Path(path)
    if path.is_symlink() or not path.is_file():
        raise SandboxError(f"no release file at {path}")
    return duckdb.connect(str(path), read_only=True, config=dict(SETTINGS))

"""The README's CLI reference matches the CLI: every command has a row, and every option
that `--help` lists for it appears in that row (docs tested, as sqlite-utils does)."""

from __future__ import annotations

import re

import pytest
import typer

from flows.cli import app
from tests.conftest import ROOT


def commands() -> dict:
    """Every command path ("policy diff") -> its click command."""
    root = typer.main.get_command(app)
    out: dict = {}

    def walk(group, prefix: str) -> None:  # Typer 0.29 vendors Click: duck-typed
        for name, cmd in group.commands.items():
            path = f"{prefix} {name}".strip()
            if hasattr(cmd, "commands"):
                walk(cmd, path)
            else:
                out[path] = cmd

    walk(root, "")
    return out


def rows() -> dict[str, str]:
    """README CLI table: command path -> the whole row."""
    text = (ROOT / "README.md").read_text()
    table = text[text.index("## CLI reference"):]
    table = table[:table.index("\n## ", 5)]
    out = {}
    for line in table.splitlines():
        m = re.match(r"\| `mhpipe ((?:[a-z][a-z-]*)(?: [a-z][a-z-]*)?)", line)
        if m:
            words = m.group(1).split()
            key = " ".join(words[:2]) if " ".join(words[:2]) in commands() else words[0]
            out[key] = line
    return out


COMMANDS = commands()


def test_every_command_has_a_row_and_no_row_is_stale():
    documented = rows()
    assert sorted(set(COMMANDS) - set(documented)) == []
    assert sorted(set(documented) - set(COMMANDS)) == []


@pytest.mark.parametrize("path", sorted(COMMANDS))
def test_every_option_of_a_command_is_in_its_row(path):
    row = rows()[path]
    missing = [opt for p in COMMANDS[path].params if p.param_type_name == "option"
               for opt in p.opts if opt.startswith("--") and opt != "--help"
               and opt not in row]
    assert missing == [], f"README row of `mhpipe {path}` lacks {missing}"


def test_the_version_option_is_documented():
    text = (ROOT / "README.md").read_text()
    assert "`mhpipe --version`" in text

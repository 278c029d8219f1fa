"""pytest plugin (`-p tests.module_counts` in pyproject's addopts): "tests per module".

At the end of a run it prints, for each source module under pipeline/ and flows/, how many
collected tests its mirrored test file(s) hold, one line per package, then the modules with
none. A test file mirrors a module by path (tests/pipeline/governance/test_audit.py ->
pipeline/governance/audit.py); `test_<module>_<topic>.py` counts for that module too (the
longest module name wins: test_safety_gate.py is safety_gate's, not safety's). Test files
that mirror no module (end-to-end, property and spec files, spec folders) are "cross-module".

Standard library only, and nothing from the project is imported, so it works under any
other option (`-q`, `-p no:cacheprovider`, `--co`, `-k`).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path

import pytest

SOURCE_ROOTS = ("pipeline", "flows")
_COUNTS = pytest.StashKey[Counter]()
MAX_ZERO_NAMED = 40  # more modules without tests than this: a partial run, give the count


def pytest_collection_finish(session: pytest.Session) -> None:
    """Count the tests that will run (after -k/-m deselection), per file."""
    counts: Counter = Counter()
    for item in session.items:
        counts[Path(item.path).resolve()] += 1
    session.config.stash[_COUNTS] = counts


def source_modules(root: Path) -> dict[Path, str]:
    """Source folder (relative) -> module names in it, as {folder/name: "name"} entries."""
    out: dict[Path, str] = {}
    for top in SOURCE_ROOTS:
        for p in sorted((root / top).rglob("*.py")):
            if "__pycache__" in p.parts or p.name == "__init__.py":
                continue
            out[p.relative_to(root).with_suffix("")] = p.stem
    return out


def module_of(test_file: Path, root: Path, modules: dict[Path, str]) -> Path | None:
    """The source module a test file mirrors (relative path without suffix), or None."""
    try:
        rel = test_file.relative_to(root / "tests")
    except ValueError:
        return None
    if not rel.parts or rel.parts[0] not in SOURCE_ROOTS or not rel.name.startswith("test_"):
        return None
    stem = rel.stem[len("test_"):]
    best = None
    for mod in modules:
        name = mod.name
        if mod.parent == rel.parent and (stem == name or stem.startswith(name + "_")):
            if best is None or len(name) > len(best.name):
                best = mod
    return best


def summary_lines(counts: Counter, root: Path) -> list[str]:
    modules = source_modules(root)
    per_module: Counter = Counter()
    cross: Counter = Counter()
    for test_file, n in counts.items():
        mod = module_of(test_file, root, modules)
        if mod is None:
            try:
                cross[test_file.relative_to(root / "tests").as_posix()] += n
            except ValueError:
                cross[test_file.name] += n
        else:
            per_module[mod] += n
    packages: dict[str, list[str]] = defaultdict(list)
    for mod in modules:  # sorted by path already
        if per_module[mod]:
            packages[".".join(mod.parent.parts)].append(f"{mod.name} {per_module[mod]}")
    lines = [f"{pkg}: " + ", ".join(entries) for pkg, entries in sorted(packages.items())]
    if cross:
        folders: dict[str, list[str]] = defaultdict(list)
        for path, n in sorted(cross.items()):
            folder, _, name = path.rpartition("/")
            folders[folder or "tests"].append(f"{name.removeprefix('test_').removesuffix('.py')} {n}")
        lines.append(f"cross-module ({sum(cross.values())} tests in {len(cross)} files): "
                     + "; ".join(f"{f}: " + ", ".join(e) for f, e in folders.items()))
    zero: dict[str, list[str]] = defaultdict(list)
    for mod in modules:
        if not per_module[mod]:
            zero[".".join(mod.parent.parts)].append(mod.name)
    n_zero = sum(map(len, zero.values()))
    if n_zero > MAX_ZERO_NAMED:  # a partial run (one file, -k): the count says enough
        lines.append(f"no tests in this run: {n_zero} of {len(modules)} modules")
    elif n_zero:
        lines.append(f"no tests ({n_zero} of {len(modules)} modules): "
                     + "; ".join(f"{pkg}: " + ", ".join(names) for pkg, names in zero.items()))
    return lines


def pytest_terminal_summary(terminalreporter, exitstatus, config: pytest.Config) -> None:
    counts = config.stash.get(_COUNTS, None)
    if not counts:
        return  # nothing collected (or collection failed): nothing to say
    terminalreporter.write_sep("-", "tests per module")
    for line in summary_lines(counts, Path(config.rootpath).resolve()):
        terminalreporter.write_line(line)

"""Architecture rules for pipeline/ and flows/, checked from the source text (docs/architecture.md).

Fast and import-free: every module is parsed with `ast`, nothing is imported. The rules:
(a) no import cycle; (b) imports go down the layers only; (c) no module over MAX_LINES;
(d) the text "prefect" appears nowhere under pipeline/; (e) every module has a mirrored test
file (pipeline/a/b.py -> tests/pipeline/a/test_b.py, flows/x.py -> tests/flows/test_x.py).

An import counts wherever it is written (module level, inside a function, under
TYPE_CHECKING): a lazy import hides a cycle or an upward dependency, it does not remove it.
`from pkg import sub` counts as importing the submodule `pkg.sub` only; the implicit import
of a package's parent `__init__` does not count.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCE_ROOTS = ("pipeline", "flows")

# Layers, lowest first. A module may import modules of its own rank or of a lower one, never
# of a higher one. An entry is a module name (that module only) or "package.*" (the package
# and everything below it). Every module must be placed: a new top-level module or a new
# folder fails `test_imports_go_down_the_layers` until it is added here (and to
# docs/architecture.md, which shows the same table).
RANKS: dict[int, tuple[str, ...]] = {
    0: ("pipeline", "pipeline.failpoints", "pipeline.lock", "pipeline.layout",  # shared
        "pipeline.entities", "pipeline.risk", "pipeline.disclosure_floors", "pipeline.policy",
        "pipeline.synth"),
    1: ("pipeline.vault.*",),       # crypto, keystore, the Vault, lifecycle, expiry, rotation
    2: ("pipeline.deid.*",),        # de-identification of free text (and its recognizers)
    3: ("pipeline.intake.*",),      # contract, ingest, pseudonyms, generalisation, prepare
    4: ("pipeline.governance.*",),  # consent, datasets, retention, erasure, audit, policy tools
    5: ("pipeline.warehouse.*",),   # research tables, disclosure control, DP, publication
    6: ("pipeline.run.*",),         # the nightly batch as stage functions, doctor, summary
    7: ("flows.*",),                # Prefect orchestration and the typer CLI
}

MAX_LINES = 450

# Modules that need no mirrored test file of their own. Package `__init__.py` files are
# exempt by rule (they re-export; their behaviour is tested through their submodules, and a
# registry kept in one, like pipeline/deid/recognizers/__init__.py, is tested by a named spec
# file). Everything else is listed here with the reason; keep this set small.
EXEMPT: dict[str, str] = {
    # (none: even data-only modules, such as pipeline/disclosure_floors.py and
    # pipeline/intake/vocabularies.py, have a test of their invariants)
}


# -- the source, parsed once --------------------------------------------------------------------

def _modules() -> dict[str, Path]:
    """Dotted module name -> file, for every module under SOURCE_ROOTS."""
    mods: dict[str, Path] = {}
    for top in SOURCE_ROOTS:
        for p in sorted((ROOT / top).rglob("*.py")):
            if "__pycache__" in p.parts:
                continue
            parts = p.relative_to(ROOT).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            mods[".".join(parts)] = p
    return mods


MODULES = _modules()


def _imports(name: str, path: Path) -> tuple[set[str], set[str]]:
    """(internal modules `name` imports, internal import targets that resolve to nothing)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    deps: set[str] = set()
    unresolved: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            subs = {f"{target}.{a.name}" for a in node.names if f"{target}.{a.name}" in MODULES}
            if len(subs) < len(node.names):  # some names are defined in `target` itself
                if target in MODULES:
                    deps.add(target)
                elif target.split(".")[0] in SOURCE_ROOTS:
                    unresolved.add(target)
            deps |= subs
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in MODULES:
                    deps.add(alias.name)
                elif alias.name.split(".")[0] in SOURCE_ROOTS:
                    unresolved.add(alias.name)
    deps.discard(name)
    return deps, unresolved


_PARSED = {name: _imports(name, path) for name, path in MODULES.items()}
GRAPH: dict[str, set[str]] = {name: deps for name, (deps, _) in _PARSED.items()}


def _rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


# -- (a) cycles ---------------------------------------------------------------------------------

def _strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative; components of more than one module (or a self-loop)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            v, children = work[-1]
            for w in children:
                if w not in graph:
                    continue
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(graph[w]))))
                    break
                if w in on_stack:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    comp = []
                    while True:
                        w = stack.pop()
                        on_stack.discard(w)
                        comp.append(w)
                        if w == v:
                            break
                    if len(comp) > 1 or v in graph[v]:
                        out.append(sorted(comp))
    return out


def _a_cycle(graph: dict[str, set[str]], component: list[str]) -> list[str]:
    """One concrete cycle through the component's first module: a -> b -> ... -> a."""
    members, start = set(component), component[0]
    paths = {start: [start]}
    queue = [start]
    while queue:
        v = queue.pop(0)
        for w in sorted(graph[v] & members):
            if w == start:
                return paths[v] + [start]
            if w not in paths:
                paths[w] = paths[v] + [w]
                queue.append(w)
    return component  # pragma: no cover - a strongly connected component always has one


def test_no_import_cycle():
    cycles = [" -> ".join(_a_cycle(GRAPH, comp)) for comp in _strongly_connected(GRAPH)]
    assert not cycles, "import cycle(s) among pipeline/ and flows/:\n  " + "\n  ".join(cycles)


def test_the_cycle_finder_finds_a_planted_cycle():
    """The checker itself: a graph with a known cycle is reported, with the path."""
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set(), "e": {"e"}}
    comps = _strongly_connected(graph)
    assert comps == [["a", "b", "c"], ["e"]]
    assert _a_cycle(graph, comps[0]) == ["a", "b", "c", "a"]


# -- (b) layers ---------------------------------------------------------------------------------

def rank_of(module: str) -> int | None:
    """The rank of a module: an exact entry first, else the longest "package.*" entry."""
    best: tuple[int, int] | None = None  # (length of the matching entry, rank)
    for rank, entries in RANKS.items():
        for entry in entries:
            if entry.endswith(".*"):
                pkg = entry[:-2]
                if module == pkg or module.startswith(pkg + "."):
                    if best is None or len(pkg) > best[0]:
                        best = (len(pkg), rank)
            elif module == entry:
                return rank
    return None if best is None else best[1]


def test_every_module_is_placed_in_a_layer():
    unplaced = sorted(m for m in MODULES if rank_of(m) is None)
    assert not unplaced, ("modules in no layer (add them to RANKS in tests/test_architecture.py "
                          "and to docs/architecture.md): " + ", ".join(unplaced))


def test_imports_go_down_the_layers():
    upward = []
    for name in sorted(GRAPH):
        mine = rank_of(name)
        for dep in sorted(GRAPH[name]):
            theirs = rank_of(dep)
            if mine is not None and theirs is not None and theirs > mine:
                upward.append(f"{name} (rank {mine}) imports {dep} (rank {theirs})")
    assert not upward, "upward import(s):\n  " + "\n  ".join(upward)


def test_every_internal_import_resolves():
    """An import of a pipeline/flows module that does not exist (a path left over from a
    move) is reported here by file, before it breaks at import time."""
    broken = [f"{_rel(MODULES[name])}: {target}" for name, (_, unresolved) in sorted(_PARSED.items())
              for target in sorted(unresolved)]
    assert not broken, "imports of modules that do not exist:\n  " + "\n  ".join(broken)


def test_rank_lookup():
    assert rank_of("pipeline") == 0 and rank_of("pipeline.policy") == 0
    assert rank_of("pipeline.vault") == 1 and rank_of("pipeline.vault.store") == 1
    assert rank_of("pipeline.deid.recognizers.names") == 2
    assert rank_of("flows.cli") == 7
    assert rank_of("pipeline.newthing") is None and rank_of("pipeline.newfolder.x") is None


# -- (c) size -----------------------------------------------------------------------------------

def test_no_module_is_too_long():
    sizes = sorted(((len(p.read_text(encoding="utf-8").splitlines()), _rel(p))
                    for p in MODULES.values()), reverse=True)
    over = [f"{path} ({n} lines)" for n, path in sizes if n > MAX_LINES]
    largest = f"{sizes[0][1]} ({sizes[0][0]} lines)"
    assert not over, (f"modules over {MAX_LINES} lines (split them): " + ", ".join(over)
                      + f"; largest: {largest}")


# -- (d) no Prefect in pipeline/ ----------------------------------------------------------------

def test_pipeline_never_mentions_prefect():
    """pipeline/ computes and knows nothing of the orchestrator: not even in a comment, so a
    `grep -ri prefect pipeline/` stays empty. Every file is checked, not only Python."""
    hits = []
    for p in sorted((ROOT / "pipeline").rglob("*")):
        if not p.is_file() or "__pycache__" in p.parts:
            continue
        for no, line in enumerate(p.read_bytes().splitlines(), 1):
            if b"prefect" in line.lower():
                hits.append(f"{_rel(p)}:{no}")
    assert not hits, "'prefect' appears under pipeline/: " + ", ".join(hits)


# -- (e) mirrored tests -------------------------------------------------------------------------

def mirrored_test(path: Path) -> Path:
    """pipeline/a/b.py -> tests/pipeline/a/test_b.py; flows/x.py -> tests/flows/test_x.py."""
    rel = path.relative_to(ROOT)
    return ROOT / "tests" / rel.parent / f"test_{rel.name}"


def test_every_module_has_a_mirrored_test_file():
    missing = [f"{_rel(p)} -> {_rel(mirrored_test(p))}" for p in MODULES.values()
               if p.name != "__init__.py" and _rel(p) not in EXEMPT
               and not mirrored_test(p).exists()]
    assert not missing, (f"{len(missing)} module(s) without a mirrored test file (write one, or "
                         "add the module to EXEMPT with a reason):\n  " + "\n  ".join(missing))


def test_exemptions_are_current():
    """An exemption for a module that is gone, or that has a test file now, is removed."""
    stale = [m for m in EXEMPT if not (ROOT / m).exists() or mirrored_test(ROOT / m).exists()]
    assert not stale, "stale EXEMPT entries: " + ", ".join(stale)

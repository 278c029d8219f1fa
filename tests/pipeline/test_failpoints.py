"""Failpoints (pipeline/failpoints.py): inert by default, raise on "name=TAG", SIGKILL the
run on "name" / "name:N". Kills happen in a child Python so the test process survives."""

from __future__ import annotations

import ast
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from pipeline import failpoints
from pipeline.failpoints import ENV, MAIN_PID_ENV, InjectedFailure, hit

ROOT = Path(__file__).resolve().parents[2]


def _run(code: str, spec: str, **extra: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in (ENV, MAIN_PID_ENV)}
    env.update({ENV: spec, "PYTHONPATH": str(ROOT)}, **extra)
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=60)


def test_inert_without_the_variable(monkeypatch):
    monkeypatch.delenv(ENV, raising=False)
    for _ in range(3):
        hit("before-publish")
        hit("stage", "a.jsonl.gz")


def test_tagged_point_raises_at_its_tag_only_and_at_every_hit(monkeypatch):
    monkeypatch.setenv(ENV, "stage=bad.jsonl.gz")
    hit("stage", "good.jsonl.gz")
    hit("stage")  # untagged hit: not this point's tag
    hit("other", "bad.jsonl.gz")  # another point with the same tag
    for _ in range(2):  # not transient: every retry fails again
        with pytest.raises(InjectedFailure, match="injected failure at stage"):
            hit("stage", "bad.jsonl.gz")


def test_a_tagged_spec_never_kills(monkeypatch):
    """A "name=TAG" spec does not also count hits of "name" towards a kill."""
    monkeypatch.setenv(ENV, "staged=x")
    before = failpoints._hits["staged"]
    hit("staged")
    assert failpoints._hits["staged"] == before


def test_kill_at_the_nth_hit():
    proc = _run("""
        from pipeline.failpoints import hit
        for i in range(1, 5):
            print(i, flush=True)
            hit("staged")
        """, "staged:3")
    assert proc.returncode == -signal.SIGKILL
    assert proc.stdout.split() == ["1", "2", "3"]


def test_a_bare_name_kills_at_the_first_hit_and_other_points_pass():
    proc = _run("""
        from pipeline.failpoints import hit
        hit("before-audit"); print("passed other point", flush=True)
        hit("after-audit"); print("survived", flush=True)
        """, "after-audit")
    assert proc.returncode == -signal.SIGKILL
    assert proc.stdout.splitlines() == ["passed other point"]


def test_a_worker_takes_the_main_process_down_with_it():
    """In a worker, the failpoint kills the main process named in $MHPIPE_FAILPOINT_PID too,
    as a machine crash would, not just the worker."""
    proc = _run("""
        import os, subprocess, sys, time
        os.environ["MHPIPE_FAILPOINT_PID"] = str(os.getpid())
        subprocess.run([sys.executable, "-c",
                        "from pipeline.failpoints import hit; hit('deid-done')"])
        time.sleep(30)
        print("main survived", flush=True)
        """, "deid-done")
    assert proc.returncode == -signal.SIGKILL
    assert "main survived" not in proc.stdout


def _hit_names() -> set[str]:
    """Names passed to `failpoints.hit("...")` anywhere under pipeline/."""
    names = set()
    for p in (ROOT / "pipeline").rglob("*.py"):
        for node in ast.walk(ast.parse(p.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "hit" and isinstance(node.func.value, ast.Name)
                    and node.func.value.id == "failpoints" and node.args
                    and isinstance(node.args[0], ast.Constant)):
                names.add(node.args[0].value)
    return names


def test_every_listed_point_is_hit_somewhere():
    """POINTS drives the kill-and-rerun test: a listed point that no code hits any more
    would make that test pass without killing anything."""
    listed = {p.partition(":")[0] for p in failpoints.POINTS}
    assert listed - _hit_names() == set()

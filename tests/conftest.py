"""Shared fixtures. Prefect's home and every cache go to a temp folder before any import."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

_TMP = Path(tempfile.mkdtemp(prefix="mhpipe-tests-"))
os.environ["PREFECT_HOME"] = str(_TMP / "prefect")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
os.environ["MHPIPE_CACHE"] = str(_TMP / "cache")
os.environ["TLDEXTRACT_CACHE"] = str(_TMP / "cache" / "tldextract")
os.environ.pop("MHPIPE_MASTER_KEY", None)

ROOT = Path(__file__).resolve().parent.parent
POLICIES = ROOT / "policies"
EVAL = ROOT.parent / "shared" / "eval"
NOW = "2026-11-27T00:00:00+00:00"


def _policy():
    from pipeline.policy import load_policy

    return load_policy(POLICIES)


POLICY = _policy()  # the shipped policy, loaded once (frozen): what a run hands every stage


@pytest.fixture(scope="session")
def engine():
    from pipeline.deid import get_engine

    return get_engine()


@pytest.fixture(scope="session")
def sample_raw(tmp_path_factory) -> Path:
    """A small synthetic raw root with faults of every kind, shared read-only by tests."""
    from pipeline.synth import generate

    out = tmp_path_factory.mktemp("raw")
    generate(out, users=40, days=30, seed=11, fault_rate=0.05)
    return out


@pytest.fixture
def data_dir(tmp_path) -> Path:
    d = tmp_path / "data"
    d.mkdir()
    return d

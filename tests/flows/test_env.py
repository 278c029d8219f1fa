"""`flows.env.configure`: the orchestrator's environment, inside the data folder, private."""

from __future__ import annotations

import os
import stat

import pytest

from flows import env
from pipeline.layout import Layout

KEYS = ("PREFECT_HOME", "PREFECT_SERVER_ANALYTICS_ENABLED", "DO_NOT_TRACK",
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "PREFECT_LOGGING_LEVEL",
        "PREFECT_RESULTS_PERSIST_BY_DEFAULT", "PREFECT_TASKS_DEFAULT_PERSIST_RESULT",
        "MHPIPE_CACHE", "TLDEXTRACT_CACHE")


@pytest.fixture
def clean_env(monkeypatch):
    """No inherited values, and the process umask restored afterwards."""
    for key in KEYS:
        monkeypatch.delenv(key, raising=False)
    old = os.umask(0o022)
    yield monkeypatch
    os.umask(old)


def test_defaults_live_in_the_data_folder(clean_env, tmp_path):
    data = tmp_path / "a" / "data"
    layout = Layout(data)
    env.configure(data)
    assert {k: os.environ[k] for k in KEYS} == {
        "PREFECT_HOME": str(layout.orchestrator_home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
        "PREFECT_LOGGING_LEVEL": "INFO",
        "PREFECT_RESULTS_PERSIST_BY_DEFAULT": "false",
        "PREFECT_TASKS_DEFAULT_PERSIST_RESULT": "false",
        "MHPIPE_CACHE": str(layout.cache),
        "TLDEXTRACT_CACHE": str(layout.cache / "tldextract"),
    }
    assert layout.orchestrator_home.is_relative_to(data) and layout.cache.is_relative_to(data)
    assert layout.orchestrator_home.is_dir()  # parents created too


def test_relative_data_folder_is_made_absolute(clean_env, tmp_path):
    clean_env.chdir(tmp_path)
    env.configure("rel")
    assert os.environ["PREFECT_HOME"] == str(Layout(tmp_path / "rel").orchestrator_home)


def test_values_already_set_are_kept(clean_env, tmp_path):
    clean_env.setenv("PREFECT_HOME", str(tmp_path / "mine"))
    clean_env.setenv("PREFECT_LOGGING_LEVEL", "DEBUG")
    env.configure(tmp_path / "data")
    assert os.environ["PREFECT_HOME"] == str(tmp_path / "mine")
    assert os.environ["PREFECT_LOGGING_LEVEL"] == "DEBUG"
    assert (tmp_path / "mine").is_dir()
    assert not Layout(tmp_path / "data").orchestrator_home.exists()


def test_files_created_afterwards_are_private(clean_env, tmp_path):
    env.configure(tmp_path / "data")
    f = tmp_path / "secret.txt"
    f.write_text("x")
    d = tmp_path / "folder"
    d.mkdir()
    assert stat.S_IMODE(f.stat().st_mode) == 0o600
    assert stat.S_IMODE(d.stat().st_mode) == 0o700

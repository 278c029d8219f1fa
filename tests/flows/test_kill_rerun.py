"""Crash and re-run: `mhpipe run` is SIGKILLed at every failpoint (stage boundaries and
points inside the long stages), then run again; the result must equal an uninterrupted run:
same warehouse tables, same vault contents by record id, every line accounted for once.

The uninterrupted reference is a plain `mhpipe run` with its own temporary Prefect server, and
so are both runs at OWN_SERVER_POINT: the crash takes that server down with the run, and the
re-run starts a new one on the Prefect home the killed server was writing. The other points'
runs talk to one Prefect API server shared by this module (started like `mhpipe run`'s
temporary server, on its own port and database), which saves a server start-up (~8 s) per
run; every point keeps its own data folder and Prefect home, and nothing the comparison reads
(vault, release, ingest registry) is in Prefect's database. Each point then costs ~10 s.
All points run in CI; `MHPIPE_KILL_POINTS=keys-checked,publish-swap` narrows a local run."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import duckdb
import pytest

from pipeline.layout import Layout
from pipeline import failpoints
from pipeline.policy import load_policy
from pipeline.intake.pseudonym import secret_name
from pipeline.warehouse.publish import table_digest
from pipeline.synth import generate
from tests.conftest import POLICIES
from pipeline.vault.stores import open_stores

NOW = "2026-11-01T00:00:00+00:00"
OWN_SERVER_POINT = "ingest-after-commit:2"  # mid-run: partition tasks are being recorded
SELECTED = [p for p in failpoints.POINTS
            if not os.environ.get("MHPIPE_KILL_POINTS")
            or p in os.environ["MHPIPE_KILL_POINTS"].split(",")]


def _kill_servers_of(prefect_home: Path) -> None:
    """Prefect's temporary server outlives a SIGKILLed parent (it has its own session): find
    it by its PREFECT_HOME and kill it."""
    needle = f"PREFECT_HOME={prefect_home}".encode()
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if needle in (proc / "environ").read_bytes().split(b"\0"):
                    os.kill(int(proc.name), signal.SIGKILL)
            except (OSError, ProcessLookupError):
                pass


def mhpipe_run(raw: Path, data: Path, failpoint: str | None = None,
               api_url: str | None = None) -> subprocess.CompletedProcess:
    """`mhpipe run` in a subprocess: with its own temporary Prefect server, or against the
    Prefect API at `api_url`."""
    home = data.parent / f"{data.name}-prefect"
    env = {**os.environ, "PREFECT_HOME": str(home)}
    env.pop(failpoints.ENV, None)
    env.pop("PREFECT_API_URL", None)
    if api_url:
        env["PREFECT_API_URL"] = api_url
    if failpoint:
        env[failpoints.ENV] = failpoint
    logs = data.parent / f"{data.name}-{'killed' if failpoint else 'run'}.log"
    with open(logs.with_suffix(".out"), "w") as out, open(logs, "w") as err:
        proc = subprocess.run(
            [sys.executable, "-m", "flows.cli", "run", "--init", "--raw", str(raw), "--data", str(data),
             "--policies", str(POLICIES), "--now", NOW, "--json"],
            env=env, stdout=out, stderr=err, timeout=600)
    _kill_servers_of(home)
    return subprocess.CompletedProcess(proc.args, proc.returncode,
                                       logs.with_suffix(".out").read_text(), logs.read_text())


def with_keys(template: Path, data: Path) -> Path:
    """A data folder holding the template's keys: record ids are keyed hashes, so runs
    compared by record id must share the pseudonym secrets."""
    shutil.copytree(template / "keys", data / "keys")
    return data


def state(data: Path) -> dict:
    con = duckdb.connect(str(data / "vault" / "vault.duckdb"), read_only=True)
    try:
        records = {ds: sorted(r[0] for r in con.execute(
            "SELECT record_id FROM records WHERE dataset = ?", [ds]).fetchall())
            for (ds,) in con.execute("SELECT DISTINCT dataset FROM records").fetchall()}
        registry = con.execute(
            "SELECT sum(lines_read), sum(loaded), sum(duplicates), sum(quarantined), "
            "sum(excluded), count(*) FROM ingested_files").fetchone()
    finally:
        con.close()
    return {"tables": table_digest(Layout(data).release),
            "records": records, "registry": registry}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SharedServer:
    """A Prefect API server process, started at once and awaited on first use."""

    def __init__(self, home: Path) -> None:
        import prefect

        self.home, port = home, _free_port()
        self.url = f"http://127.0.0.1:{port}/api"
        env = {**os.environ, "PREFECT_HOME": str(home), "PREFECT_UI_ENABLED": "0",
               "PREFECT__SERVER_EPHEMERAL": "1", "PREFECT__SERVER_FINAL": "1"}
        env.pop("PREFECT_API_URL", None)
        env.pop(failpoints.ENV, None)
        self.log = open(home / "server.log", "w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "--app-dir", str(prefect.__module_path__.parent),
             "--factory", "prefect.server.api.server:create_app", "--host", "127.0.0.1",
             "--port", str(port), "--log-level", "error", "--lifespan", "on"],
            env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        self.ready = False

    def api_url(self) -> str:
        deadline = time.monotonic() + 180
        while not self.ready:
            assert self.proc.poll() is None, (self.home / "server.log").read_text()[-3000:]
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=2) as r:
                    self.ready = r.status == 200
            except OSError:
                pass
            assert self.ready or time.monotonic() < deadline, "the shared server did not start"
            time.sleep(0 if self.ready else 0.2)
        return self.url

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.log.close()


@pytest.fixture(scope="module")
def prefect_server(tmp_path_factory):
    """One Prefect API server for the module's killed runs and re-runs: the same app, mode
    and settings as the temporary server `mhpipe run` starts, on a free loopback port, with
    its database in a folder of its own. It starts while the reference run is built (the
    test asks for it first) and is stopped at the end of the module."""
    server = SharedServer(tmp_path_factory.mktemp("kill-prefect-api"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    root = tmp_path_factory.mktemp("kill")
    raw = root / "raw"
    generate(raw, users=25, days=20, seed=9, fault_rate=0.03)
    template = root / "template"
    with open_stores(Layout(template)) as (keys, _):
        for name in ("intake", *load_policy(POLICIES).policy.purposes):
            keys.secret(secret_name(name))
    done = mhpipe_run(raw, with_keys(template, root / "ref"))
    assert done.returncode == 0, done.stderr[-2000:]
    return raw, template, state(root / "ref")


@pytest.mark.flow
@pytest.mark.parametrize("point", SELECTED)
def test_killed_run_reruns_to_the_same_result(prefect_server, reference, tmp_path, point):
    raw, template, expected = reference
    prefect_api = None if point == OWN_SERVER_POINT else prefect_server.api_url()
    data = with_keys(template, tmp_path / "data")
    killed = mhpipe_run(raw, data, point, api_url=prefect_api)
    assert killed.returncode == -signal.SIGKILL, f"failpoint {point} was not reached"
    again = mhpipe_run(raw, data, api_url=prefect_api)
    assert again.returncode == 0, again.stderr[-2000:]
    got = state(data)
    assert got == expected
    lines, loaded, dup, quar, excl, files = got["registry"]
    assert lines == loaded + dup + quar + excl
    assert json.loads(again.stdout)["ingest_all_time"]["lines_read"] == lines
    assert not list(Layout(data).warehouse.glob(".building-*"))

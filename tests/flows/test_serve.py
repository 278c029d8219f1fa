"""`make serve` and `prefect.yaml`: the scheduled deployments, for real, on loopback.

The serve test starts `python -m flows.serve` (what `make serve` runs) on a free port, waits
for both deployments and their cron schedules, triggers `nightly-batch/nightly` with the
command the README documents, waits for the run to complete, then stops everything."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from flows.serve import DEPLOYMENTS, SCHEDULES
from pipeline.layout import Layout
from pipeline.governance import audit
from pipeline.synth import generate
from tests.conftest import POLICIES, ROOT

pytestmark = pytest.mark.flow
PREFECT = str(Path(sys.executable).parent / "prefect")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


def _deployment(url: str, name: str) -> dict | None:
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings({PREFECT_API_URL: url}):
        with get_client(sync_client=True) as client:
            try:
                d = client.read_deployment_by_name(name)
            except Exception:  # noqa: BLE001 - not registered yet
                return None
            return {"crons": [s.schedule.cron for s in d.schedules],
                    "active": [s.active for s in d.schedules], "parameters": d.parameters}


def test_serve_schedules_both_flows_and_a_triggered_run_completes(tmp_path):
    raw, data, home = tmp_path / "raw", tmp_path / "data", tmp_path / "prefect"
    generate(raw, users=12, days=6, seed=5, fault_rate=0.02)
    port = _free_port()
    url = f"http://127.0.0.1:{port}/api"
    env = {**os.environ, "PREFECT_HOME": str(home)}
    env.pop("PREFECT_API_URL", None)
    serve = subprocess.Popen(
        [sys.executable, "-m", "flows.serve", "--raw", str(raw), "--data", str(data),
         "--policies", str(POLICIES), "--port", str(port)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        start_new_session=True)
    try:
        found: dict = {}
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and len(found) < 2:
            assert serve.poll() is None, serve.stdout.read().decode()[-3000:]
            # ask for the deployments once the server answers (a Prefect client retries a
            # refused connection with back-off, seconds each time); no pause once found
            if _healthy(url):
                for flow in SCHEDULES:
                    found.setdefault(flow, None)
                    found[flow] = found[flow] or _deployment(url, f"{flow}/{DEPLOYMENTS[flow]}")
                found = {k: v for k, v in found.items() if v}
            if len(found) < 2:
                time.sleep(0.25)
        assert set(found) == set(SCHEDULES), "deployments did not appear"
        assert found["nightly-batch"]["crons"] == ["0 2 * * *"]
        assert found["retention-sweep"]["crons"] == ["30 3 * * *"]
        assert all(all(d["active"]) for d in found.values())
        assert found["nightly-batch"]["parameters"]["raw"] == str(raw.resolve())

        # The documented trigger: waits for the run and fails if the run fails.
        trigger = subprocess.run(
            [PREFECT, "deployment", "run", f"nightly-batch/{DEPLOYMENTS['nightly-batch']}", "--watch"],
            env={**env, "PREFECT_API_URL": url}, capture_output=True, text=True, timeout=600)
        assert trigger.returncode == 0, trigger.stdout[-3000:] + trigger.stderr[-3000:]
        assert "Completed" in trigger.stdout + trigger.stderr
        records = audit.read(data / "audit" / "audit.jsonl")
        run = [r for r in records if r["kind"] == "nightly-batch"]
        assert len(run) == 1 and run[0]["payload"]["ingest"]["loaded"] > 0
        assert (Layout(data).release).exists()
    finally:
        serve.send_signal(signal.SIGTERM)  # graceful: stop serving, then stop the server
        try:
            serve.wait(timeout=90)
        except subprocess.TimeoutExpired:
            os.killpg(serve.pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while _port_open(port) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not _port_open(port), "the Prefect server was left running"


def test_prefect_yaml_declares_the_same_deployments_as_serve():
    from prefect.flows import Flow
    from prefect.utilities.importtools import import_object

    spec = yaml.safe_load((ROOT / "prefect.yaml").read_text())
    seen = {}
    for d in spec["deployments"]:
        flow = import_object(d["entrypoint"])
        assert isinstance(flow, Flow)
        assert d["name"] == DEPLOYMENTS[flow.name]
        assert [s["cron"] for s in d["schedules"]] == [SCHEDULES[flow.name]]
        required = {p for p, v in flow.parameters.properties.items()} - {"now"}
        assert set(d["parameters"]) == required
        seen[flow.name] = d
    assert set(seen) == set(SCHEDULES)


def test_make_serve_and_make_trigger_run_the_commands_tested_above():
    """`make serve` / `make trigger` (documented in the README) are the commands the serve
    test runs: checked on make's dry-run output."""
    dry = subprocess.run(["make", "-n", "serve", "trigger", "PORT=4321"], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout
    assert "-m flows.serve --raw data/raw --data data --policies policies --port 4321" in dry
    assert ("PREFECT_API_URL=http://127.0.0.1:4321/api .venv/bin/prefect deployment run "
            f"nightly-batch/{DEPLOYMENTS['nightly-batch']} --watch") in dry

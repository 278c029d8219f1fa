"""`make serve`: a local Prefect server plus the two scheduled deployments, in one command.

    .venv/bin/python -m flows.serve [--raw data/raw] [--data data] [--policies policies]
                                    [--port 4200] [--timezone UTC]

1. starts `prefect server start` on 127.0.0.1 (loopback only; its database lives in
   PREFECT_HOME, by default `data/orchestrator`), and waits until it answers;
2. serves `nightly-batch/nightly` (cron `0 2 * * *`) and `retention-sweep/daily`
   (cron `30 3 * * *`) from this process: scheduled runs execute here, in subprocesses;
3. on Ctrl-C (or SIGTERM) stops serving and stops the server.

Trigger a run by hand while it is up (the same as the schedule would):

    PREFECT_API_URL=http://127.0.0.1:4200/api .venv/bin/prefect deployment run nightly-batch/nightly --watch

Deployment parameters are absolute paths only. Teams with Prefect workers use
`prefect.yaml` (same deployments, same schedules) with `prefect deploy --all` instead.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

# deployment name per flow (the UI lists them as nightly-batch/nightly, retention-sweep/daily)
DEPLOYMENTS = {"nightly-batch": "nightly", "retention-sweep": "daily"}
SCHEDULES = {"nightly-batch": "0 2 * * *", "retention-sweep": "30 3 * * *"}


def _wait_healthy(url: str, proc: subprocess.Popen, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the Prefect server exited early (code {proc.returncode})")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"the Prefect server did not answer at {url} within {timeout:.0f} s")


def deployments(raw: Path, data: Path, policies: Path, timezone: str,
                publish: Path | None = None) -> list:
    """The two deployments, with their cron schedules and path parameters."""
    from prefect.deployments.runner import EntrypointType
    from prefect.schedules import Cron

    from .nightly import nightly_batch
    from .retention_sweep import retention_sweep

    common = dict(entrypoint_type=EntrypointType.MODULE_PATH, tags=["mhpipe"])
    return [
        nightly_batch.to_deployment(
            name=DEPLOYMENTS["nightly-batch"], schedules=[Cron(SCHEDULES["nightly-batch"], timezone=timezone)],
            parameters={"raw": str(raw), "data": str(data), "policies": str(policies),
                        **({"publish": str(publish)} if publish else {})},
            description="Ingest new raw files, consent, de-identify, encrypt, publish.", **common),
        retention_sweep.to_deployment(
            name=DEPLOYMENTS["retention-sweep"], schedules=[Cron(SCHEDULES["retention-sweep"], timezone=timezone)],
            parameters={"data": str(data), "policies": str(policies)},
            description="Delete everything past its retention; audit the counts.", **common),
    ]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m flows.serve", description=__doc__.split("\n\n")[0])
    ap.add_argument("--raw", type=Path, default=Path("data/raw"))
    ap.add_argument("--data", type=Path, default=Path("data"))
    ap.add_argument("--policies", type=Path, default=Path("policies"))
    ap.add_argument("--publish", type=Path, default=os.environ.get("MHPIPE_PUBLISH_DIR") or None,
                    help="folder researchers read releases from (default: <data>-published/ next to "
                         "the data folder)")
    ap.add_argument("--port", type=int, default=int(os.environ.get("MHPIPE_PREFECT_PORT", 4200)))
    ap.add_argument("--timezone", default=os.environ.get("MHPIPE_TIMEZONE", "UTC"),
                    help="time zone of the cron schedules (IANA name)")
    args = ap.parse_args(argv)
    raw, data, policies = (p.resolve() for p in (args.raw, args.data, args.policies))

    from . import env

    env.configure(data)
    from pipeline.policy import PolicyError, load_policy

    try:
        load_policy(policies)  # fail closed: do not schedule anything on a broken policy
    except PolicyError as exc:
        raise SystemExit(f"error: {exc}")
    url = f"http://127.0.0.1:{args.port}/api"
    server = subprocess.Popen(
        [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1",
         "--port", str(args.port)],
        env={**os.environ, "PREFECT_API_URL": url}, start_new_session=True)
    try:
        _wait_healthy(url, server)
        os.environ["PREFECT_API_URL"] = url
        print(f"Prefect server up at http://127.0.0.1:{args.port}; serving "
              + ", ".join(f"{f}/{DEPLOYMENTS[f]} ({c})" for f, c in SCHEDULES.items()), flush=True)
        from prefect import serve

        publish = args.publish.resolve() if args.publish else None
        serve(*deployments(raw, data, policies, args.timezone, publish),
              print_starting_message=False)
    except KeyboardInterrupt:  # Ctrl-C; SIGTERM is handled by Prefect's runner (graceful)
        pass
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)


if __name__ == "__main__":
    main()

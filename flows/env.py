"""Process environment for the orchestrator, set before `prefect` is first imported.

Prefect keeps its database, logs and result storage under PREFECT_HOME: we put it inside
the project's data folder (or a test's temp folder), turn analytics off and give the
temporary server time to start on a small machine. Values a user already set are kept.
"""

from __future__ import annotations

import os
from pathlib import Path

from pipeline.layout import Layout


def configure(data_dir: Path | str) -> None:
    layout = Layout(Path(data_dir).resolve())
    defaults = {
        "PREFECT_HOME": str(layout.orchestrator_home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",  # Prefect's client telemetry and usage notice, off
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
        "PREFECT_LOGGING_LEVEL": "INFO",
        "PREFECT_RESULTS_PERSIST_BY_DEFAULT": "false",
        "PREFECT_TASKS_DEFAULT_PERSIST_RESULT": "false",
        "MHPIPE_CACHE": str(layout.cache),
        "TLDEXTRACT_CACHE": str(layout.cache / "tldextract"),
    }
    for key, value in defaults.items():
        os.environ.setdefault(key, value)
    # Everything we create is private to this user: keys, vault, quarantine, audit.
    os.umask(0o077)
    # Prefect does not create missing parents of its home, and its temporary server then
    # fails with a database error only after a long time-out: create them first.
    Path(os.environ["PREFECT_HOME"]).mkdir(parents=True, exist_ok=True)

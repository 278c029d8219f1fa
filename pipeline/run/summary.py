"""The run summary an operator reads in the orchestrator's UI: counts, quarantined lines by
rule, files that could not be read or were refused, failed partitions, publication and
safety alerts. Aggregates, file names and rules only: never a value of a record."""

from __future__ import annotations

import time
from collections import Counter
from contextlib import contextmanager
from typing import Any, Iterator

# Why a file was not ingested (`kind` of each entry of `ingest.files_failed`). The first two
# are done with (an operator must look at the file); failed partitions are not registered,
# so the next run tries them again.
UNREADABLE = "unreadable"  # the file could not be read (e.g. corrupt gzip)
REFUSED = "refused"  # never opened: a symbolic link, a device, an unsafe name
STAGE_FAILED = "stage_failed"  # staging the partition raised
COMMIT_FAILED = "commit_failed"  # committing the staged partition raised
KINDS = (UNREADABLE, REFUSED, STAGE_FAILED, COMMIT_FAILED)
RETRIED = (STAGE_FAILED, COMMIT_FAILED)
_TEXT = {STAGE_FAILED: "partition failed", COMMIT_FAILED: "commit failed"}


def failure(kind: str, detail: str | None = None) -> dict[str, str]:
    """A typed failure entry: `kind` (one of KINDS) and a readable `error`. `detail` is an
    exception's type name or a reader's message about the file, never a record's value."""
    if kind not in KINDS:
        raise ValueError(f"unknown failure kind {kind!r}")
    text = _TEXT.get(kind, detail or kind)
    if kind in _TEXT and detail:
        text = f"{text} ({detail})"
    return {"kind": kind, "error": text}


def unreadable(summary: dict[str, Any]) -> list[dict[str, str]]:
    """Files that could not be read or were refused (not failed partitions, which are
    retried next run)."""
    return [f for f in summary["ingest"]["files_failed"] if f["kind"] not in RETRIED]


def failed_partitions(summary: dict[str, Any]) -> list[dict[str, str]]:
    return [f for f in summary["ingest"]["files_failed"] if f["kind"] in RETRIED]


def summarise_ingest(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """The run's line accounting over its partitions' counts (files that could not be read
    are listed as UNREADABLE)."""
    total: Counter[str] = Counter()
    entities: Counter[str] = Counter()
    rules: Counter[str] = Counter()
    failed = []
    for p in parts:
        for k in ("lines_read", "loaded", "duplicates", "quarantined", "excluded", "messages",
                  "messages_withheld"):
            total[k] += p[k]
        entities.update(p["entities"])
        rules.update(p["quarantine_rules"])
        if p["file_error"]:
            failed.append({"file": p["file"], **failure(UNREADABLE, p["file_error"])})
    out: dict[str, Any] = {k: total[k] for k in
                           ("lines_read", "loaded", "duplicates", "quarantined", "excluded",
                            "messages", "messages_withheld")}
    out["files"] = len(parts)
    out["files_failed"] = failed
    out["balanced"] = out["lines_read"] == (out["loaded"] + out["duplicates"]
                                           + out["quarantined"] + out["excluded"])
    out["entities"] = dict(sorted(entities.items()))
    out["quarantine_rules"] = dict(rules.most_common())
    return out


class Timer:
    """Wall time per stage of the run, in seconds (summed when a stage is entered twice)."""

    def __init__(self) -> None:
        self.times: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        t = time.perf_counter()
        try:
            yield
        finally:
            self.times[name] = round(self.times.get(name, 0.0) + time.perf_counter() - t, 3)


def markdown(summary: dict[str, Any]) -> str:
    ing = summary["ingest"]
    lines = [f"# nightly-batch run summary (policy {summary['policy_version']})", "",
             "| lines | count |", "|---|---|",
             f"| read | {ing['lines_read']} |", f"| loaded | {ing['loaded']} |",
             f"| duplicates | {ing['duplicates']} |", f"| quarantined | {ing['quarantined']} |",
             f"| excluded (retention on arrival, erased person) | {ing['excluded']} |",
             f"| counts balance | {'yes' if ing['balanced'] else 'NO'} |",
             f"| new files | {ing['files']} |", f"| messages de-identified | {ing['messages']} |"]
    if ing.get("quarantine_rules"):
        lines += ["", "## Quarantined lines by rule (values never shown)", "",
                  "| field: rule | lines |", "|---|---|"]
        lines += [f"| {rule} | {n} |" for rule, n in ing["quarantine_rules"].items()]
    bad, failed = unreadable(summary), failed_partitions(summary)
    lines += ["", f"## Files not ingested: {len(bad)} unreadable or refused, "
                  f"{len(failed)} failed partition(s)"]
    if bad or failed:
        lines += ["", "| file | why |", "|---|---|"]
        lines += [f"| {f['file']} | {f['error']} |" for f in bad + failed]
    pub = summary.get("publication") or {}
    lines += ["", "## Warehouse", "",
              f"- release {summary.get('release_id')}: "
              + ("new" if summary.get("warehouse_changed") else "unchanged"),
              f"- publication: {pub.get('reason')}; data before {pub.get('cutoff')}; "
              f"next {pub.get('next')}"]
    alerts = summary.get("safety_alerts") or []
    lines += [f"- safety alerts: {len(alerts)}"
              + (" (see the safety-alert artifact)" if alerts else "")]
    return "\n".join(lines)

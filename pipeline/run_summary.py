"""The run summary an operator reads in the orchestrator's UI: counts, quarantined lines by
rule, files that could not be read or were refused, failed partitions, publication and
safety alerts. Aggregates, file names and rules only: never a value of a record."""

from __future__ import annotations

from typing import Any

PARTITION_FAILURES = ("partition failed", "commit failed")


def unreadable(summary: dict[str, Any]) -> list[dict[str, str]]:
    """Files that could not be read or were refused (not failed partitions, which are
    retried next run)."""
    return [f for f in summary["ingest"]["files_failed"]
            if not f["error"].startswith(PARTITION_FAILURES)]


def failed_partitions(summary: dict[str, Any]) -> list[dict[str, str]]:
    return [f for f in summary["ingest"]["files_failed"]
            if f["error"].startswith(PARTITION_FAILURES)]


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

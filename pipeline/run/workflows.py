"""The steward's and reviewer's workflows, one function each: erasure on request, an early
publication, the retention sweep, an audited dataset export, master-key rotation. Each takes the run lock (one writer at a time with the
nightly run) and writes its own audit record; the CLI only parses arguments and prints.

Subject access exports are `governance.subject_export.export_subject`; the nightly sequence
is `nightly.run_nightly`.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pipeline.governance import audit
from pipeline.governance.erasure import erase_user
from pipeline.layout import Layout, parse_now
from pipeline.lock import run_lock
from pipeline.policy import LoadedPolicy
from pipeline.run import stages
from pipeline.run.nightly import Call, direct, record_policy_change
from pipeline.run.outputs import build_outputs
from pipeline.vault import export, rotation
from pipeline.vault.stores import open_stores


class WorkflowError(Exception):
    """A request refused before anything was touched (names paths, never data)."""


def erase_request(layout: Layout, policy: LoadedPolicy, user_id: str,
                  now: datetime | None = None) -> dict[str, Any]:
    """Erase one person in every dataset (GDPR Art. 17), rebuild the research tables (older
    releases holding them are deleted) and audit it. Returns the receipt (counts only)."""
    if not user_id:
        raise WorkflowError("no user id given")
    if not layout.vault.exists():
        raise WorkflowError(f"no vault under {layout.root}: nothing has been ingested yet")
    now = now or datetime.now(timezone.utc)
    with run_lock(layout.root, "erase"):
        # Partitions staged by an interrupted run were sealed before this erasure: drop them
        # first (a staged partition is also re-checked against erasures on reuse).
        discarded = stages.sweep_staging(layout.root, set())
        with open_stores(layout) as (keys, vault):
            receipt = erase_user(vault, keys, policy.policy, user_id, now)
        receipt["staged_partitions_discarded"] = discarded
        outputs = build_outputs(layout.root, policy, now.isoformat(), layout.publish)
        receipt["warehouse_rebuilt"] = True
        receipt["retained_releases_deleted"] = outputs.get("retained_releases_deleted", 0)
        receipt["tables"] = outputs["tables"]
        receipt["policy_digest"] = policy.digest
        receipt["audit_hash"] = audit.record(layout.audit_log, "erasure", receipt)
    return receipt


def publish_early(layout: Layout, policy: LoadedPolicy, reason: str,
                  now: str | None = None) -> dict[str, Any]:
    """A steward's early publication (e.g. an erasure that must take effect now): the
    release is built at once, still gated, and the reason goes into the audit log."""
    if not reason.strip():
        raise WorkflowError("an early publication needs a reason")
    if not layout.vault.exists():
        raise WorkflowError(f"no vault under {layout.root}: nothing has been ingested yet")
    with run_lock(layout.root, "publish"):
        out = build_outputs(layout.root, policy, now, layout.publish, early=reason)
        digest = audit.record(layout.audit_log, "publish-early", {
            "reason": reason, "release_id": out["release_id"], "policy_digest": policy.digest,
            "new_release": out["warehouse_changed"], "cutoff": out["publication"]["cutoff"]})
    return {**out, "audit_hash": digest}


def retention_sweep(layout: Layout, policy: LoadedPolicy, now: str | None = None, *,
                    call: Call = direct) -> dict[str, Any]:
    """Apply the policy's retentions and delete what has expired (the nightly run does the
    same as its first step); audit the counts. `call` runs each step (see nightly.py)."""
    with run_lock(layout.root, "retention-sweep"):
        call("check-keys", stages.check_keys, layout.root)
        deleted = call("retention", stages.enforce_retention, layout.root, policy, now)
        summary = {"policy_version": policy.version, "policy_digest": policy.digest,
                   "policy_files": policy.files, "retention_deleted": deleted}
        # a policy first used by a sweep is recorded as a change here, not skipped
        summary["policy_changed"] = record_policy_change(layout, policy)
        summary["audit_hash"] = call("audit", audit.record, layout.audit_log,
                                     "retention-sweep", summary)
    return summary


def export_dataset(layout: Layout, dataset: str, out: Path, reason: str,
                   since: str | None = None) -> dict[str, Any]:
    """Decrypt one dataset for an authorised reviewer into a new 0600 file; who, why, what and
    how many go into the audit log before this returns. Returns the audit payload. Reads
    only: several exports may run at once (the vault opened read-only, the audit log under
    its own lock), but not while a run writes the vault."""
    if not layout.vault.exists():
        raise WorkflowError(f"no vault under {layout.root}")
    if out.exists():
        raise WorkflowError(f"{out} exists; exports never overwrite")
    if len(reason.strip()) < 10:
        raise WorkflowError("give a reason of at least 10 characters")
    start = parse_now(since) if since else None
    with open_stores(layout, read_only=True) as (_, vault):
        n = export.export_dataset(vault, dataset, out, start)
    payload = {"who": audit.who()["user"], "reason": reason.strip(), "dataset": dataset,
               "since": since, "records": n, "out_file": str(out.resolve())}
    payload["audit_hash"] = audit.record(layout.audit_log, "vault-export", payload)
    return payload


def rotate_keys(layout: Layout, new_key_file: Path | None = None,
                stop_after: int | None = None) -> dict[str, Any]:
    """Re-wrap every data key and secret under a new master key (resumable) and audit it."""
    if not layout.keystore.exists():
        raise WorkflowError(f"no key store under {layout.root}")
    with run_lock(layout.root, "keys rotate"):
        result = rotation.rotate(layout.keystore, layout.master_key, new_key_file, stop_after)
        result["audit_hash"] = audit.record(layout.audit_log, "key-rotation", result)
    return result

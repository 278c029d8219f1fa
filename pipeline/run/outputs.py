"""Building the outputs: consent ledger -> individual-level datasets -> research warehouse,
published on the policy's cadence, gated against retained releases (or with differential
privacy), and what the `releases` table says about each release."""

from __future__ import annotations

import hashlib
import json
import os
from datetime import datetime
from pathlib import Path
from typing import Any

from pipeline import failpoints
from pipeline.governance.consent import ledger
from pipeline.governance.datasets import sync_datasets
from pipeline.intake.prepare import INTAKE_DATASET, read_intake
from pipeline.policy import LoadedPolicy
from pipeline.layout import PUBLISH_GROUP_ENV, Layout, parse_now
from pipeline.vault.stores import open_stores
from pipeline.vault.store import Vault
from pipeline.warehouse import safety_gate
from pipeline.warehouse.research import research_tables
from pipeline.warehouse.dp import BudgetExhausted
from pipeline.warehouse.publish import drop_retained, publish

def _output_key(layout: Layout, vault: Vault, policy: LoadedPolicy, stamp: datetime) -> str:
    """What the outputs depend on: the vault's state, the policy, the code and the day
    (ages and consent windows move with the date)."""
    from pipeline.deid import model_name

    eval_file = layout.deid_eval  # figures quoted in `releases`
    eval_digest = (hashlib.sha256(eval_file.read_bytes()).hexdigest()
                   if eval_file.exists() else "-")
    parts = [vault.fingerprint(), policy.digest, code_version(), stamp.date().isoformat(),
             model_name(), eval_digest]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()


def build_outputs(data: Path, policy: LoadedPolicy, now: str | None = None,
                  publish_dir: Path | None = None, early: str | None = None) -> dict[str, Any]:
    """Consent ledger -> individual-level datasets -> research warehouse.

    Streams the vault: the aggregates read every event except messages (decrypted a batch
    at a time, messages skipped before parsing), and the transcript datasets decrypt only
    messages they do not hold yet. When nothing the outputs depend on changed since the
    last build (vault state, policy, code, day), the build is skipped.

    The warehouse publishes only when the policy's cadence says a release is due (or when
    there is no release yet, or `early` gives a steward's reason): see
    `warehouse/cadence.py`. Releases go to `publish_dir` (default: `<data>-published/`)."""
    layout = Layout(data, publish_dir)
    layout.make_private()
    stamp = parse_now(now)
    state_file = layout.outputs_state
    with open_stores(layout) as (keys, vault):
        key = _output_key(layout, vault, policy, stamp)
        try:
            prev = json.loads(state_file.read_text())
        except (FileNotFoundError, ValueError):
            prev = None
        if (early is None and prev and prev.get("key") == key and layout.release.exists()
                and prev.get("warehouse") == str(layout.warehouse.absolute())):
            return {**prev["outputs"], "datasets": [], "warehouse_changed": False,
                    "skipped": True}
        frames = read_intake(vault, messages=False)
        subjects = vault.subjects(INTAKE_DATASET)
        consent = ledger(frames, subjects, policy.policy, stamp)
        allowed = consent.allowed
        synced = sync_datasets(frames, allowed, vault, keys, policy, stamp, subjects)
        key = _output_key(layout, vault, policy, stamp)
    failpoints.hit("before-publish")
    pub = policy.policy.publication
    research = allowed.get(pub.purpose, set())
    reasons = consent.reasons(pub.purpose)
    # the safety gate watches everyone the safety-review purpose covers, up to now
    alerts = safety_gate.evaluate(frames, _watched(policy.policy, allowed, research),
                                  policy.policy)
    plan = publication_plan(layout, pub, stamp, early)
    if plan["due"]:
        try:
            release_id, changed, digests = _publish_release(layout, policy, frames, subjects,
                                                            research, reasons, plan)
        except BudgetExhausted as exc:
            plan = {**plan, "due": False, "reason": f"budget exhausted: {exc}"}
    if not plan["due"]:
        from pipeline.warehouse.publish import table_digest

        release_id, changed = plan["current"], False
        digests = table_digest(layout.release) if layout.release.exists() else {}
    dropped = _track_population(layout, research)
    days = policy.policy.release_retention_days()
    if days is not None and layout.warehouse.exists():
        from pipeline.warehouse.publish import expire_releases

        dropped += expire_releases(layout.warehouse, days, stamp)
    outputs = {
        "subjects": len(subjects),
        "allowed": {p: len(s) for p, s in sorted(allowed.items())},
        "tables": digests,
        "release_id": release_id,
        "publication": {k: v for k, v in plan.items() if k in ("due", "reason", "cutoff", "next")},
        "safety_alerts": [a.as_dict() for a in alerts],
    }
    tmp = state_file.with_suffix(".tmp")
    tmp.write_text(json.dumps({"key": key, "outputs": outputs,
                               "warehouse": str(layout.warehouse.absolute())}, sort_keys=True))
    os.chmod(tmp, 0o600)
    os.replace(tmp, state_file)
    return {**outputs, "datasets": [s.__dict__ for s in synced], "warehouse_changed": changed,
            "skipped": False, "retained_releases_deleted": dropped}


def current_release(layout: Layout) -> tuple[str, str | None] | None:
    """(release id, data cutoff) of the current release, or None."""
    from pipeline.warehouse import sandbox

    if not layout.release.exists():
        return None
    con = sandbox.connect(layout.release)
    try:
        cols = {r[0] for r in con.execute(
            "SELECT column_name FROM duckdb_columns() WHERE table_name = 'releases'").fetchall()}
        row = con.execute("SELECT release_id, " + ("data_cutoff" if "data_cutoff" in cols
                                                   else "NULL") + " FROM releases").fetchall()[0]
    finally:
        con.close()
    return row[0], row[1]


def publication_plan(layout: Layout, pub, stamp: datetime, early: str | None) -> dict[str, Any]:
    """Whether this build publishes, with which data cutoff, and why."""
    from pipeline.warehouse import cadence

    current = current_release(layout)
    _, due_cutoff = cadence.scheduled(stamp, pub.cadence)
    nxt = cadence.next_publication(stamp, pub.cadence).date().isoformat()
    if early is not None:
        cutoff = cadence.period_start(stamp, pub.cadence.every)
        reason = "early"
    elif current is None:
        cutoff, reason = due_cutoff, "first release"
    elif max(current[1] or "", _built_cutoff(layout) or "") < due_cutoff.date().isoformat():
        cutoff, reason = due_cutoff, "scheduled"
    else:
        return {"due": False, "reason": "not due", "cutoff": current[1], "next": nxt,
                "current": current[0]}
    return {"due": True, "reason": reason, "cutoff": cutoff.date().isoformat(), "next": nxt,
            "cutoff_at": cutoff, "at": stamp, "current": current[0] if current else None}


def _watched(policy, allowed: dict[str, set[str]], research: set[str]) -> set[str]:
    """Whom the model-version safety gate watches: the population of the purpose of the
    transcript dataset that keeps flagged sessions (vital interests), else research."""
    for ds in policy.datasets.values():
        if ds.only_sessions_with_risk:
            return allowed.get(ds.purpose, research)
    return research


def _publish_release(layout: Layout, policy: LoadedPolicy, frames, subjects, research,
                     reasons, plan: dict[str, Any]) -> tuple[str, bool, dict[str, str]]:
    """Build the research tables for the plan's cutoff, protect them (cross-release gate, or
    differential privacy), verify and swap them in. Returns (release id, new?, digests)."""
    from pipeline.warehouse import gate

    import polars as pl

    pub = policy.policy.publication
    tables = research_tables(frames, research, policy.policy, reasons, plan["cutoff_at"])
    store = layout.vault.parent / "releases"
    # every release ever published (within the release retention), not only the files still
    # in the publish folder: a researcher may have kept a copy of a deleted one
    retained = sorted(d.name for d in store.iterdir() if d.is_dir() and d.name.isdigit()) \
        if store.exists() else []
    from pipeline.governance import audit

    # the audit chain's head, anchored in the release: `mhpipe audit verify --expect` it
    extra: dict[str, Any] = {"data_cutoff": plan["cutoff"], "publication": plan["reason"],
                             "minimum_group_size": pub.minimum_group_size,
                             "audit_head": audit.head(layout.audit_log)}
    spend = None
    if pub.mode == "dp":
        from pipeline.warehouse import dp

        tables, spend = dp.privatise(tables, frames, research, pub, plan["cutoff_at"],
                                     layout.vault.parent / dp.LEDGER, plan["at"],
                                     policy.policy.intake.retention_days, reasons,
                                     policy.policy.safety.connection_targets_minutes)
        extra.update(mechanism="zCDP Gaussian (OpenDP)", rho_spent=spend["rho"],
                     rho_cumulative_365d=spend["cumulative"], gate_cells_held=0,
                     gate_rows_carried=0)
    else:
        tables, decisions = gate.gate_all(tables, store, retained, pub)
        extra.update(mechanism="suppression, rounding, cross-release gate", rho_spent=None,
                     rho_cumulative_365d=None, gate_cells_held=decisions.cells_held,
                     gate_rows_carried=decisions.rows_carried)
    suppressed = sum(t.frame.select(list(t.spec.counts)).null_count().sum_horizontal().item()
                     for t in tables if t.spec is not None)
    # people counts as the (gated or noisy) consent_coverage table releases them: an exact
    # count here would undo the gate and sit outside the DP budget

    cov = next(t.frame for t in tables if t.name == "consent_coverage").filter(
        pl.col("dimension") == "overall")
    extra.update(input_people=cov["users"][0] if cov.height else None,
                 research_people=cov["research_users"][0] if cov.height else None)
    meta = {**release_meta(layout, policy, len(subjects), len(research), suppressed, pub), **extra}
    def record(release_id: str) -> None:
        # before the swap: a run killed after it can never leave a release without its gate
        # history, nor a DP release whose spend is not in the ledger
        gate.save(store, release_id, tables)
        if spend is not None:
            from pipeline.warehouse import dp

            dp.record_spend(layout.vault.parent / dp.LEDGER, spend["rho"], plan["at"], release_id)
        failpoints.hit("release-recorded")

    _, digests, release_id, changed = publish(layout.warehouse, tables, meta, pub,
                                              os.environ.get(PUBLISH_GROUP_ENV) or None,
                                              before_swap=record)
    _record_cutoff(layout, plan["cutoff"])
    return release_id, changed, digests


PUBLICATION_STATE = "publication-state.json"


def _record_cutoff(layout: Layout, cutoff: str) -> None:
    """The cutoff of the latest publication built, whether or not it made a new release
    (identical tables make none): the next one is due only at the next scheduled date."""
    path = layout.vault.parent / PUBLICATION_STATE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"cutoff": cutoff}))
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def _built_cutoff(layout: Layout) -> str | None:
    try:
        return json.loads((layout.vault.parent / PUBLICATION_STATE).read_text())["cutoff"]
    except (FileNotFoundError, ValueError, KeyError):
        return None


def _track_population(layout: Layout, research: set[str]) -> int:
    """Delete retained releases when anyone left the research population since the last
    build (erasure, withdrawal, expiry): those releases still hold them. Then record the
    current population (intake pseudonyms, private file). Returns releases deleted."""
    import polars as pl

    path = layout.population
    before = set(pl.read_parquet(path)["subject"].to_list()) if path.exists() else set()
    dropped = drop_retained(layout.warehouse) if before - research else 0
    tmp = path.with_suffix(".tmp")
    pl.DataFrame({"subject": sorted(research)}, schema={"subject": pl.String}).write_parquet(tmp)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    return dropped


def code_version() -> str:
    """The package version and a digest of the library's source files."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        v = version("mhpipe")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        v = "0+source"
    h = hashlib.sha256()
    root = Path(__file__).resolve().parent.parent  # the pipeline package
    for f in sorted(root.rglob("*.py")) + sorted(root.rglob("*.yaml")):
        h.update(str(f.relative_to(root)).encode() + f.read_bytes())
    return f"{v}+{h.hexdigest()[:12]}"


def release_meta(layout: Layout, policy: LoadedPolicy, people: int, research: int,
                 suppressed: int, pub) -> dict[str, Any]:
    """What the `releases` table says about a release (counts disclosure-controlled)."""
    from pipeline.deid import model_name
    from pipeline.warehouse.disclosure_control import publish_count

    figures: dict[str, Any] = {}
    eval_file = layout.deid_eval
    if eval_file.exists():
        try:
            r = json.loads(eval_file.read_text())
            figures = {
                "deid_recall_synthetic": r.get("synthetic", {}).get("micro", {}).get("recall_any"),
                "deid_recall_wnut_person": r.get("wnut17_dev", {}).get("labels", {}).get("PERSON", {}).get("recall_any"),
                "deid_recall_wnut_location": r.get("wnut17_dev", {}).get("labels", {}).get("LOCATION", {}).get("recall_any"),
                "deid_over_redaction": r.get("counsel_chat", {}).get("over_redaction"),
            }
        except (ValueError, AttributeError):
            figures = {}
    return {
        "policy_version": policy.version, "policy_digest": policy.digest,
        "policy_approved_by": policy.policy.metadata.approved_by,
        "policy_effective_date": policy.policy.metadata.effective_date.isoformat(),
        "code_version": code_version(),
        "input_people": publish_count(people, pub.suppression_threshold, pub.rounding_base),
        "research_people": publish_count(research, pub.suppression_threshold, pub.rounding_base),
        "suppressed_cells": suppressed,
        "deid_model": model_name(),
        **{k: (float(v) if v is not None else None) for k, v in {
            "deid_recall_synthetic": None, "deid_recall_wnut_person": None,
            "deid_recall_wnut_location": None, "deid_over_redaction": None, **figures}.items()},
    }

"""Subject access (GDPR Art. 15): a copy of everything mhpipe holds about one person.

The coverage is erasure's (`pipeline/governance/erasure.py`): the person is found by the keyed
pseudonym of their platform id in every dataset of the vault, intake included, and in the
quarantine by the lines that mention them. Their records are decrypted as stored (already
de-identified: pseudonyms, placeholders; never anyone's raw id) into one JSON document.
Quarantined lines are listed by reason (file, line, field, rule); a line's own bytes go into
the document only when the line is theirs (its `user_id` is theirs). A line that merely
mentions them (another person's line, or one that cannot be parsed) is listed without its
content: it may hold someone else's identifiers or words.

`export_subject` takes the run lock (no run changes the vault while it is read), writes the
document to a new file created 0600 (never overwritten, never in the publish folder) and
appends an audit record of counts only: no id, no pseudonym, no content, no file name (an
operator might name the file after the person).
"""

from __future__ import annotations

import json
import os
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

from pipeline.vault.crypto import open_sealed
from pipeline.governance.erasure import _mentions_user
from pipeline.intake.prepare import INTAKE_DATASET, INTAKE_PURPOSE
from pipeline.vault.keystore import KeyStore
from pipeline.lock import run_lock
from pipeline.policy import LoadedPolicy
from pipeline.intake.pseudonym import pseudonymise, secret_name
from pipeline.vault.store import QUARANTINE_DATASET, Vault
from pipeline.layout import Layout
from pipeline.vault.stores import open_stores

AUDIT_KIND = "subject-export"


class SubjectExportError(Exception):
    """A refused export (the message names no person and no value)."""


def _inside(path: Path, folder: Path) -> bool:
    folder = folder.resolve()
    return path == folder or folder in path.parents


def check_out_file(out: Path, publish_dir: Path) -> Path:
    """The resolved output path; refused if it exists, has no folder, or is inside the
    publish folder (researchers read that folder)."""
    out = Path(out)
    if out.exists() or out.is_symlink():
        raise SubjectExportError("the --out file exists; subject exports never overwrite")
    parent = out.parent.resolve()
    if not parent.is_dir():
        raise SubjectExportError("the folder of --out does not exist")
    target = parent / out.name
    if _inside(target, publish_dir):
        raise SubjectExportError("--out is inside the publish folder, which researchers read: "
                                 "write the export somewhere private")
    return target


def _pseudonyms(keys: KeyStore, lp: LoadedPolicy, datasets: set[str],
                user_id: str) -> dict[str, str]:
    """The person's pseudonym in each dataset present in the vault that we can search (as in
    erasure: intake, and the datasets the policy declares)."""
    subject = pseudonymise(keys.secret(secret_name(INTAKE_PURPOSE)), "user", user_id)
    out = {}
    for dataset in sorted(datasets):
        if dataset == INTAKE_DATASET:
            out[dataset] = subject
        elif dataset in lp.policy.datasets:
            key = keys.secret(secret_name(lp.policy.datasets[dataset].purpose))
            out[dataset] = pseudonymise(key, "user", subject)
    return out


def _sort_key(record: dict) -> tuple:
    return (str(record.get("occurred_at") or ""), str(record.get("turn") or ""),
            str(record.get("record_id")))


def _is_theirs(raw: bytes, user_id: str) -> bool:
    try:
        obj = json.loads(raw)
    except ValueError:
        return False
    return isinstance(obj, dict) and obj.get("user_id") == user_id


def _quarantined(vault: Vault, user_id: str) -> list[dict[str, Any]]:
    """Quarantined lines that mention the person (erasure's test): the reason always, the
    line itself only when it is theirs. Lines are decrypted in memory only."""
    mentions = _mentions_user(user_id)
    rows = vault.con.execute(
        "SELECT file_sha, file_name, line_no, field, rule, key_id, nonce, ciphertext "
        "FROM quarantine ORDER BY file_name, line_no").fetchall()
    found, deks = [], {}
    for sha, name, line_no, field, rule, key_id, nonce, ct in rows:
        if key_id not in deks:
            deks[key_id] = vault.keys.key_by_id(key_id)
        if deks[key_id] is None:
            continue  # its key was destroyed: unreadable by design
        raw = open_sealed(deks[key_id], nonce, ct, f"mhpipe/quarantine/v1|{sha}|{line_no}".encode())
        if not mentions(raw):
            continue
        theirs = _is_theirs(raw, user_id)
        found.append({
            "file": name, "line": line_no, "field": field, "rule": rule,
            "content": raw.decode("utf-8", errors="replace") if theirs else None,
            "content_withheld": None if theirs else
            "the line mentions you but is not recorded as yours: it may hold other people's data",
        })
    return found


def collect(vault: Vault, keys: KeyStore, lp: LoadedPolicy, user_id: str) -> dict[str, Any]:
    """The person's records per dataset and their quarantined lines (in memory)."""
    present = set(vault.datasets()) - {QUARANTINE_DATASET}
    pseudonyms = _pseudonyms(keys, lp, present, user_id)
    datasets: dict[str, Any] = {}
    for dataset, pseudonym in pseudonyms.items():
        records = [{"record_id": rid, **payload}
                   for rid, _subject, payload in vault.read(dataset, subjects={pseudonym})]
        if not records:
            continue
        if dataset == INTAKE_DATASET:
            about = {"purpose": INTAKE_PURPOSE,
                     "description": "The pipeline's working store of every valid event "
                                    "(de-identified, encrypted per person).",
                     "retention_days": lp.policy.intake.retention_days}
        else:
            ds = lp.policy.datasets[dataset]
            purpose = lp.policy.purposes.get(ds.purpose)
            about = {"purpose": ds.purpose, "description": ds.description,
                     "lawful_basis": purpose.lawful_basis if purpose else None,
                     "retention_days": ds.retention_days, "timestamps": ds.timestamps}
        datasets[dataset] = {**about, "records": sorted(records, key=_sort_key)}
    erased = pseudonyms.get(INTAKE_DATASET) in vault.erased_subjects() if pseudonyms else False
    return {"datasets": datasets, "quarantined_lines": _quarantined(vault, user_id),
            "erasure_recorded": erased,
            "datasets_not_searched": sorted(present - set(pseudonyms))}


def counts(document: dict[str, Any]) -> dict[str, Any]:
    q = document["quarantined_lines"]
    return {"records": {ds: len(v["records"]) for ds, v in document["datasets"].items()},
            "quarantined_lines": len(q),
            "quarantined_lines_with_content": sum(1 for line in q if line["content"] is not None),
            "found": bool(document["datasets"] or q)}


def _write_private(target: Path, document: dict[str, Any]) -> None:
    """Create `target` 0600 (O_EXCL: never an existing file, never a symlink's target) and
    write the document; a partial file is removed."""
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(document, fh, ensure_ascii=False, indent=2, sort_keys=True)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        target.unlink(missing_ok=True)
        raise


def export_subject(data: Path, lp: LoadedPolicy, user_id: str, out: Path, now: datetime,
                   publish: Path | None = None) -> dict[str, Any]:
    """Write one person's access export to `out` (new file, 0600) and audit it. Returns the
    counts (what the audit record holds). Raises SubjectExportError for a refusal, and
    LockError / CryptoError from the lock and the stores."""
    from pipeline.governance import audit

    if not user_id:
        raise SubjectExportError("no user id given")
    layout = Layout(data, publish)
    if not layout.vault.exists():
        raise SubjectExportError(f"no vault under {data}: nothing has been ingested yet")
    target = check_out_file(out, layout.warehouse)
    request_id = uuid.uuid4().hex
    with run_lock(data, "subject-export"):
        with open_stores(layout, read_only=True) as (keys, vault):
            found = collect(vault, keys, lp, user_id)
        document = {
            "kind": "subject-access-export", "request_id": request_id,
            "generated_at": now.isoformat(), "policy_version": lp.version,
            "about": "Everything mhpipe holds about you, as stored: your platform id and session "
                     "ids are replaced by keyed pseudonyms, and identifiers in messages by "
                     "placeholders. Quarantined lines are input lines that failed validation.",
            **found,
        }
        figures = counts(document)
        document["counts"] = figures
        _write_private(target, document)
        summary = {"request_id": request_id, "who": audit.who()["user"], "at": now.isoformat(),
                   **figures}
        summary["audit_hash"] = audit.record(layout.audit_log, AUDIT_KIND, summary)
    return summary

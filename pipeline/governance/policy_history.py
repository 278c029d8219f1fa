"""Which versions of the policy governed runs, read from the audit log, and the check that a
policy whose content changed also had its `metadata.version` bumped.

A run or a retention sweep appends a `policy-change` record
(`run.nightly.record_policy_change`) when its policy's digest differs from the last one the
log holds: version, digest, each file's SHA-256, who approved it and from when. Other records
(`nightly-batch`, `retention-sweep`) carry the digest, version and files too; a digest first
seen in one of those (a sweep by an mhpipe that did not record changes yet) is listed as
well, marked with the kind of record it came from. Only versions, digests, file names and approvers are
read: audit records hold no data.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Iterable

from pipeline.policy import LoadedPolicy, PolicyIssue

POLICY_CHANGE = "policy-change"


@dataclass(frozen=True)
class PolicyVersion:
    """One policy that governed runs from the audit record `seq` (written at `at`) on."""

    seq: int
    at: str
    version: str | None
    digest: str
    approved_by: str | None
    effective_date: str | None
    files: dict[str, str]  # file name -> SHA-256
    added: tuple[str, ...]  # files new since the previous policy (all of them for the first)
    removed: tuple[str, ...]
    changed: tuple[str, ...]
    source: str  # "policy-change", or the kind of record the digest was first seen in
    by: str | None  # OS user who wrote the record
    first: bool = False  # the first policy the log records

    @property
    def files_changed(self) -> str:
        if self.first:
            return "first recorded: " + (", ".join(self.added) or "no file names recorded")
        if not (self.added or self.removed or self.changed):
            return "no file names recorded"
        parts = [f"{n} changed" for n in self.changed] + [f"{n} added" for n in self.added]
        return ", ".join(parts + [f"{n} removed" for n in self.removed])

    def line(self) -> str:
        """One line: when, version, short digest, approver, effective date, files changed."""
        text = (f"{self.at}  {self.version or '?'}  {self.digest[:12]}  "
                f"approved by {self.approved_by or '?'}  effective {self.effective_date or '?'}  "
                f"{self.files_changed}")
        if self.source != POLICY_CHANGE:
            text += f"  (no policy-change record: first seen in a {self.source} record)"
        return text

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for k in ("added", "removed", "changed"):
            d[k] = list(d[k])
        return d


def _who(record: dict[str, Any]) -> str | None:
    by = record.get("by")
    if not isinstance(by, dict):
        return None
    return by.get("user") or (f"uid {by['uid']}" if by.get("uid") is not None else None)


def history(records: Iterable[dict[str, Any]]) -> list[PolicyVersion]:
    """The policies that governed runs, oldest first, from audit records (`audit.read`)."""
    out: list[PolicyVersion] = []
    digest, files = None, {}
    for r in records:
        p = r.get("payload")
        if not isinstance(p, dict) or not isinstance(p.get("policy_digest"), str):
            continue
        if p["policy_digest"] == digest:
            continue  # still the same policy
        new = p.get("policy_files") if isinstance(p.get("policy_files"), dict) else {}
        change = r.get("kind") == POLICY_CHANGE
        out.append(PolicyVersion(
            seq=int(r.get("seq") or 0), at=str(r.get("at") or "?"),
            version=p.get("policy_version"), digest=p["policy_digest"],
            approved_by=p.get("approved_by") if change else None,
            effective_date=p.get("effective_date") if change else None,
            files=dict(new),
            added=tuple(sorted(set(new) - set(files))),
            removed=tuple(sorted(set(files) - set(new))),
            changed=tuple(sorted(n for n in set(new) & set(files) if new[n] != files[n])),
            source=str(r.get("kind")) if not change else POLICY_CHANGE, by=_who(r),
            first=not out))
        digest, files = p["policy_digest"], dict(new)
    return out


def version_bumped(previous_records: Iterable[dict[str, Any]],
                   loaded_policy: LoadedPolicy) -> PolicyIssue | None:
    """The problem, or None, with `loaded_policy` against the policies the audit log says
    governed earlier runs (`previous_records`: `audit.read(layout.audit_log)`):

    - its content (digest) differs from the latest recorded policy's but its
      `metadata.version` is the same: the change was not versioned;
    - its version was recorded before for other content, never for this content: one
      version would name two policies.

    A policy identical to one recorded before (a revert) passes; so does an empty log."""
    past = history(previous_records)
    lp = loaded_policy
    if not past or past[-1].digest == lp.digest:
        return None
    last = past[-1]
    where = (lp.metadata_file, lp.version_line, "metadata.version")
    if last.version == lp.version:
        files = sorted(n for n in set(lp.files) | set(last.files)
                       if lp.files.get(n) != last.files.get(n))
        return PolicyIssue(*where, f"policy content changed ({', '.join(files)}) but "
                           f"metadata.version is still {lp.version}: bump it")
    same = [v for v in past if v.version == lp.version]
    if same and all(v.digest != lp.digest for v in same):
        return PolicyIssue(*where, f"metadata.version {lp.version} was already used for other "
                           f"policy content (audit record {same[-1].seq}, {same[-1].at}): "
                           "choose a new version")
    return None

"""`mhpipe policy diff OLD NEW`: what changed between two policies, in words."""

from __future__ import annotations

from typing import Any

from pipeline.policy import Policy


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    return {prefix: value}


def _show(v: Any) -> str:
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(map(str, v)) + "]" if v else "[]"
    return str(v)


def _consent_sentence(parts: list[str], old: Any, new: Any) -> str | None:
    """Consent and age changes in words, with what they do to people."""
    if parts[0] != "purposes" or len(parts) != 3:
        return None
    purpose, key = parts[1], parts[2]
    if key == "accepted_consent_versions":
        old, new = old or [], new or []
        bits = []
        for v in [x for x in old if x not in new]:
            bits.append(f"consent form version {v} is no longer accepted: people whose latest "
                        f"consent is on it leave the {purpose} population at the next run, and "
                        f"its individual-level datasets erase them")
        for v in [x for x in new if x not in old]:
            bits.append(f"consent form version {v} is now accepted: people who consented on it "
                        f"join the {purpose} population at the next run")
        return f"purpose {purpose}: " + "; ".join(bits or ["accepted versions reordered"])
    if key == "minimum_age":
        effect = (f"people known to be under {new} leave it at the next run" if new > old
                  else f"people aged {new} to {old - 1} may join it")
        return f"purpose {purpose}: minimum age {old} -> {new} ({effect})"
    if key == "lawful_basis":
        if new == "consent":
            effect = "only people who opted in remain; everyone else leaves at the next run"
        elif old == "consent":
            effect = "everyone in the intake store is covered, consent or not"
        else:
            effect = "who is covered does not change"
        return f"purpose {purpose}: lawful basis {old} -> {new} ({effect})"
    return None


def _sentence(path: str, old: Any, new: Any) -> str:
    parts = path.split(".")
    consent = _consent_sentence(parts, old, new)
    if consent is not None:
        return consent
    if parts[-1] == "retention_days":
        what = "intake store" if parts[0] == "intake" else f"dataset {parts[1]}"
        direction = "shorter: older records will be deleted" if new < old else "longer"
        return f"retention of {what}: {old} -> {new} days ({direction})"
    if isinstance(old, (list, tuple)) and isinstance(new, (list, tuple)):
        added = [x for x in new if x not in old]
        removed = [x for x in old if x not in new]
        bits = ([f"added {_show(added)}"] if added else []) + ([f"removed {_show(removed)}"] if removed else [])
        return f"{path}: " + "; ".join(bits or ["reordered"])
    return f"{path}: {_show(old)} -> {_show(new)}"


def policy_diff(old: Policy, new: Policy) -> list[str]:
    a, b = old.model_dump(mode="json"), new.model_dump(mode="json")
    lines: list[str] = []
    for section in ("purposes", "datasets"):
        for name in sorted(set(b[section]) - set(a[section])):
            lines.append(f"{section[:-1]} added: {name}")
        for name in sorted(set(a[section]) - set(b[section])):
            lines.append(f"{section[:-1]} removed: {name}"
                         + (" (all its records will be deleted)" if section == "datasets" else ""))
        for name in set(a[section]) ^ set(b[section]):
            a[section].pop(name, None)
            b[section].pop(name, None)
    fa, fb = _flatten(a), _flatten(b)
    for path in sorted(set(fa) | set(fb)):
        if path not in fa:
            lines.append(f"{path}: set to {_show(fb[path])}")
        elif path not in fb:
            lines.append(f"{path}: removed (was {_show(fa[path])})")
        elif fa[path] != fb[path]:
            lines.append(_sentence(path, fa[path], fb[path]))
    return lines

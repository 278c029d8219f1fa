"""The policy as a readable Markdown document for a data protection impact assessment (DPIA).

Everything comes from the validated policy (`LoadedPolicy`), so the document describes what
the pipeline enforces, not what someone remembers: purposes with their lawful bases,
consent versions and minimum ages; datasets with what they keep, encryption, retention and
timestamp handling; de-identification; disclosure control; safety oversight; and the
version, owner, approver, effective date and digest that tie the document to the policy in
force (the audit log records the same digest). The policy holds no personal data; its
descriptions are stewards' free text and are escaped, never read as Markdown.
"""

from __future__ import annotations

from pipeline.entities import KNOWN_ENTITIES
from pipeline.disclosure_floors import (ALL_OR_NONE_MIN_DENOMINATOR, MINIMUM_GROUP_SIZE, ROUNDING_BASE,
                               SUPPRESSION_THRESHOLD)
from pipeline.policy import Dataset, LoadedPolicy, Policy

LAWFUL_BASES = {
    "consent": "consent (UK GDPR Art. 6(1)(a)); opt-in: no consent event means no consent",
    "vital_interests": "vital interests (Art. 6(1)(d)); does not rest on consent",
    "legal_obligation": "legal obligation (Art. 6(1)(c)); does not rest on consent",
    "public_task": "public task (Art. 6(1)(e)); does not rest on consent",
}
TIMESTAMPS = {
    "shift": "shifted per person by a stable offset of up to 14 days either way (intervals "
             "between a person's events are kept)",
    "day": "cut to the day",
    "week": "cut to the week",
    "month": "cut to the month",
    "exact": "kept exactly as recorded",
}
OPERATORS = {
    "placeholder": "placeholder (`<{e}_1>`, numbered consistently within a conversation)",
    "redact": "redacted (`<REDACTED>`)",
    "mask": "masked (`*` of the same length)",
    "hash": "keyed hash (`<{e}:3fa2c1d0>`: joinable under one key, not reversible)",
}


def _op(operator: str, entity: str = "PERSON") -> str:
    return OPERATORS[operator].format(e=entity)


def _text(value: object) -> str:
    """Steward free text on one line, inert in Markdown (tables, HTML-like tags)."""
    text = " ".join(str(value).split()).replace("\\", "\\\\")
    return text.replace("|", "\\|").replace("<", "\\<")


def _list(values, empty: str = "none") -> str:
    return ", ".join(f"`{v}`" for v in values) or empty


def _days(days: int) -> str:
    if days >= 365:
        about = f"about {days / 365:.1f}".rstrip("0").rstrip(".") + " years"
        about = about.replace("about 1 years", "about 1 year")
    elif days >= 28:
        about = f"about {round(days / 30.44)} months".replace("about 1 months", "about 1 month")
    else:
        return f"{days} days"
    return f"{days} days ({about})"


def _table(header: tuple[str, ...], rows: list[tuple[object, ...]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return out + [""]


def _metadata(lp: LoadedPolicy) -> list[str]:
    md = lp.policy.metadata
    rows = [("version", f"`{_text(md.version)}`"), ("owner", _text(md.owner)),
            ("approved by", _text(md.approved_by)),
            ("effective date", f"{md.effective_date.isoformat()} (runs dated earlier are refused)"),
            ("digest (SHA-256 of the files)", f"`{lp.digest}`")]
    rows += [(f"file `{_text(name)}`", f"SHA-256 `{sha}`")
             for name, sha in sorted(lp.files.items())]
    return ["## Policy", ""] + _table(("field", "value"), rows)


def _purposes(p: Policy) -> list[str]:
    rows = []
    for name, pur in p.purposes.items():
        datasets = [n for n, ds in p.datasets.items() if ds.purpose == name]
        consent = (_list(pur.accepted_consent_versions) if pur.lawful_basis == "consent"
                   else "not applicable")
        rows.append((f"`{name}`", _text(pur.description), LAWFUL_BASES[pur.lawful_basis], consent,
                     pur.minimum_age, _list(datasets)))
    return (["## Purposes and lawful bases", "",
             "People enter a purpose's population only if its lawful basis allows it and they "
             "are at least its minimum age (counted conservatively from the latest birth year); "
             "for consent, only if their latest consent is on an accepted form version.", ""]
            + _table(("purpose", "description", "lawful basis", "consent form versions accepted",
                      "minimum age", "datasets"), rows))


def _dataset(name: str, ds: Dataset, p: Policy) -> list[str]:
    kept = ds.level == "aggregate" or "transcripts" in ds.keeps
    level = ("aggregate: the research warehouse, disclosure-controlled tables only"
             if ds.level == "aggregate" else "individual: per-person records")
    retention = _days(ds.retention_days) + (
        ": how long a research release may be kept" if ds.level == "aggregate" else "")
    encrypted = ("yes, per person (crypto-shredded on erasure or expiry)" if ds.encrypted
                 else "no (disclosure-controlled aggregates only)" if ds.level == "aggregate"
                 else "no")
    lines = [f"### `{name}`", "", _text(ds.description), "",
             f"- purpose: `{ds.purpose}` ({p.purposes[ds.purpose].lawful_basis})",
             f"- level: {level}",
             f"- keeps: {_list(ds.keeps)}",
             f"- encrypted: {encrypted}",
             f"- retention: {retention}"]
    if ds.level == "individual":
        lines.append(f"- timestamps: {TIMESTAMPS[ds.timestamps]}")
        lines.append("- sessions: " + ("only those with a risk flag of level "
                                       + _list(ds.only_sessions_with_risk)
                                       if ds.only_sessions_with_risk else "all"))
        if ds.operators:
            lines.append("- de-identification overrides: " + "; ".join(
                f"`{e}` {_op(op, e)}" for e, op in sorted(ds.operators.items())))
    if not kept:
        lines.append("- not materialised: only individual datasets that keep transcripts are "
                     "built; this one is declared only")
    return lines + [""]


def _deid(p: Policy) -> list[str]:
    d = p.deidentification
    ops = [(f"`{e}`", _op(d.operators.get(e, d.default_operator), e)) for e in d.entities]
    unlisted = [e for e in KNOWN_ENTITIES if e not in d.entities]
    return (["## De-identification of message text", "",
             f"- languages: {_list(d.languages)} (text of sessions in any other language is not "
             "kept)",
             f"- default operator: {_op(d.default_operator)}",
             f"- entity types recognised but not listed (still replaced, with a type "
             f"placeholder: fail closed): {_list(unlisted)}",
             f"- public crisis and support numbers kept as written: {_list(d.public_numbers)}",
             "", "Entity types replaced, and how (datasets may override, see Datasets):", ""]
            + _table(("entity type", "operator"), ops))


def _disclosure(p: Policy) -> list[str]:
    pub = p.publication
    rows = [("suppression threshold", f"counts of 1..{pub.suppression_threshold} (values or "
             f"people) are suppressed (floor {SUPPRESSION_THRESHOLD})"),
            ("rounding base", f"other counts rounded to the nearest {pub.rounding_base} "
             f"(floor {ROUNDING_BASE})"),
            ("minimum group size", f"groups, means, percentiles and rates need "
             f"{pub.minimum_group_size}+ people (floor {MINIMUM_GROUP_SIZE})"),
            ("0% / 100% minimum denominator", f"{pub.all_or_none_min_denominator} people (floor "
             f"{ALL_OR_NONE_MIN_DENOMINATOR})"),
            ("cadence", f"every {pub.cadence.every}, on day {pub.cadence.day}; closed periods "
             "only"),
            ("population", f"people of purpose `{pub.purpose}`"),
            ("mode", "suppression and rounding with a cross-release gate" if pub.mode ==
             "suppression" else "differential privacy (zCDP)")]
    if pub.dp is not None:
        rows += [("rho per release", pub.dp.rho_per_release),
                 ("rho cap per year (any 365 days)", pub.dp.rho_cap_per_year),
                 ("sessions counted per person", pub.dp.max_sessions_per_person),
                 ("suppress and round noisy counts", "yes" if pub.dp.suppress_and_round else "no")]
    release = p.release_retention_days()
    if release is not None:
        rows.append(("releases kept for", _days(release)))
    return ["## Disclosure control of research releases", ""] + _table(("setting", "value"), rows)


def _safety(p: Policy) -> list[str]:
    s = p.safety
    targets = ", ".join(f"{m} min" for m in s.connection_targets_minutes)
    return ["## Safety oversight", "",
            f"- flagged sessions connected to a human are reported within: {targets}",
            "- model-version safety gate: each AI model version is compared with its "
            "predecessor on the never-connected share, the missed item-9 share and the reliable "
            f"deterioration rate; it raises a safety alert when worse by more than "
            f"{s.gate_margin:g} with the 95% interval of the difference above zero and at least "
            f"{s.gate_min_people} people behind each share", ""]


def dpia_markdown(lp: LoadedPolicy) -> str:
    """The policy as Markdown for a DPIA (see the module docstring)."""
    p = lp.policy
    retention = [("intake store (every valid event, de-identified, encrypted per person)",
                  _days(p.intake.retention_days))]
    retention += [(f"dataset `{n}`", _days(ds.retention_days)) for n, ds in p.datasets.items()]
    lines = [f"# Data protection impact assessment: processing under policy "
             f"{_text(p.metadata.version)}", "",
             "Generated by `mhpipe policy dpia` from the validated policy files; the digest "
             "below is the one the audit log and every research release record.", ""]
    lines += _metadata(lp) + _purposes(p)
    lines += ["## Datasets", ""]
    for name, ds in p.datasets.items():
        lines += _dataset(name, ds, p)
    lines += ["## Retention", "", "Records past their retention are deleted, and data keys left "
              "unused are destroyed, on every run and retention sweep.", ""]
    lines += _table(("store", "retention"), retention)
    lines += _deid(p) + _disclosure(p) + _safety(p)
    return "\n".join(lines).rstrip("\n") + "\n"

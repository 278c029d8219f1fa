"""`mhpipe redact`: de-identify JSONL records {"id", "text"} with a dataset's operators.

What a steward uses to try the engine on a sample, and what evaluation calls. Offsets in the
output refer to the original text. Records are one conversation each unless they carry a
"session" field, in which case placeholders are numbered consistently across that session.
The hash operator uses a key made for this run only: hashes are comparable within one
output, never across runs or with the pipeline's stores.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Iterable, Iterator

from pipeline.deid import Operator, analyze_texts
from pipeline.policy import Policy


@dataclass(frozen=True)
class BadLine:
    line: int
    problem: str


def operator_factory(policy: Policy, dataset: str | None):
    deid = policy.deidentification
    per = dict(deid.operators)
    if dataset is not None:
        if dataset not in policy.datasets:
            raise KeyError(f"unknown dataset {dataset!r}; declared: {', '.join(sorted(policy.datasets))}")
        per.update(policy.datasets[dataset].operators)
    key = os.urandom(32)
    entities = frozenset(deid.entities)
    return lambda: Operator(deid.default_operator, key, per, entities, deid.public_numbers)


def redact_lines(lines: Iterable[str], policy: Policy, dataset: str | None = None,
                 batch: int = 2000) -> Iterator[dict | BadLine]:
    make = operator_factory(policy, dataset)
    operators: dict[str, Operator] = {}
    pending: list[tuple[int, dict]] = []

    def flush() -> Iterator[dict]:
        spans = analyze_texts([r["text"] for _, r in pending])
        for (n, rec), found in zip(pending, spans):
            conv = str(rec.get("session", f"record-{n}"))
            op = operators.setdefault(conv, make())
            # every span found is replaced, listed or not (fail closed); entities = exactly
            # what was masked
            text, masked = op.redact(rec["text"], found)
            yield {"id": rec.get("id"), "text": text,
                   "entities": [{"start": s.start, "end": s.end, "entity_type": s.entity_type,
                                 "score": s.score} for s in masked]}
        pending.clear()

    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except ValueError:
            yield BadLine(n, "not valid JSON")
            continue
        if not isinstance(rec, dict) or not isinstance(rec.get("text"), str):
            yield BadLine(n, 'needs a JSON object with a string "text"')
            continue
        pending.append((n, rec))
        if len(pending) >= batch:
            yield from flush()
    if pending:
        yield from flush()

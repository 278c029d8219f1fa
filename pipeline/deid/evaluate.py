"""Measure the de-identification engine: recall, precision, F2 and over-redaction.

Corpora:
- the synthetic generator's ground truth (every inserted identifier span, by type): shows
  what we already thought of, never evidence of generalisation;
- every external set in `../shared/eval` (`eval_sets`: TAB, BTC, WNUT-17 train and dev,
  counsel_chat), scored on what the redaction masked, re-masking of recurring identifiers
  included: recall per label with a 95% Wilson interval, the share of non-space characters
  masked, the share of masked characters outside every annotated span, and duration phrases
  and clinical keep-list words masked (none may be).

"Masked as any type" means every letter and digit of the truth span lies inside some
detected span (spaces and punctuation left in clear, "*" in "*Gwen" or the comma of "Warsaw,
Poland", reveal nothing); "right type" also requires the detected type to be one that names the same
kind of identifier (`SAME_KIND`).
"""

from __future__ import annotations

import csv
import gzip
import json
import re
import tempfile
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from pipeline.deid import Span

Analyzer = Callable[[Sequence[str]], list[list[Span]]]

SAME_KIND = {
    "PERSON": {"PERSON"},
    "PHONE_NUMBER": {"PHONE_NUMBER"},
    "EMAIL_ADDRESS": {"EMAIL_ADDRESS"},
    "UK_NHS": {"UK_NHS"},
    "URL": {"URL"},
    "UK_POSTCODE": {"UK_POSTCODE"},
    "STREET_ADDRESS": {"STREET_ADDRESS", "LOCATION"},
    "DATE_OF_BIRTH": {"DATE_OF_BIRTH", "DATE"},
    "HANDLE": {"HANDLE"},
    "LOCATION": {"LOCATION", "STREET_ADDRESS", "UK_POSTCODE", "ORGANIZATION"},
    "AGE": {"AGE"}, "DATE": {"DATE"}, "ID_NUMBER": {"ID_NUMBER"},
}

_NUM = r"(?:\d+|a|an|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|few|couple of|several|many)"
DURATION = re.compile(
    rf"\b(?:(?:for|over|about|around|almost|nearly|past|last|next|the|a)\s+)?{_NUM}\s+"
    r"(?:years?|months?|weeks?|days?|hours?|minutes?|decades?)(?!\s*-?\s*old\b)(?:\s+ago)?\b"
    r"|\b(?:last|this|next|past)\s+(?:week|month|year|night|weekend|summer|winter|spring|autumn|fall)\b"
    r"|\b(?:yesterday|today|tonight|tomorrow)\b",
    re.IGNORECASE,
)


@dataclass
class Tally:
    truth: int = 0
    any_type: int = 0
    right_type: int = 0

    def as_dict(self) -> dict:
        return {"spans": self.truth,
                "recall_any": round(self.any_type / self.truth, 4) if self.truth else None,
                "recall_type": round(self.right_type / self.truth, 4) if self.truth else None}


@dataclass
class Report:
    corpus: str
    by_type: dict[str, Tally] = field(default_factory=lambda: defaultdict(Tally))
    detected: Counter = field(default_factory=Counter)
    detected_true: Counter = field(default_factory=Counter)
    extra: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        out = {"corpus": self.corpus, "entities": {k: v.as_dict() for k, v in sorted(self.by_type.items())}}
        if self.detected:
            out["precision"] = {k: round(self.detected_true[k] / n, 4)
                                for k, n in sorted(self.detected.items())}
            tp = sum(v.any_type for v in self.by_type.values())
            truth = sum(v.truth for v in self.by_type.values())
            p = sum(self.detected_true.values()) / max(1, sum(self.detected.values()))
            r = tp / max(1, truth)
            out["micro"] = {"precision": round(p, 4), "recall_any": round(r, 4),
                            "f2": round(5 * p * r / (4 * p + r), 4) if p + r else 0.0}
            for k, t in self.by_type.items():
                kinds = SAME_KIND.get(k, {k})
                prec = [self.detected_true[d] / self.detected[d] for d in kinds if self.detected[d]]
                pk = max(prec) if prec else 0.0
                rk = t.right_type / t.truth if t.truth else 0.0
                out["entities"][k]["f2_type"] = round(5 * pk * rk / (4 * pk + rk), 4) if pk + rk else 0.0
        out.update(self.extra)
        return out


def covered(text: str, start: int, end: int, spans: Sequence[Span], kinds: set[str] | None = None) -> bool:
    mask = bytearray(end - start)
    for s in spans:
        if kinds is not None and s.entity_type not in kinds:
            continue
        a, b = max(s.start, start), min(s.end, end)
        for i in range(a, b):
            mask[i - start] = 1
    return all(mask[i] or not text[start + i].isalnum() for i in range(end - start))


def _score(report: Report, text: str, truth: list[tuple[int, int, str]], found: list[Span]) -> None:
    for start, end, kind in truth:
        t = report.by_type[kind]
        t.truth += 1
        t.any_type += covered(text, start, end, found)
        t.right_type += covered(text, start, end, found, SAME_KIND.get(kind, {kind}))
    for s in found:
        report.detected[s.entity_type] += 1
        if any(s.start < e and b < s.end for b, e, _ in truth):
            report.detected_true[s.entity_type] += 1


# -- synthetic ----------------------------------------------------------------------------
def synthetic_corpus(users: int = 150, seed: int = 2024) -> tuple[list[str], list[list[tuple[int, int, str]]]]:
    from pipeline.synth import generate

    with tempfile.TemporaryDirectory(prefix="mhpipe-eval-") as tmp:
        root = Path(tmp)
        generate(root, users=users, days=30, seed=seed)
        texts: dict[str, str] = {}
        for f in sorted(root.rglob("*.jsonl.gz")):
            for line in gzip.decompress(f.read_bytes()).splitlines():
                ev = json.loads(line)
                if ev["event_type"] == "message":
                    texts[ev["event_id"]] = ev["text"]
        truth: dict[str, list[tuple[int, int, str]]] = defaultdict(list)
        with open(root / "ground_truth.csv") as fh:
            for row in csv.DictReader(fh):
                truth[row["event_id"]].append((int(row["start"]), int(row["end"]), row["entity_type"]))
    ids = sorted(texts)
    return [texts[i] for i in ids], [truth.get(i, []) for i in ids]


def evaluate_spans(corpus: str, texts: list[str], truth: list[list[tuple[int, int, str]]],
                   analyze: Analyzer) -> Report:
    report = Report(corpus)
    for text, t, found in zip(texts, truth, analyze(texts)):
        _score(report, text, t, found)
    report.extra["messages"] = len(texts)
    return report


def run_all(analyze: Analyzer, eval_dir: Path | None, synthetic_users: int = 150,
            make_operator: Callable | None = None) -> dict:
    """Every set: the generator's ground truth (scored on spans and types) and each external
    set present under `eval_dir`, scored on what the redaction masked (re-masking included)."""
    from pipeline.deid import eval_sets
    from pipeline.deid.keep_list import kept_words

    results: dict = {}
    texts, truth = synthetic_corpus(synthetic_users)
    results["synthetic"] = evaluate_spans("synthetic", texts, truth, analyze).as_dict()
    for name, docs in eval_sets.available(eval_dir).items():
        masked = redacted_spans(docs, analyze, make_operator)
        results[name] = score_docs(name, docs, masked, kept_words)
    return results


# -- external sets, measured on what the redaction actually masked ------------------------
def redacted_spans(docs, analyze: Analyzer, make_operator: Callable | None = None) -> list[list[Span]]:
    """What the redaction masks in each document: the engine's spans plus the operator's
    re-masking of identifiers met earlier in the same conversation (`Doc.session`)."""
    from pipeline.deid import Operator

    make_operator = make_operator or Operator
    found = analyze([d.text for d in docs])
    operators: dict[str, object] = {}
    out = []
    for d, f in zip(docs, found):
        op = operators.setdefault(d.session, make_operator())
        out.append(op.masked(d.text, f))
    return out


def _wilson(hits: int, n: int, z: float = 1.96) -> tuple[float, float] | None:
    if not n:
        return None
    p = hits / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * ((p * (1 - p) / n + z * z / (4 * n * n)) ** 0.5) / (1 + z * z / n)
    return round(max(0.0, centre - half), 4), round(min(1.0, centre + half), 4)


def score_docs(name: str, docs, masked: list[list[Span]], keep_terms: Callable[[str], list[tuple[int, int]]] | None = None) -> dict:
    """Per label: spans, recall masked as any type (with a 95% Wilson interval); masked
    non-space characters overall and outside every annotated span (truth or context);
    duration phrases and kept clinical terms that were masked."""
    hits: Counter = Counter()
    totals: Counter = Counter()
    chars = masked_chars = outside = 0
    durations = clinical = 0
    examples: Counter = Counter()
    for d, spans in zip(docs, masked):
        text = d.text
        for a, b, label in d.truth:
            totals[label] += 1
            hits[label] += covered(text, a, b, spans)
        annotated = bytearray(len(text))
        for a, b, _ in list(d.truth) + list(d.context):
            annotated[a:b] = b"\x01" * (b - a)
        inside = bytearray(len(text))
        for s in spans:
            inside[s.start:s.end] = b"\x01" * (s.end - s.start)
            examples[f"{s.entity_type}:{text[s.start:s.end].lower()}"] += 1
        for i, c in enumerate(text):
            if c.isspace():
                continue
            chars += 1
            if inside[i]:
                masked_chars += 1
                outside += not annotated[i]
        for m in DURATION.finditer(text):
            durations += any(inside[m.start():m.end()])
        if keep_terms is not None:
            for a, b in keep_terms(text):
                clinical += any(inside[a:b])
    labels = {k: {"spans": totals[k], "recall_any": round(hits[k] / totals[k], 4),
                  "ci95": _wilson(hits[k], totals[k])} for k in sorted(totals)}
    return {"corpus": name, "texts": len(docs), "labels": labels,
            "over_redaction": round(masked_chars / max(1, chars), 5),
            "masked_outside_annotations": round(outside / max(1, masked_chars), 4) if masked_chars else 0.0,
            "durations_redacted": durations, "clinical_terms_redacted": clinical,
            "top_masked": examples.most_common(15)}

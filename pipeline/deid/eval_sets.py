"""Readers for the external evaluation sets in `../shared/eval` (see its README).

Each reader returns `Doc`s: the text, the spans that must be masked (`truth`, by label), the
spans annotators saw but judged safe to keep (`context`), and the conversation key that
placeholder numbering and re-masking run over. The sets are read in place, never copied.

- TAB (court judgments, human-annotated): PERSON, LOC, ORG, DATETIME, CODE (and DEM,
  QUANTITY, MISC, reported for information).
- BTC (tweets): PERSON, LOC, ORG.
- WNUT-17 (Twitter, Reddit, YouTube, StackOverflow): PERSON and LOCATION (its `person`,
  `location`); `group` and `corporation` as ORG.
- counsel_chat: real help-seeking questions with no annotated identifiers (over-redaction).

In every set a leading title ("Mr", "Judge", "DJ") is not part of a person's identifier:
PERSON spans start after it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

Truth = tuple[int, int, str]


@dataclass
class Doc:
    text: str
    truth: list[Truth] = field(default_factory=list)
    context: list[Truth] = field(default_factory=list)
    session: str = ""


TAB_LABELS = ("PERSON", "LOC", "ORG", "DATETIME", "CODE", "DEM", "QUANTITY", "MISC")
TITLE = re.compile(r"(?:(?:Mr|Mrs|Ms|Miss|Mx|Dr|Prof|Professor|Judge|Justice|Sir|Dame|Lord|Lady|"
                   r"Rev|Father|Sister|Brother|Messrs|Mme|Mlle|M|Herr|Frau|DJ|Dj|dj|Coach|President|King|"
                   r"Queen|Prince|Princess|Saint|Uncle|Aunt|Auntie)\s*\.?\s+)+")


def strip_title(text: str, start: int, end: int) -> int:
    m = TITLE.match(text, start, end)
    return m.end() if m and m.end() < end else start


def _person_start(text: str, start: int, end: int, label: str) -> int:
    return strip_title(text, start, end) if label == "PERSON" else start


def tab(path: Path, splits: tuple[str, ...] = ("train", "dev")) -> list[Doc]:
    docs = []
    for line in path.read_text(encoding="utf-8").splitlines():
        r = json.loads(line)
        if r["split"] not in splits:
            continue
        text = r["text"]
        truth = []
        for s in r["spans"]:
            start = strip_title(text, s["start"], s["end"]) if s["label"] == "PERSON" else s["start"]
            truth.append((start, s["end"], s["label"]))
        context = [(s["start"], s["end"], s["label"]) for s in r.get("context_spans", ())]
        docs.append(Doc(text, truth, context, str(r["session"])))
    return docs


BTC_LABELS = {"PER": "PERSON", "PERSON": "PERSON", "LOC": "LOC", "ORG": "ORG"}


def btc(path: Path) -> list[Doc]:
    docs = []
    for line in path.read_text(encoding="utf-8").splitlines():
        r = json.loads(line)
        truth = [(_person_start(r["text"], s["start"], s["end"], BTC_LABELS[s["label"]]), s["end"],
                  BTC_LABELS[s["label"]]) for s in r["spans"]]
        docs.append(Doc(r["text"], truth, [], str(r["id"])))
    return docs


WNUT_TYPES = {"person": "PERSON", "location": "LOCATION", "group": "ORG", "corporation": "ORG"}


def wnut(path: Path, types: dict[str, str] = WNUT_TYPES) -> list[Doc]:
    """CoNLL (token TAB tag, blank line between sentences); tokens joined by single spaces."""
    docs: list[Doc] = []
    tokens: list[tuple[str, str]] = []

    def flush() -> None:
        if not tokens:
            return
        parts, spans, pos = [], [], 0
        current: list | None = None
        for word, tag in tokens:
            start = pos
            parts.append(word)
            pos += len(word) + 1
            kind = types.get(tag[2:]) if tag != "O" else None
            if tag.startswith("B-") and kind:
                current = [start, start + len(word), kind]
                spans.append(current)
            elif tag.startswith("I-") and kind and current and current[2] == kind:
                current[1] = start + len(word)
            else:
                current = None
        text = " ".join(parts)
        docs.append(Doc(text, [(_person_start(text, a, b, k), b, k) for a, b, k in spans], [],
                        f"wnut-{len(docs)}"))
        tokens.clear()

    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            flush()
            continue
        word, _, tag = line.partition("\t")
        tokens.append((word, tag.strip() or "O"))
    flush()
    return docs


def counsel(path: Path) -> list[Doc]:
    docs = []
    for line in path.read_text(encoding="utf-8").splitlines():
        q = json.loads(line)
        for t in (q.get("title"), q.get("text")):
            if t:
                docs.append(Doc(t, [], [], f"cc-{q.get('question_id')}"))
    return docs


def available(eval_dir: Path | None) -> dict[str, list[Doc]]:
    """Every set present under `eval_dir`, by name (absent sets are left out)."""
    if eval_dir is None:
        return {}
    sets: dict[str, list[Doc]] = {}
    f = eval_dir / "tab" / "tab_train_dev.jsonl"
    if f.exists():
        sets["tab_train"] = tab(f, ("train",))
        sets["tab_dev"] = tab(f, ("dev",))
    for split in ("train", "dev"):
        f = eval_dir / "btc" / f"btc_{split}.jsonl"
        if f.exists():
            sets[f"btc_{split}"] = btc(f)
    for split in ("train", "dev"):
        f = eval_dir / "wnut17" / f"{split}.conll"
        if f.exists():
            sets[f"wnut17_{split}"] = wnut(f)
    f = eval_dir / "counsel_chat" / "questions.jsonl"
    if f.exists():
        sets["counsel_chat"] = counsel(f)
    return sets

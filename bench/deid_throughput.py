"""De-identification throughput, four ways side by side on one corpus (issue: de-id engine).

(a) naive Presidio: one `analyze` + `anonymize` per message, Presidio's default recognizers,
    the same spaCy model with all its components;
(b) Presidio `BatchAnalyzerEngine`, batch 32, same engine as (a), then `anonymize`;
(c) the floor: spaCy `nlp.pipe` with only tok2vec + ner, over as many processes as (d);
(d) mhpipe: `pipeline.deid.analyze_texts` (pool of workers, NER-only pipeline, chat
    recognizers, identical texts once) plus the placeholder operator.

Corpus: synthetic chat messages (with ground truth) + counsel_chat sentences, when
`../shared/eval` is present. Recall = share of synthetic ground-truth spans masked (any type).
Start-up (model loads, worker start) is excluded: every variant is warmed up first.

    .venv/bin/python bench/deid_throughput.py [--messages 4000] [--workers 2] [--distinct] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TLDEXTRACT_CACHE", str(ROOT / "data" / "cache" / "tldextract"))

from pipeline.deid import (DEFAULT_MODEL, Operator, Span, _ensure_offline_tldextract,  # noqa: E402
                           analyze_texts, model_name, shutdown_pool)
from pipeline.deid.evaluate import covered, synthetic_corpus  # noqa: E402

EVAL = ROOT.parent / "shared" / "eval"


def corpus(n: int) -> tuple[list[str], list[list[tuple[int, int, str]]]]:
    texts, truth = synthetic_corpus(users=max(50, n // 12), seed=99)
    cc = EVAL / "counsel_chat" / "questions.jsonl"
    extra: list[str] = []
    if cc.exists():
        for line in cc.read_text().splitlines():
            q = json.loads(line)
            extra += [s.strip() for s in re.split(r"(?<=[.!?])\s+", q["text"])
                      if 5 <= len(s.split()) <= 40]
    half = n // 2
    texts, truth = texts[:n - min(half, len(extra))], truth[:n - min(half, len(extra))]
    texts += extra[:n - len(texts)]
    truth += [[] for _ in range(len(texts) - len(truth))]
    return texts, truth


def recall(texts, truth, spans) -> float:
    hit = total = 0
    for text, tr, found in zip(texts, truth, spans):
        for a, b, _ in tr:
            total += 1
            hit += covered(text, a, b, found)
    return round(hit / max(1, total), 4)


def naive_engine():
    _ensure_offline_tldextract(None)
    from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
    from presidio_analyzer.nlp_engine import NlpEngineProvider
    from presidio_anonymizer import AnonymizerEngine

    nlp = NlpEngineProvider(nlp_configuration={
        "nlp_engine_name": "spacy",
        "models": [{"lang_code": "en", "model_name": model_name()}]}).create_engine()
    registry = RecognizerRegistry(supported_languages=["en"])
    registry.load_predefined_recognizers(languages=["en"], nlp_engine=nlp)
    return AnalyzerEngine(nlp_engine=nlp, registry=registry, supported_languages=["en"]), AnonymizerEngine()


def to_spans(results) -> list[Span]:
    return [Span(r.start, r.end, r.entity_type, r.score) for r in results]


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--messages", type=int, default=4000)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--distinct", action="store_true",
                    help="drop repeated texts first, so (d) gains nothing from analysing them once")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    texts, truth = corpus(args.messages)
    if args.distinct:
        seen: dict[str, list] = {}
        for t, tr in zip(texts, truth):
            seen.setdefault(t, tr)
        texts, truth = list(seen), list(seen.values())
    words = sum(len(t.split()) for t in texts) / len(texts)
    print(f"corpus: {len(texts)} messages, {len(set(texts))} distinct, {words:.1f} words on average; "
          f"model {model_name()}; {args.workers} worker process(es)")
    rows = {}

    analyzer, anonymizer = naive_engine()
    analyzer.analyze("warm up", language="en")

    def run_a():
        out = []
        for t in texts:
            res = analyzer.analyze(t, language="en")
            anonymizer.anonymize(t, res)
            out.append(to_spans(res))
        return out
    spans, dt = timed(run_a)
    rows["a_naive_presidio"] = (len(texts) / dt, recall(texts, truth, spans))

    from presidio_analyzer import BatchAnalyzerEngine
    batch = BatchAnalyzerEngine(analyzer_engine=analyzer)

    def run_b():
        out = []
        for t, res in zip(texts, batch.analyze_iterator(texts, language="en", batch_size=32)):
            anonymizer.anonymize(t, res)
            out.append(to_spans(res))
        return out
    spans, dt = timed(run_b)
    rows["b_batch_presidio"] = (len(texts) / dt, recall(texts, truth, spans))

    import spacy
    floor = spacy.load(model_name(), exclude=["parser", "tagger", "attribute_ruler", "lemmatizer", "senter"])
    list(floor.pipe(texts[:64]))

    def run_c():
        return [[Span(e.start_char, e.end_char, e.label_, 1.0) for e in doc.ents]
                for doc in floor.pipe(texts, batch_size=64, n_process=args.workers)]
    spans, dt = timed(run_c)
    rows["c_spacy_floor"] = (len(texts) / dt, recall(texts, truth, spans))

    analyze_texts(texts[:2000], workers=args.workers)  # start and warm the worker pool

    def run_d():
        spans = analyze_texts(texts, workers=args.workers)
        for t, s in zip(texts, spans):
            Operator().apply(t, s)  # each corpus message is its own conversation
        return spans
    spans, dt = timed(run_d)
    rows["d_mhpipe"] = (len(texts) / dt, recall(texts, truth, spans))
    shutdown_pool()

    print(f"{'variant':20} {'msg/s':>8} {'recall':>7}")
    for k, (rate, rec) in rows.items():
        print(f"{k:20} {rate:8.0f} {rec:7.4f}")
    d = rows["d_mhpipe"][0]
    ratios = {f"d/{k[0]}": round(d / rows[k][0], 2)
              for k in ("a_naive_presidio", "b_batch_presidio", "c_spacy_floor")}
    print("ratios:", ", ".join(f"{k} = {v}" for k, v in ratios.items()))
    if args.json:
        args.json.write_text(json.dumps({
            "messages": len(texts), "distinct": len(set(texts)), "workers": args.workers,
            "distinct_only": args.distinct,
            "model": model_name() or DEFAULT_MODEL,
            "variants": {k: {"msg_per_s": round(r, 1), "recall_any": rec} for k, (r, rec) in rows.items()},
            "ratios": ratios}, indent=2))


if __name__ == "__main__":
    main()

"""De-identification of free text with Presidio and a pinned spaCy model.

- `engine`: the analyzer, one per process (`get_engine`), built from explicit configuration;
- `spans`: raw findings to one span per masked stretch (overlaps merged, guesses trimmed,
  the clinical keep-list applied);
- `operators`: how a conversation's spans are replaced, and re-masking of recurring
  identifiers; every span the engine reports is replaced, a type the policy does not list
  with a type placeholder (fail closed);
- `workers`: a process pool over all cores for large batches and whole partitions.

Texts are analysed in batches through `nlp.pipe`; identical texts are analysed once.
"""

from __future__ import annotations

# the vocabulary policies use lives in pipeline.entities (no engine); re-exported here
from pipeline.entities import KNOWN_ENTITIES, LANGUAGE, OPERATORS
from pipeline.deid.engine import (BATCH_SIZE, DEFAULT_MODEL, MODEL_ENV, RECOGNIZERS_ENV,
                                  RECOGNIZERS_FILE, SCORE_THRESHOLD, SPACY_EXCLUDE, Engine,
                                  _ensure_offline_tldextract, engine_loads, get_engine,
                                  model_name)
from pipeline.deid.operators import UNLISTED_OPERATOR, Operator
from pipeline.deid.spans import GUESSED, Span, resolve
from pipeline.deid.workers import (PARALLEL_MIN_TEXTS, analyze_texts, default_workers,
                                   run_in_pool, shutdown_pool)

__all__ = [
    "BATCH_SIZE", "DEFAULT_MODEL", "GUESSED", "KNOWN_ENTITIES", "LANGUAGE", "MODEL_ENV",
    "OPERATORS", "PARALLEL_MIN_TEXTS", "RECOGNIZERS_ENV", "RECOGNIZERS_FILE", "SCORE_THRESHOLD",
    "SPACY_EXCLUDE", "UNLISTED_OPERATOR", "Engine", "Operator", "Span",
    "_ensure_offline_tldextract", "analyze_texts", "default_workers", "engine_loads",
    "get_engine", "model_name", "resolve", "run_in_pool", "shutdown_pool",
]

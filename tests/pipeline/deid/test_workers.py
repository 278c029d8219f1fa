"""The worker pool gives what the engine gives in this process."""

from __future__ import annotations

def test_parallel_analysis_equals_serial(engine):
    from pipeline.deid import PARALLEL_MIN_TEXTS, analyze_texts, shutdown_pool
    from pipeline.deid.evaluate import synthetic_corpus

    texts, _ = synthetic_corpus(users=60, seed=8)
    assert len(set(texts)) >= PARALLEL_MIN_TEXTS
    try:
        assert analyze_texts(texts, workers=2) == engine.analyze(texts)
    finally:
        shutdown_pool()

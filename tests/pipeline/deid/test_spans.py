"""From raw findings to masked spans: merged overlaps, trimmed guesses, the keep-list, glosses."""

from __future__ import annotations

def test_overlapping_spans_are_merged_so_nothing_found_stays_in_clear():
    from presidio_analyzer import RecognizerResult

    from pipeline.deid import resolve as _resolve

    text = "On 20 May 2004 the Court"
    merged = _resolve([RecognizerResult("DATE", 3, 14, 0.6),
                       RecognizerResult("STREET_ADDRESS", 10, 24, 0.7)], text)
    # one span over both; typed by the stronger member (both patterns: the higher score)
    assert [(s.start, s.end, s.entity_type) for s in merged] == [(3, 24, "STREET_ADDRESS")]
    merged = _resolve([RecognizerResult("PERSON", 0, 8, 0.85),
                       RecognizerResult("DATE", 3, 14, 0.6)], text)
    assert [(s.start, s.end, s.entity_type) for s in merged] == [(0, 14, "DATE")]  # pattern over guess

def test_a_guess_loses_clinical_words_but_keeps_the_rest():
    from presidio_analyzer import RecognizerResult

    from pipeline.deid import resolve as _resolve

    text = "ask Prozac Smithers"
    merged = _resolve([RecognizerResult("PERSON", 4, 19, 0.85)], text)
    assert [text[s.start:s.end] for s in merged] == ["Smithers"]
    # a pattern type is never trimmed by the keep-list
    assert _resolve([RecognizerResult("EMAIL_ADDRESS", 4, 19, 0.85)], text)[0].start == 4

def test_guesses_drop_articles_titles_and_punctuation_but_not_initials():
    from presidio_analyzer import RecognizerResult

    from pipeline.deid import resolve as _resolve

    text = "by the Supreme Court. Mr A. Kansu and Mr Z.M. Necatigil"
    found = _resolve([RecognizerResult("ORGANIZATION", 3, 21, 0.85),
                      RecognizerResult("PERSON", 22, 33, 0.85),
                      RecognizerResult("PERSON", 38, 55, 0.85)], text)
    assert [text[s.start:s.end] for s in found] == ["Supreme Court", "A. Kansu", "Z.M. Necatigil"]
    # "The" opening a sentence goes; a lone common word is no organisation ("Court")
    text = "The Echo was loud. The Zorblax Court agreed. The Court agreed"
    found = _resolve([RecognizerResult("LOCATION", 0, 8, 0.6), RecognizerResult("ORGANIZATION", 19, 36, 0.85),
                      RecognizerResult("ORGANIZATION", 45, 54, 0.85)], text)
    assert [text[s.start:s.end] for s in found] == ["Echo", "Zorblax Court"]
    text = "we played at The Echo"  # mid-sentence "The" is the name's own
    assert [text[s.start:s.end] for s in _resolve([RecognizerResult("LOCATION", 13, 21, 0.6)], text)] == ["The Echo"]

def test_a_name_and_its_gloss_and_a_place_with_its_country_are_one_span_quotes_left_out():
    from presidio_analyzer import RecognizerResult

    from pipeline.deid import resolve as _resolve

    text = "the Vienna Court of Appeal (Oberlandesgericht) and Warsaw, Poland, and “Centre of Studies”"
    found = _resolve([RecognizerResult("ORGANIZATION", 4, 26, 0.85),
                      RecognizerResult("ORGANIZATION", 28, 45, 0.6),
                      RecognizerResult("LOCATION", 51, 57, 0.6), RecognizerResult("LOCATION", 59, 65, 0.6),
                      RecognizerResult("ORGANIZATION", 72, 89, 0.6)], text)
    assert [text[s.start:s.end] for s in found] == [
        "Vienna Court of Appeal (Oberlandesgericht)", "Warsaw, Poland", "Centre of Studies"]

"""Readers of the external evaluation sets, on small files written here (never their text)."""

from __future__ import annotations

import json

from pipeline.deid.eval_sets import available, btc, strip_title, tab


def test_tab_reader_keeps_splits_context_and_drops_a_leading_title(tmp_path):
    f = tmp_path / "tab.jsonl"
    text = "Mr Sam Smith went to Leeds on 1 May 2001."
    rows = [{"id": "a", "doc": "d1", "split": "train", "offset": 0, "session": "d1", "text": text,
             "spans": [{"start": 0, "end": 12, "label": "PERSON", "subtype": "DIRECT"},
                       {"start": 30, "end": 40, "label": "DATETIME", "subtype": "QUASI"}],
             "context_spans": [{"start": 21, "end": 26, "label": "LOC", "subtype": "NO_MASK"}]},
            {"id": "b", "doc": "d2", "split": "dev", "offset": 0, "session": "d2", "text": "x",
             "spans": [], "context_spans": []}]
    f.write_text("\n".join(json.dumps(r) for r in rows))
    docs = tab(f, ("train",))
    assert len(docs) == 1 and docs[0].session == "d1"
    assert [text[a:b] for a, b, _ in docs[0].truth] == ["Sam Smith", "1 May 2001"]
    assert [text[a:b] for a, b, _ in docs[0].context] == ["Leeds"]


def test_btc_reader_maps_labels_and_titles(tmp_path):
    f = tmp_path / "btc.jsonl"
    text = "DJ Kool Herc in Bronx"
    f.write_text(json.dumps({"id": "t1", "text": text, "spans": [
        {"start": 0, "end": 12, "label": "PER"}, {"start": 16, "end": 21, "label": "LOC"}]}))
    doc = btc(f)[0]
    assert [(text[a:b], k) for a, b, k in doc.truth] == [("Kool Herc", "PERSON"), ("Bronx", "LOC")]


def test_a_title_alone_is_kept_and_absent_sets_are_skipped(tmp_path):
    assert strip_title("Mr", 0, 2) == 0  # nothing would be left of the name
    assert available(None) == {} and available(tmp_path) == {}

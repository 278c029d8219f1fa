"""Helpers: what the whole engine (real model, every recognizer) reports for a text."""

from __future__ import annotations


def spans(engine, text):
    return [(text[s.start:s.end], s.entity_type) for s in engine.analyze([text])[0]]

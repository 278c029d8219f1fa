"""Keyed pseudonyms (pipeline/intake/pseudonym.py): stable, namespaced, keyed, 128 bits."""

from __future__ import annotations

import re

from pipeline.intake.pseudonym import PSEUDONYM_HEX_CHARS, pseudonymise, secret_name

KEY = bytes(range(32))


def test_known_answer():
    """Pinned values: the vault joins records by these pseudonyms across runs and releases,
    so a change of algorithm, separator or truncation would orphan every stored record."""
    assert pseudonymise(KEY, "user", "alice") == "aa8df88bb50e227a6db550c1a140d8a9"
    assert pseudonymise(KEY, "session", "alice") == "fefb5c79f3182f221bbd771a45752e1e"
    assert pseudonymise(b"\0" * 32, "user", "alice") == "764e3f843787d53b77f8c454b7ef9809"


def test_shape_is_128_bits_of_lower_case_hex():
    assert PSEUDONYM_HEX_CHARS == 32
    for value in ("", "alice", "ä" * 500):
        assert re.fullmatch(r"[0-9a-f]{32}", pseudonymise(KEY, "user", value))


def test_same_input_same_pseudonym_and_every_part_matters():
    base = pseudonymise(KEY, "user", "alice")
    assert pseudonymise(KEY, "user", "alice") == base
    others = {pseudonymise(KEY, "user", "Alice"), pseudonymise(KEY, "event", "alice"),
              pseudonymise(bytes(32), "user", "alice"), pseudonymise(KEY, "user", "alice ")}
    assert base not in others and len(others) == 4


def test_kind_and_value_cannot_be_shifted_into_each_other():
    """The separator keeps ("ab", "c") and ("a", "bc") apart."""
    assert pseudonymise(KEY, "ab", "c") != pseudonymise(KEY, "a", "bc")


def test_secret_name_per_purpose():
    assert secret_name("research") == "pseudonym/research"
    assert secret_name("intake") != secret_name("research")

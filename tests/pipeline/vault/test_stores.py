"""Opening the stores: the master key from a file (created on a new data folder only) or
from a key provider named in the environment."""

from __future__ import annotations

import pytest

from pipeline.layout import Layout
from pipeline.vault.crypto import CryptoError, LocalKeyProvider
from pipeline.vault.stores import KEY_PROVIDER_ENV, key_provider, open_stores


def fixed_provider():
    return LocalKeyProvider(b"\x05" * 32)


def test_a_new_data_folder_gets_a_private_master_key_file(tmp_path, monkeypatch):
    monkeypatch.delenv("MHPIPE_MASTER_KEY", raising=False)
    layout = Layout(tmp_path / "data")
    layout.make_private()
    with open_stores(layout) as (keys, vault):
        assert keys.provider.kek_id and vault.datasets() == {}
    assert (layout.master_key.stat().st_mode & 0o777) == 0o600


def test_an_existing_store_without_its_key_is_refused_not_recreated(tmp_path, monkeypatch):
    monkeypatch.delenv("MHPIPE_MASTER_KEY", raising=False)
    layout = Layout(tmp_path / "data")
    layout.make_private()
    with open_stores(layout):
        pass
    layout.master_key.unlink()
    with pytest.raises(CryptoError):
        key_provider(layout)
    assert not layout.master_key.exists()


def test_the_environment_can_name_a_key_provider(tmp_path, monkeypatch):
    monkeypatch.setenv(KEY_PROVIDER_ENV, "tests.pipeline.vault.test_stores:fixed_provider")
    layout = Layout(tmp_path / "data")
    assert key_provider(layout).kek_id == fixed_provider().kek_id
    assert not layout.master_key.exists()  # no local key file is made

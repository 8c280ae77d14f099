"""Shared test set-up: no test writes to the user's cache folder."""

import pytest


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("KETAPLAN_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "cache"))

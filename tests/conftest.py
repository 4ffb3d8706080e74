"""Fixtures for the whole suite."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from state.home import KEY_DIR_ENV


@pytest.fixture(scope="session", autouse=True)
def key_directory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Secret keys go to a temporary key directory, never to the real ~/.config/koppelaar.

    Set in os.environ (not monkeypatched per test) so that the CLI, daemon and console processes the
    tests start inherit it too."""
    before = os.environ.get(KEY_DIR_ENV)
    os.environ[KEY_DIR_ENV] = str(tmp_path_factory.mktemp("sleutels"))
    yield
    if before is None:
        del os.environ[KEY_DIR_ENV]
    else:
        os.environ[KEY_DIR_ENV] = before

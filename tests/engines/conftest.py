"""Registers the engine fixtures (tests/engines/fixtures.py) for the tests in this folder, unless the
top-level conftest already lists it in `pytest_plugins` (then it is not registered twice)."""

from __future__ import annotations

import pathlib

import pytest

_FIXTURES = pathlib.Path(__file__).with_name("fixtures.py").resolve()


def pytest_configure(config: pytest.Config) -> None:
    for plugin in config.pluginmanager.get_plugins():
        path = getattr(plugin, "__file__", None)
        if path and pathlib.Path(path).resolve() == _FIXTURES:
            return
    from . import fixtures

    config.pluginmanager.register(fixtures, "qmtl-engines-fixtures")

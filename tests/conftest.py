"""Suite-wide set-up: which Helm is under test, the per-run render cache, shipped values sets."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from tests.harness import helm_binary, value_sets
from tests.harness.helm import ENV_VAR as HELM_ENV
from tests.harness.paths import CACHE_ROOT
from tests.harness.render import CACHE_ENV

# Real dependency servers (tests/engines) as session fixtures for every test folder; the images' build
# output in the run's summary (tests/images).
pytest_plugins = ["tests.engines.fixtures", "tests.images.summary"]

_CREATED_CACHE: list[Path] = []


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--helm", default=None, help=f"Helm under test: helm3, helm4 or a path (default: ${HELM_ENV} or helm3)"
    )


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("--helm"):
        os.environ[HELM_ENV] = config.getoption("--helm")
    # One render cache per run, created by the controller and inherited by xdist workers (env).
    if not hasattr(config, "workerinput") and CACHE_ENV not in os.environ:
        CACHE_ROOT.mkdir(parents=True, exist_ok=True)
        run_dir = Path(tempfile.mkdtemp(prefix="renders-", dir=CACHE_ROOT))
        os.environ[CACHE_ENV] = str(run_dir)
        _CREATED_CACHE.append(run_dir)


def pytest_unconfigure(config: pytest.Config) -> None:
    for run_dir in _CREATED_CACHE:
        shutil.rmtree(run_dir, ignore_errors=True)


def pytest_report_header(config: pytest.Config) -> str:
    helm = helm_binary()
    return f"helm under test: {helm.path} ({helm.version})"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "value_set" in metafunc.fixturenames:
        sets = value_sets()
        metafunc.parametrize("value_set", sets, ids=[s.name for s in sets])

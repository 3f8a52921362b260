"""Smoke-test fixtures: the cluster of KUBECONFIG, reached through pytest-helm-charts' `kube_cluster`
fixture (its ExistingCluster: the kubeconfig path and a pykube client), plus the `kubernetes` client the
tests use for everything else, and the timings recorded for scripts/benchmark.py.

No cluster (KUBECONFIG unset, missing, or not answering): every test that needs one SKIPS with the reason,
or FAILS when QMTL_REQUIRE_ENGINES=1 (CI, where scripts/test.sh starts the local control plane).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from tests.harness import helm_binary
from tests.harness.paths import CACHE_ROOT
from tests.smoke.kube import REQUIRE_ENV, Kube, unavailable_reason

if TYPE_CHECKING:
    from tests.smoke.managed import ManagedServices

TIMINGS_FILE = CACHE_ROOT / "smoke-timings.json"
_TIMINGS: dict[str, float] = {}
_WINDOW: dict[str, float] = {}


class SmokeCluster:
    """What a smoke test gets: the kubernetes client (`kube`) and pytest-helm-charts' cluster."""

    def __init__(self, kube: Kube, phc_cluster):
        self.kube = kube
        self.phc = phc_cluster  # pytest_helm_charts.clusters.ExistingCluster

    @property
    def pykube(self):
        return self.phc.kube_client


@pytest.fixture(scope="module")
def smoke_cluster(request: pytest.FixtureRequest) -> Iterator[SmokeCluster]:
    reason = unavailable_reason()
    if reason:
        if os.environ.get(REQUIRE_ENV) == "1":
            pytest.fail(f"{reason} [{REQUIRE_ENV}=1: a missing cluster is a failure, not a skip]", pytrace=False)
        pytest.skip(reason)
    _WINDOW.setdefault("start", time.monotonic())
    # pytest-helm-charts: ExistingCluster over KUBECONFIG (pykube HTTPClient), released at module end
    phc = request.getfixturevalue("kube_cluster")
    kube = Kube(phc.kube_config_path)
    try:
        yield SmokeCluster(kube, phc)
    finally:
        kube.close()
        _WINDOW["end"] = time.monotonic()


@pytest.fixture(scope="module")
def managed_services():
    """The managed services this module's installs started; stopped at the end."""
    started: list[ManagedServices] = []
    yield started
    for services in started:
        services.stop()


def record_timing(name: str, seconds: float) -> None:
    """A figure for scripts/benchmark.py, written to .cache/smoke-timings.json at the end of the run."""
    _TIMINGS[name] = seconds


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    """The figures recorded in this run (install-to-ready times, ...), printed: scripts/benchmark.py reads them
    from .cache/smoke-timings.json too."""
    if not _TIMINGS:
        return
    helm = f"helm{helm_binary().major}"
    terminalreporter.section(f"smoke figures ({helm})")
    for name, value in sorted(_TIMINGS.items()):
        unit = "" if name.startswith("prod NetworkPolicy") else " s"
        terminalreporter.write_line(f"  {name}: {value:.1f}{unit}" if unit else f"  {name}: {value:.0f}")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if "start" not in _WINDOW or "end" not in _WINDOW:
        return  # no smoke test reached a cluster
    helm = f"helm{helm_binary().major}"
    figures = {f"{helm} {name}": round(value, 1) for name, value in _TIMINGS.items()}
    figures[f"{helm} smoke suite wall time"] = round(_WINDOW["end"] - _WINDOW["start"], 1)
    TIMINGS_FILE.parent.mkdir(parents=True, exist_ok=True)
    with open(TIMINGS_FILE.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # pytest-xdist workers merge their figures one at a time
        data: dict[str, float] = {}
        with contextlib.suppress(FileNotFoundError, json.JSONDecodeError):
            data = json.loads(TIMINGS_FILE.read_text())
        data.update(figures)
        partial = TIMINGS_FILE.with_suffix(".partial")
        partial.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
        os.replace(partial, TIMINGS_FILE)

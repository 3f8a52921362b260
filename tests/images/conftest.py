"""The images this repository builds, built once per test run, and what the tests here need around them.

- `dependency_images`: the chart's dependency images (redis, questdb, minio, mc), built the same way.
- `qmtl_image`: `scripts/images.sh build qmtl` once per run (the first xdist worker that needs it builds
  it under a file lock; the others read its result), the QMTL source from QMTL_SOURCE as everywhere.
  Its output (sizes, build time) is printed in the run's summary (tests/images/summary.py).
- The pods of a profile start together in ONE test (test_dev, test_prod), so that one xdist worker runs
  them: pytest-xdist's groups do not work with this pytest (its loadgroup sets a node id pytest 9 no
  longer reads), and the prod pods use a fixed host port (QMTL's gateway dials 127.0.0.1:50051).
- Where podman cannot run, the tests SKIP saying why, or FAIL under QMTL_REQUIRE_ENGINES=1.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
from pathlib import Path

import pytest
from qmtl_stack.render import CACHE_ENV

from tests.engines import servers
from tests.engines.fixtures import local_engine
from tests.engines.images import ensure_images, podman_unavailable_reason
from tests.engines.pins import EngineUnavailable
from tests.harness.paths import CHART_DIR
from tests.images.pods import IMAGES_SH, podman
from tests.images.summary import BUILD_LOG


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if Path(str(item.fspath)).is_relative_to(here):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def podman_ready() -> None:
    def check() -> None:
        reason = podman_unavailable_reason()
        if reason:
            raise EngineUnavailable(f"the image tests need podman: {reason}")

    local_engine(check)


def _run_dir() -> Path:
    run = os.environ.get(CACHE_ENV)
    if not run:
        raise AssertionError(f"{CACHE_ENV} is not set (tests/conftest.py sets it for every run)")
    return Path(run)


def chart_app_version() -> str:
    import yaml

    return str(yaml.safe_load((CHART_DIR / "Chart.yaml").read_text())["appVersion"])


def image_ref(name: str) -> str:
    """What scripts/images.sh tags: localhost/qmtl-stack/<name>:<Chart.yaml appVersion>."""
    return f"localhost/qmtl-stack/{name}:{chart_app_version()}"


@pytest.fixture(scope="session")
def qmtl_image(podman_ready) -> str:
    """The qmtl image, built by scripts/images.sh once per run; returns its reference."""
    run = _run_dir()
    with (run / "images-build.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        log = run / BUILD_LOG
        if not log.exists():
            done = subprocess.run(
                [str(IMAGES_SH), "build", "qmtl"], cwd=CHART_DIR, capture_output=True, text=True, timeout=3600
            )
            if done.returncode != 0:
                pytest.fail(f"scripts/images.sh build qmtl failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}")
            log.write_text(done.stdout)
    ref = image_ref("qmtl")
    podman("image", "exists", ref)
    return ref


DEPENDENCY_IMAGES = ("redis", "questdb", "minio", "mc")  # what values/local-dependency-images.yaml names


@pytest.fixture(scope="session")
def dependency_images(podman_ready) -> dict[str, str]:
    """The chart's dependency images that values/local-dependency-images.yaml names, built by
    scripts/images.sh once per run (tests/engines/images.py); name -> reference."""
    return local_engine(lambda: ensure_images(*DEPENDENCY_IMAGES))


@pytest.fixture(scope="session")
def images_postgres():
    """One real PostgreSQL for the tests here (test_prod provisions it with the chart's Job; the patch
    tests use databases of their own)."""
    server = local_engine(servers.start_postgres)
    yield server
    server.stop()

"""The images this repository builds (scripts/images.sh), built at most once per test run.

    refs = ensure_images("redis", "postgres")     # {"redis": "localhost/qmtl-stack/redis:7.0", ...}

The first pytest-xdist worker that needs a set of images builds it under a file lock in the run's folder
(tests/conftest.py sets it for every run) and leaves scripts/images.sh's output there; the others, and
later calls, find that output and only read the references. A build whose inputs did not change takes
seconds (podman reuses every layer); a cold one makes the images' Debian bases first (mmdebstrap). The
output (sizes, build times) is printed at the end of the run (tests/images/summary.py).

Where podman cannot run, EngineUnavailable says why (the fixtures skip, or fail under
QMTL_REQUIRE_ENGINES=1); a build that fails is an AssertionError with scripts/images.sh's output.
"""

from __future__ import annotations

import fcntl
import functools
import os
import shutil
import subprocess
from pathlib import Path

from qmtl_stack.render import CACHE_ENV

from .pins import ROOT, EngineUnavailable

IMAGES_SH = ROOT / "scripts" / "images.sh"
BUILD_LOG_PREFIX = "images-build"


def _run_dir() -> Path:
    run = os.environ.get(CACHE_ENV)
    if not run:
        raise AssertionError(f"{CACHE_ENV} is not set (tests/conftest.py sets it for every run)")
    return Path(run)


@functools.cache
def podman_unavailable_reason() -> str | None:
    """None when this project's podman works here, else why not."""
    if shutil.which("podman") is None:
        return "podman is not installed (scripts/setup.sh installs it from Debian)"
    done = subprocess.run(
        [str(IMAGES_SH), "podman", "info", "--format", "{{.Host.OCIRuntime.Name}}"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if done.returncode != 0:
        return f"podman does not work here: {(done.stderr or done.stdout).strip()[-500:]}"
    return None


def image_refs(*names: str) -> dict[str, str]:
    """The references scripts/images.sh tags NAME... with (`scripts/images.sh list NAME...`)."""
    done = subprocess.run([str(IMAGES_SH), "list", *names], capture_output=True, text=True, timeout=60, cwd=ROOT)
    if done.returncode != 0:
        raise AssertionError(f"scripts/images.sh list {' '.join(names)} failed:\n{done.stderr}")
    refs = done.stdout.split()
    assert len(refs) == len(names), done.stdout
    return dict(zip(names, refs, strict=True))


def build_log_name(names: tuple[str, ...]) -> str:
    return f"{BUILD_LOG_PREFIX}-{'+'.join(names)}.txt"


def ensure_images(*names: str) -> dict[str, str]:
    """Build NAME... with scripts/images.sh once per run; their references."""
    reason = podman_unavailable_reason()
    if reason:
        raise EngineUnavailable(f"the images {', '.join(names)} need podman: {reason}")
    run = _run_dir()
    log = run / build_log_name(names)
    with (run / f"{BUILD_LOG_PREFIX}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not log.exists():
            done = subprocess.run(
                [str(IMAGES_SH), "build", *names], cwd=ROOT, capture_output=True, text=True, timeout=3600
            )
            if done.returncode != 0:
                raise AssertionError(
                    f"scripts/images.sh build {' '.join(names)} failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
                )
            log.write_text(done.stdout)
    return image_refs(*names)

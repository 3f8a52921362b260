"""Prints what `scripts/images.sh build` said (image sizes, build time) at the end of a test run.

Registered by tests/conftest.py (pytest_plugins), so that the xdist controller, which collects nothing,
prints it too: the build's output is a file in the run's render cache folder, shared with the workers.
"""

from __future__ import annotations

import os
from pathlib import Path

from qmtl_stack.render import CACHE_ENV

BUILD_LOG = "images-build.txt"


def pytest_terminal_summary(terminalreporter) -> None:
    run = os.environ.get(CACHE_ENV)
    log = Path(run) / BUILD_LOG if run else None
    if log is not None and log.exists():
        terminalreporter.write_sep("-", "scripts/images.sh build qmtl")
        for line in log.read_text().splitlines():
            terminalreporter.write_line(line)

"""Prints what `scripts/images.sh build` said (image sizes, build times) at the end of a test run.

Registered by tests/conftest.py (pytest_plugins), so that the xdist controller, which collects nothing,
prints it too: each build's output is a file in the run's render cache folder, shared with the workers
(images-build.txt: the qmtl image; images-build-<name>+<name>....txt: tests/engines/images.py's builds).
"""

from __future__ import annotations

import os
from pathlib import Path

from qmtl_stack.render import CACHE_ENV

BUILD_LOG = "images-build.txt"


def pytest_terminal_summary(terminalreporter) -> None:
    run = os.environ.get(CACHE_ENV)
    if not run:
        return
    for log in sorted(Path(run).glob("images-build*.txt")):
        names = "qmtl" if log.name == BUILD_LOG else log.stem.removeprefix("images-build-").replace("+", " ")
        terminalreporter.write_sep("-", f"scripts/images.sh build {names}")
        for line in log.read_text().splitlines():
            terminalreporter.write_line(line)

"""Where things are. The repository root is the umbrella chart."""

from __future__ import annotations

import functools
import tomllib
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
CHART_DIR = REPO_ROOT
VALUES_DIR = REPO_ROOT / "values"
TOOLS_BIN = REPO_ROOT / ".tools" / "bin"
CACHE_ROOT = REPO_ROOT / ".cache"


@functools.cache
def pyproject() -> dict:
    """pyproject.toml: the one file where every version is pinned."""
    with (REPO_ROOT / "pyproject.toml").open("rb") as handle:
        return tomllib.load(handle)


def pinned(table: str) -> dict:
    """A [tool.qmtl-stack.<table>] table of pyproject.toml."""
    return pyproject()["tool"]["qmtl-stack"][table]

"""Where things are. The repository root is the umbrella chart."""

from __future__ import annotations

import functools
import shutil
import tomllib
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
CHART_DIR = REPO_ROOT
VALUES_DIR = REPO_ROOT / "values"
TOOLS_BIN = REPO_ROOT / ".tools" / "bin"
CACHE_ROOT = REPO_ROOT / ".cache"
# What a private copy of the chart leaves out: the repository's harness, scripts and tool caches.
NOT_THE_CHART = (".git", ".tools", ".venv", ".cache", "tests", "scripts", "images", "__pycache__", ".pytest_cache")


def copy_chart(target: Path, *also_leave_out: str) -> Path:
    """A private copy of the chart at `target`, for a test that changes it; returns `target`."""
    shutil.copytree(CHART_DIR, target, ignore=shutil.ignore_patterns(*NOT_THE_CHART, *also_leave_out))
    return target


@functools.cache
def pyproject() -> dict:
    """pyproject.toml: the one file where every version is pinned."""
    with (REPO_ROOT / "pyproject.toml").open("rb") as handle:
        return tomllib.load(handle)


def pinned(table: str) -> dict:
    """A [tool.qmtl-stack.<table>] table of pyproject.toml."""
    return pyproject()["tool"]["qmtl-stack"][table]

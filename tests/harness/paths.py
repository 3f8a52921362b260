"""Where things are (qmtl_stack.paths), and the pins the tests read (qmtl_stack.pins)."""

from __future__ import annotations

from pathlib import Path

from qmtl_stack import pins
from qmtl_stack.paths import CACHE_ROOT, CHART_DIR, REPO_ROOT, TOOLS_BIN, VALUES_DIR
from qmtl_stack.render import copy_chart as _copy

__all__ = ["CACHE_ROOT", "CHART_DIR", "REPO_ROOT", "TOOLS_BIN", "VALUES_DIR", "copy_chart", "pinned", "pyproject"]


def copy_chart(target: Path) -> Path:
    """A private copy of the chart at `target` (what Helm loads of it), for a test that changes it."""
    return _copy(target)


def pyproject() -> dict:
    """pyproject.toml: the one file where every version is pinned."""
    return pins.pyproject()


def pinned(table: str) -> dict:
    """A [tool.qmtl-stack.<table>] table of pyproject.toml."""
    return pins.table(table)

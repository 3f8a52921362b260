"""Shared by the docs tests: the environment documented commands run in."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.harness import helm_binary
from tests.harness.paths import REPO_ROOT, TOOLS_BIN


@pytest.fixture(scope="session")
def doc_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """What a reader has after scripts/setup.sh and the README's PATH line: `helm` (here: the Helm under
    test), helm3/helm4/kubectl from .tools/bin, the .venv's python. Helm's own state goes to a temp dir."""
    home = tmp_path_factory.mktemp("doc-home")
    bindir = home / "bin"
    bindir.mkdir()
    (bindir / "helm").symlink_to(helm_binary().path)
    env = dict(os.environ)
    env.update(
        {
            "PATH": os.pathsep.join(
                [str(bindir), str(TOOLS_BIN), str(REPO_ROOT / ".venv" / "bin"), env.get("PATH", "")]
            ),
            "QMTL_HELM": str(helm_binary().path),
            "HELM_CACHE_HOME": str(home / "helm-cache"),
            "HELM_CONFIG_HOME": str(home / "helm-config"),
            "HELM_DATA_HOME": str(home / "helm-data"),
            "TMPDIR": str(home),
        }
    )
    return env


def repo_path(text: str) -> Path:
    return REPO_ROOT / text

"""Fixtures shared by the core-service tests."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.harness.paths import CHART_DIR, copy_chart


@pytest.fixture(scope="session")
def notes_chart(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private copy of the chart that renders the real NOTES.txt through `tpl` into a ConfigMap: `helm
    template` never renders NOTES.txt (and `helm install --dry-run` needs a cluster with Helm 3). Read it
    with tests.core.common.notes."""
    target = copy_chart(tmp_path_factory.mktemp("notes") / "chart")
    (target / "notes-under-test").mkdir()
    shutil.copy(CHART_DIR / "templates" / "NOTES.txt", target / "notes-under-test" / "NOTES.txt")
    (target / "templates" / "zz-notes-under-test.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: notes-under-test\ndata:\n  notes: |\n"
        '    {{- tpl (.Files.Get "notes-under-test/NOTES.txt") . | nindent 4 }}\n'
    )
    return target

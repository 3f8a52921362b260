"""scripts/images.sh refuses what it cannot do before building anything, and its shared helpers
(scripts/lib/qmtl.sh) refuse bad inputs clearly. No image is built here."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.harness.paths import CHART_DIR
from tests.images.conftest import image_ref

SCRIPT = CHART_DIR / "scripts" / "images.sh"


def run(*args: str, cwd: Path = CHART_DIR, script: Path = SCRIPT) -> subprocess.CompletedProcess:
    return subprocess.run([str(script), *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def lib(snippet: str, root: Path = CHART_DIR) -> subprocess.CompletedProcess:
    """Run `snippet` with scripts/lib/common.sh and scripts/lib/qmtl.sh of `root` sourced."""
    script = f'source "{root}/scripts/lib/common.sh"; source "{root}/scripts/lib/qmtl.sh"; {snippet}'
    env = {k: v for k, v in os.environ.items() if k != "QMTL_SOURCE"}  # the pyproject default, unless given
    return subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=120, env=env)


def test_list_names_the_chart_defaults() -> None:
    done = run("list")
    assert done.returncode == 0, done.stderr
    assert image_ref("qmtl") in done.stdout.split()


def test_an_image_without_containerfile_is_refused_naming_the_ones_there() -> None:
    done = run("build", "no-such-image")
    assert done.returncode == 1
    assert "no images/no-such-image/Containerfile" in done.stderr
    assert "qmtl" in done.stderr


def test_push_needs_a_registry_name() -> None:
    for bad in ("Registry.Example.com", "https://registry.example.com", "registry.example.com/"):
        done = run("build", "--push", bad, "qmtl")
        assert done.returncode == 1, bad
        assert "not a registry" in done.stderr, bad
    assert "needs a registry" in run("build", "--push").stderr


def test_load_without_the_local_clusters_import_is_refused_before_building(tmp_path: Path) -> None:
    """Until scripts/local-cluster.sh has `import ARCHIVE.tar`, --load says so and builds nothing."""
    root = tmp_path / "checkout"
    for part in ("scripts", "images"):
        shutil.copytree(CHART_DIR / part, root / part, ignore=shutil.ignore_patterns("__pycache__"))
    for part in ("Chart.yaml", "pyproject.toml"):
        shutil.copy2(CHART_DIR / part, root / part)
    (root / "scripts" / "local-cluster.sh").write_text("#!/usr/bin/env bash\ncase $1 in start) ;; esac\n")
    done = run("build", "--load", "qmtl", cwd=root, script=root / "scripts" / "images.sh")
    assert done.returncode == 1
    assert "scripts/local-cluster.sh import ARCHIVE.tar" in done.stderr
    assert not (root / ".tools").exists()  # nothing was built or prepared


@pytest.mark.parametrize(
    "line", ["fastapi>=0.1", "fastapi", "git+https://example.com/x.git", "-e .", "fastapi==0.163.2 --hash=sha256:ab"]
)
def test_a_lock_line_that_does_not_pin_is_refused(tmp_path: Path, line: str) -> None:
    lock = tmp_path / "requirements.lock"
    lock.write_text(f"# header\nstarlette==0.52.1\n{line}\n")
    done = lib(f'lock_check "{lock}"')
    assert done.returncode == 1
    assert "every line must pin one package as name==version" in done.stderr
    assert line in done.stderr


def test_the_shipped_lock_pins_every_line() -> None:
    done = lib(f'lock_check "{CHART_DIR / "images" / "qmtl" / "requirements.lock"}"')
    assert done.returncode == 0, done.stderr


def test_qmtl_source_resolution(tmp_path: Path) -> None:
    missing = lib(f'qmtl_source "{tmp_path / "nope.tar.gz"}"')
    assert missing.returncode == 1
    assert "does not exist" in missing.stderr
    tarball = tmp_path / "qmtl.tar.gz"
    tarball.write_bytes(b"not really a tarball")
    found = lib(f'cd "{tmp_path}" && qmtl_source qmtl.tar.gz && echo "$QMTL_SRC|$QMTL_SRC_KEY"')
    src, key = found.stdout.strip().split("|")
    assert src == str(tarball)  # relative paths are made absolute
    assert key.startswith("file-")  # a file is immutable: its wheel is cached by content
    pinned = lib('qmtl_source "" && echo "$QMTL_SRC|$QMTL_SRC_KEY"').stdout.strip().split("|")
    assert pinned[0].startswith("git+https://github.com/hyophyop/qmtl@")  # pyproject's default
    assert pinned[1].startswith("git-")
    moving = lib('qmtl_source "git+https://example.com/qmtl@main" && echo "[$QMTL_SRC_KEY]"')
    assert moving.stdout.strip() == "[]"  # a branch is not cached

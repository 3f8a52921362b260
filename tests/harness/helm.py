"""The Helm binary under test and how to run it.

Which Helm is tested is chosen in ONE place: the env var QMTL_HELM (or pytest's --helm option, which
sets it): "helm3", "helm4" (the binaries scripts/setup.sh puts in .tools/bin) or a path to a helm.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import os
import re
import shutil
import subprocess
from pathlib import Path

from tests.harness.paths import CHART_DIR, TOOLS_BIN

ENV_VAR = "QMTL_HELM"
DEFAULT = "helm3"


@dataclasses.dataclass(frozen=True)
class HelmBinary:
    path: Path
    version: str  # e.g. "v3.22.0"

    @property
    def major(self) -> int:
        return int(self.version.lstrip("v").split(".")[0])

    @property
    def identity(self) -> str:
        """What distinguishes this binary in cache keys: version plus the file's size and mtime."""
        stat = self.path.stat()
        return f"{self.version}:{self.path}:{stat.st_size}:{stat.st_mtime_ns}"


@dataclasses.dataclass(frozen=True)
class HelmResult:
    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def _resolve(choice: str) -> Path:
    if choice in ("helm3", "helm4"):
        candidate = TOOLS_BIN / choice
        if candidate.exists():
            return candidate
        raise FileNotFoundError(f"{ENV_VAR}={choice}: {candidate} does not exist; run scripts/setup.sh to build it")
    path = Path(choice)
    if not path.exists():
        found = shutil.which(choice)
        if not found:
            raise FileNotFoundError(f"{ENV_VAR}={choice}: no such helm binary")
        path = Path(found)
    return path


@functools.cache
def _binary(choice: str) -> HelmBinary:
    path = _resolve(choice).resolve()
    out = subprocess.run(
        [str(path), "version", "--template", "{{.Version}}"], capture_output=True, text=True, check=True
    ).stdout.strip()
    if not re.fullmatch(r"v\d+\.\d+\.\d+.*", out):
        raise RuntimeError(f"{path}: unexpected `helm version` output {out!r}")
    return HelmBinary(path=path, version=out)


def helm_binary() -> HelmBinary:
    return _binary(os.environ.get(ENV_VAR, DEFAULT))


def run_helm(
    *args: str, helm: HelmBinary | None = None, cwd: Path | None = None, env: dict[str, str] | None = None
) -> HelmResult:
    helm = helm or helm_binary()
    full_env = {**os.environ, **(env or {})}
    # Keep helm away from the user's repositories/plugins: the harness renders local charts only.
    proc = subprocess.run([str(helm.path), *args], capture_output=True, text=True, cwd=cwd or CHART_DIR, env=full_env)
    return HelmResult(args=tuple(args), returncode=proc.returncode, stdout=proc.stdout, stderr=proc.stderr)


def helm_lint(
    values: list[dict] | None = None,
    values_files: list[Path] | tuple[Path, ...] = (),
    strict: bool = True,
    kube_version: str | None = None,
    helm: HelmBinary | None = None,
) -> HelmResult:
    """`helm lint [--strict] .` with the given values (dicts are written to temp files)."""
    from tests.harness.render import _values_args  # shared with render_chart

    with _values_args(values or [], values_files) as vargs:
        args = ["lint", str(CHART_DIR), *vargs]
        if strict:
            args.append("--strict")
        if kube_version:
            args += ["--kube-version", kube_version]
        return run_helm(*args, helm=helm)


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()

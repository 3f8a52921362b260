"""Which Helm, and how to run it.

The Helm is chosen in ONE way for scripts and tests: an explicit choice (a script's --helm, pytest's
--helm), else the env var QMTL_HELM, each being "helm3" or "helm4" (the binaries scripts/setup.sh builds in
.tools/bin) or a path / command name; without a choice, .tools/bin/helm3, else `helm` on PATH.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import re
import shutil
import subprocess
from pathlib import Path

from qmtl_stack.paths import CHART_DIR, TOOLS_BIN

ENV_VAR = "QMTL_HELM"


class HelmNotFound(RuntimeError):
    pass


@dataclasses.dataclass(frozen=True)
class Helm:
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


def find_helm(choice: str | None = None) -> Helm:
    """The Helm for `choice` (helm3, helm4, a path or command), else $QMTL_HELM, else the default."""
    return _find(choice or os.environ.get(ENV_VAR) or "")


@functools.cache
def _find(choice: str) -> Helm:
    if choice in ("helm3", "helm4"):
        candidates = [str(TOOLS_BIN / choice)]
    elif choice:
        candidates = [choice]
    else:
        candidates = [str(TOOLS_BIN / "helm3"), "helm"]
    for candidate in candidates:
        found = candidate if os.sep in candidate else shutil.which(candidate)
        if not found or not Path(found).exists():
            continue
        path = Path(found).resolve()
        proc = subprocess.run([str(path), "version", "--template", "{{.Version}}"], capture_output=True, text=True)
        version = proc.stdout.strip()
        if proc.returncode == 0 and re.fullmatch(r"v\d+\.\d+\.\d+.*", version):
            return Helm(path=path, version=version)
    where = f"{ENV_VAR}={choice}" if choice else "no choice given"
    raise HelmNotFound(
        f"no usable helm ({where}; tried {', '.join(candidates)}): pass --helm PATH or set {ENV_VAR} to helm3, "
        "helm4 or a path (scripts/setup.sh builds .tools/bin/helm3 and helm4)"
    )


def run_helm(
    *args: str, helm: Helm | None = None, cwd: Path | None = None, env: dict[str, str] | None = None
) -> HelmResult:
    helm = helm or find_helm()
    proc = subprocess.run(
        [str(helm.path), *args], capture_output=True, text=True, cwd=cwd or CHART_DIR, env={**os.environ, **(env or {})}
    )
    return HelmResult(args=tuple(args), returncode=proc.returncode, stdout=proc.stdout, stderr=proc.stderr)

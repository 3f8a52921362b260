"""Render the chart with the real Helm and read back what it computed.

The chart is rendered from a private copy that holds one extra template: a ConfigMap with the wiring the
chart's own library computes from the values (qmtl.endpoints: where each dependency is, which Secret and
key hold each service's credential; qmtl.config: the unified QMTL config; qmtl.config.sections). The
online probes and the per-service checks use that, so no fact of the chart is restated here. The shipped
chart is not changed. Rendering skips Helm's schema validation (the schema is checked separately, in
Python, so that the aggregated check and the render are reported even when the schema fails).
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

import yaml

from qmtl_validate.values import YAML_LOADER, LoadError

MODEL_TEMPLATE_NAME = "zz-qmtl-validate-model.yaml"
MODEL_CONFIGMAP = "qmtl-validate-model"
MODEL_TEMPLATE = f"""{{{{- /* added by scripts/validate to a private copy of the chart; never shipped */ -}}}}
apiVersion: v1
kind: ConfigMap
metadata:
  name: {MODEL_CONFIGMAP}
data:
  endpoints: {{{{ include "qmtl.endpoints" .Values.global | fromYaml | toJson | quote }}}}
  config: {{{{ include "qmtl.config" .Values.global | fromYaml | toJson | quote }}}}
  sections: {{{{ include "qmtl.config.sections" . | fromYaml | toJson | quote }}}}
"""

_IGNORE = shutil.ignore_patterns(".git", ".tools", ".venv", ".cache", "tests", "scripts", "schemas", "values",
                                 "__pycache__", ".pytest_cache", ".ci", "*.tgz")
_PROBLEMS = re.compile(r"qmtl values check failed: (?P<n>\d+) problem\(s\)[^\n]*\n(?P<body>(?:- [^\n]*\n?)+)")
_KEY_PATH = re.compile(r"(?<![\w.-])([A-Za-z][\w-]*(?:\.[\w-]+)+)")


class HelmNotFound(LoadError):
    pass


@dataclasses.dataclass(frozen=True)
class Helm:
    path: Path
    version: str


def find_helm(explicit: str | None, root: Path) -> Helm:
    """--helm, else $QMTL_HELM (helm3 / helm4 / a path), else .tools/bin/helm3, else `helm` on PATH."""
    choice = explicit or os.environ.get("QMTL_HELM") or ""
    candidates: list[str] = []
    if choice in ("helm3", "helm4"):
        candidates.append(str(root / ".tools" / "bin" / choice))
    elif choice:
        candidates.append(choice)
    else:
        candidates += [str(root / ".tools" / "bin" / "helm3"), "helm"]
    for candidate in candidates:
        path = Path(candidate) if os.sep in candidate else Path(shutil.which(candidate) or candidate)
        if path.exists():
            proc = subprocess.run([str(path), "version", "--template", "{{.Version}}"],
                                  capture_output=True, text=True)
            if proc.returncode == 0:
                return Helm(path=path, version=proc.stdout.strip())
    raise HelmNotFound(f"no usable helm ({', '.join(candidates)}): pass --helm PATH or set QMTL_HELM "
                       "(scripts/setup.sh builds .tools/bin/helm3 and helm4)")


@dataclasses.dataclass
class Rendered:
    ok: bool
    stderr: str = ""
    objects: list[dict] = dataclasses.field(default_factory=list)
    model: dict = dataclasses.field(default_factory=dict)
    problems: list[str] | None = None  # the aggregated check's list, when that is what failed

    def find(self, kind: str, name: str) -> dict | None:
        for obj in self.objects:
            if obj.get("kind") == kind and (obj.get("metadata") or {}).get("name") == name:
                return obj
        return None


def parse_problems(stderr: str) -> list[str] | None:
    """The aggregated check's problems from Helm's error output, or None if it did not fail."""
    match = _PROBLEMS.search(stderr)
    if not match:
        return None
    return [line[2:].strip() for line in match.group("body").splitlines() if line.startswith("- ")]


def problem_key_path(problem: str) -> str:
    """The values key path a problem is about: the first dotted key path in it."""
    match = _KEY_PATH.search(problem)
    return match.group(1).rstrip(".:") if match else ""


def _copy_chart(chart_dir: Path, target: Path) -> Path:
    copy = target / "qmtl"
    shutil.copytree(chart_dir, copy, ignore=_IGNORE, symlinks=True)
    (copy / "templates" / MODEL_TEMPLATE_NAME).write_text(MODEL_TEMPLATE)
    return copy


def render(chart_dir: Path, helm: Helm, files: Sequence[Path], extra: Sequence[dict] = (),
           release: str = "qmtl", namespace: str = "qmtl", kube_version: str | None = None) -> Rendered:
    import json

    with tempfile.TemporaryDirectory(prefix="qmtl-validate-") as tmp:
        copy = _copy_chart(chart_dir, Path(tmp))
        args = [str(helm.path), "template", release, str(copy), "--namespace", namespace,
                "--skip-schema-validation"]
        if kube_version:
            args += ["--kube-version", kube_version]
        for path in files:
            args += ["-f", str(Path(path).resolve())]
        for index, layer in enumerate(extra):
            layer_file = Path(tmp) / f"extra-{index}.yaml"
            layer_file.write_text(yaml.safe_dump(layer))
            args += ["-f", str(layer_file)]
        proc = subprocess.run(args, capture_output=True, text=True)
    stderr = proc.stderr.replace(str(copy), "<chart>")
    if proc.returncode != 0:
        return Rendered(ok=False, stderr=stderr, problems=parse_problems(stderr))
    objects = [doc for doc in yaml.load_all(proc.stdout, Loader=YAML_LOADER) if isinstance(doc, dict)]
    model_cm = next((o for o in objects if o.get("kind") == "ConfigMap"
                     and (o.get("metadata") or {}).get("name") == MODEL_CONFIGMAP), None)
    model = {key: json.loads(value) for key, value in ((model_cm or {}).get("data") or {}).items()}
    objects = [o for o in objects if o is not model_cm]
    return Rendered(ok=True, stderr=stderr, objects=objects, model=model)

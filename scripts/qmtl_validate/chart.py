"""Render the chart with the real Helm and read back what it computed.

The chart is rendered from a private copy that holds one extra template: a ConfigMap with the wiring the
chart's own library computes from the values (qmtl.endpoints: where each dependency is, which Secret and
key hold each service's credential; qmtl.config: the unified QMTL config; qmtl.config.sections). The
online probes and the per-service checks use that, so no fact of the chart is restated here. The shipped
chart is not changed. Rendering skips Helm's schema validation (the schema is checked separately, in
Python, so that the aggregated check is reported even when the schema fails). For values the schema
refuses, the copy holds the aggregated check alone (check_only): Helm would render nothing of them, and
the check's problems are what is still worth reporting.
"""

from __future__ import annotations

import atexit
import dataclasses
import functools
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

import yaml

from qmtl_validate.values import YAML_LOADER, LoadError

CHECK_DIR = Path("templates/validate")  # the aggregated values check (templates/validate/renders/first/check.yaml)
MODEL_TEMPLATE_NAME = "zz-qmtl-validate-model.yaml"
MODEL_CONFIGMAP = "qmtl-validate-model"
MODEL_TEMPLATE = f"""{{{{- /* added by scripts/validate to a private copy of the chart; never shipped */ -}}}}
{{{{- $ep := dict }}}}{{{{- include "qmtl.endpoints.into" (dict "global" .Values.global "into" $ep) }}}}
{{{{- $config := dict }}}}{{{{- include "qmtl.config.into" (dict "global" .Values.global "into" $config) }}}}
apiVersion: v1
kind: ConfigMap
metadata:
  name: {MODEL_CONFIGMAP}
data:
  endpoints: {{{{ $ep | toJson | quote }}}}
  config: {{{{ $config | toJson | quote }}}}
  sections: {{{{ include "qmtl.config.sections" . | fromYaml | toJson | quote }}}}
  network: {{{{ include "qmtl.network.openRanges" . | fromYaml | toJson | quote }}}}
"""

_IGNORE = shutil.ignore_patterns(
    ".git",
    ".tools",
    ".venv",
    ".cache",
    "tests",
    "scripts",
    "schemas",
    "values",
    "__pycache__",
    ".pytest_cache",
    ".ci",
    "*.tgz",
)
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
    return _find_helm(explicit or os.environ.get("QMTL_HELM") or "", root)


@functools.cache
def _find_helm(choice: str, root: Path) -> Helm:
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
            proc = subprocess.run([str(path), "version", "--template", "{{.Version}}"], capture_output=True, text=True)
            if proc.returncode == 0:
                return Helm(path=path, version=proc.stdout.strip())
    raise HelmNotFound(
        f"no usable helm ({', '.join(candidates)}): pass --helm PATH or set QMTL_HELM "
        "(scripts/setup.sh builds .tools/bin/helm3 and helm4)"
    )


@dataclasses.dataclass
class Rendered:
    ok: bool
    stderr: str = ""
    objects: list[dict] = dataclasses.field(default_factory=list)
    model: dict = dataclasses.field(default_factory=dict)
    problems: list[str] | None = None  # the aggregated check's list, when that is what failed
    check_only: bool = False  # only the aggregated check was rendered

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


def _chart_signature(chart_dir: Path) -> tuple:
    """What Helm loads from the chart, as (path, mtime, size): a changed file changes it."""
    entries = []
    for name in ("Chart.yaml", "Chart.lock", "values.yaml", "values.schema.json", ".helmignore"):
        path = chart_dir / name
        if path.exists():
            entries.append(path)
    for sub in ("templates", "charts", "files"):
        entries += sorted(p for p in (chart_dir / sub).rglob("*") if p.is_file())
    return tuple((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in entries)


_PREPARED: dict[tuple, Path] = {}


def _prepared_chart(chart_dir: Path, check_only: bool) -> Path:
    """The private copy to render, made once per process for an unchanged chart (validate runs many times in
    one process in the tests); removed at exit."""
    key = (str(chart_dir), check_only, _chart_signature(chart_dir))
    if key not in _PREPARED or not _PREPARED[key].exists():
        target = Path(tempfile.mkdtemp(prefix="qmtl-validate-chart-"))
        atexit.register(shutil.rmtree, target, True)
        _PREPARED[key] = _copy_chart(chart_dir, target, check_only)
    return _PREPARED[key]


def _copy_chart(chart_dir: Path, target: Path, check_only: bool = False) -> Path:
    copy = target / "qmtl"
    shutil.copytree(chart_dir, copy, ignore=_IGNORE, symlinks=True)
    if check_only:
        # Only the aggregated check renders: every template file goes except the named-template files
        # (_*.tpl, which render nothing) and the check itself. Helm coalesces the values exactly as for the
        # whole chart (Chart.yaml and every values.yaml stay).
        for templates in [copy / "templates", *(copy / "charts").glob("*/templates")]:
            for path in templates.rglob("*"):
                keep = path.name.startswith("_") or CHECK_DIR in path.relative_to(copy).parents
                if path.is_file() and not keep:
                    path.unlink()
    else:
        (copy / "templates" / MODEL_TEMPLATE_NAME).write_text(MODEL_TEMPLATE)
    return copy


def render(
    chart_dir: Path,
    helm: Helm,
    files: Sequence[Path],
    extra: Sequence[dict] = (),
    release: str = "qmtl",
    namespace: str = "qmtl",
    kube_version: str | None = None,
    check_only: bool = False,
    schema: bool = False,
) -> Rendered:
    """`helm template` of a private copy of the chart (schema validation skipped: validate checks the schema
    itself). check_only: render the aggregated values check alone (for values the schema refuses: Helm would
    not render them, but the check's problems are still worth reporting, and a whole render is not).
    schema: let Helm apply the schema too (scripts/credentials)."""
    import json

    copy = _prepared_chart(chart_dir, check_only)
    with tempfile.TemporaryDirectory(prefix="qmtl-validate-") as tmp:
        args = [str(helm.path), "template", release, str(copy), "--namespace", namespace]
        if not schema:  # validate checks the schema itself (python-jsonschema)
            args.append("--skip-schema-validation")
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
        return Rendered(ok=False, stderr=stderr, problems=parse_problems(stderr), check_only=check_only)
    objects = [doc for doc in yaml.load_all(proc.stdout, Loader=YAML_LOADER) if isinstance(doc, dict)]
    model_cm = next(
        (
            o
            for o in objects
            if o.get("kind") == "ConfigMap" and (o.get("metadata") or {}).get("name") == MODEL_CONFIGMAP
        ),
        None,
    )
    model = {key: json.loads(value) for key, value in ((model_cm or {}).get("data") or {}).items()}
    objects = [o for o in objects if o is not model_cm]
    return Rendered(ok=True, stderr=stderr, objects=objects, model=model, check_only=check_only)

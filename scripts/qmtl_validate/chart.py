"""Render the chart with the real Helm (qmtl_stack) and read back what it computed.

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

import dataclasses
import json
import re
from collections.abc import Sequence
from pathlib import Path

from qmtl_stack.helm import Helm
from qmtl_stack.render import RenderError, private_chart, render_chart

CHECK_TEMPLATE = "validate/renders/first/check.yaml"  # the aggregated values check, below templates/
MODEL_TEMPLATE_NAME = "zz-qmtl-validate-model.yaml"
MODEL_CONFIGMAP = "qmtl-validate-model"
MODEL_TEMPLATE = f"""{{{{- /* added by scripts/validate to a private copy of the chart; never shipped */ -}}}}
{{{{- $ep := dict }}}}{{{{- include "qmtl.endpoints.into" (dict "ctx" . "into" $ep) }}}}
{{{{- $config := dict }}}}{{{{- include "qmtl.config.into" (dict "ctx" . "into" $config) }}}}
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

_PROBLEMS = re.compile(r"qmtl values check failed: (?P<n>\d+) problem\(s\)[^\n]*\n(?P<body>(?:- [^\n]*\n?)+)")
_KEY_PATH = re.compile(r"(?<![\w.-])([A-Za-z][\w-]*(?:\.[\w-]+)+)")


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


def _copy(chart_dir: Path, check_only: bool) -> Path:
    if check_only:
        # Only the aggregated check renders: the named-template files (_*.tpl, which render nothing) and the
        # check itself. Helm coalesces the values exactly as for the whole chart (Chart.yaml and every
        # values.yaml stay).
        check = (chart_dir / "templates" / CHECK_TEMPLATE).read_text()
        return private_chart(chart_dir, add={CHECK_TEMPLATE: check}, keep="helpers")
    return private_chart(chart_dir, add={MODEL_TEMPLATE_NAME: MODEL_TEMPLATE})


def render(
    chart_dir: Path,
    helm: Helm,
    files: Sequence[Path],
    extra: Sequence[dict] = (),
    release: str = "qmtl",
    namespace: str = "qmtl",
    check_only: bool = False,
) -> Rendered:
    """`helm template` of a private copy of the chart, schema validation skipped (validate checks the schema
    itself). check_only: render the aggregated values check alone (for values the schema refuses: Helm would
    not render them, but the check's problems are still worth reporting, and a whole render is not)."""
    copy = _copy(chart_dir, check_only)
    try:
        rendered = render_chart(
            list(extra),
            [Path(f).resolve() for f in files],
            release=release,
            namespace=namespace,
            extra_args=("--skip-schema-validation",),
            helm=helm,
            chart_dir=copy,
        )
    except RenderError as error:
        stderr = error.stderr.replace(str(copy), "<chart>")
        return Rendered(ok=False, stderr=stderr, problems=parse_problems(stderr), check_only=check_only)
    model_cm = rendered.find("ConfigMap", MODEL_CONFIGMAP)
    model = {key: json.loads(value) for key, value in ((model_cm or {}).get("data") or {}).items()}
    objects = rendered.without("ConfigMap", MODEL_CONFIGMAP).objects
    return Rendered(ok=True, objects=objects, model=model, check_only=check_only)

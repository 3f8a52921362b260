"""The render harness: the shared layer over Helm (qmtl_stack, also used by the scripts) with the tests'
defaults, plus what only tests need.

  render_chart(...)          -> Rendered (objects + raw text), cached per (chart tree, values, helm, args);
                                Kubernetes version: the newest supported (pyproject.toml) unless given
  render_error(...)          -> the RenderError of values that must be refused
  helm_lint(...)             -> HelmResult
  helm_binary()              -> the Helm under test (env QMTL_HELM: helm3, helm4 or a path; pytest --helm)
  validate_k8s(obj, version) -> strict offline Kubernetes schema validation
  value_sets()               -> every shipped values set (values/ files and their declared bases)
  objects                    -> reading rendered objects, and the values Helm computed (tests/harness/objects.py)
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from qmtl_stack import render as _render
from qmtl_stack.helm import Helm, HelmResult, find_helm, run_helm
from qmtl_stack.render import CACHE_ENV, Layers, Rendered, RenderError, cache_dir, clear_memo
from qmtl_stack.valuesets import ValueSet, value_sets

from tests.harness import objects
from tests.harness.k8s_schema import K8sSchemaError, supported_kube_versions, validate_k8s
from tests.harness.paths import CHART_DIR

HelmBinary = Helm

__all__ = [
    "CACHE_ENV",
    "HelmBinary",
    "HelmResult",
    "K8sSchemaError",
    "RenderError",
    "Rendered",
    "ValueSet",
    "cache_dir",
    "clear_memo",
    "helm_binary",
    "helm_lint",
    "objects",
    "render_chart",
    "render_error",
    "run_helm",
    "supported_kube_versions",
    "validate_k8s",
    "value_sets",
]


def helm_binary() -> Helm:
    return find_helm()


def default_kube_version() -> str:
    return supported_kube_versions()[1]


def render_chart(
    values: Layers = None,
    values_files: Sequence[Path | str] = (),
    show_only: str | Sequence[str] | None = None,
    namespace: str = "qmtl",
    release: str = "qmtl",
    kube_version: str | None = None,
    extra_args: Sequence[str] = (),
    helm: Helm | None = None,
    chart_dir: Path = CHART_DIR,
) -> Rendered:
    """Render the chart with real `helm template`; raise RenderError (helm's stderr) on failure."""
    return _render.render_chart(
        values,
        values_files,
        show_only=show_only,
        namespace=namespace,
        release=release,
        kube_version=kube_version or default_kube_version(),
        extra_args=extra_args,
        helm=helm,
        chart_dir=chart_dir,
    )


def render_error(values: Layers = None, values_files: Sequence[Path | str] = (), **kwargs) -> RenderError:
    """qmtl_stack's render_error with the tests' default Kubernetes version (as render_chart)."""
    kwargs["kube_version"] = kwargs.get("kube_version") or default_kube_version()
    return _render.render_error(values, values_files, **kwargs)


def helm_lint(
    values: Layers = None,
    values_files: Sequence[Path | str] = (),
    strict: bool = True,
    kube_version: str | None = None,
    helm: Helm | None = None,
) -> HelmResult:
    """`helm lint [--strict] .` with the given values."""
    return _render.helm_lint(values, values_files, strict=strict, kube_version=kube_version, helm=helm)

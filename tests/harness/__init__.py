"""The render harness: run the real helm, parse what it renders, validate it offline.

Public entry points:
  render_chart(...)          -> Rendered (objects + raw text), cached per (chart tree, values, helm, args)
  helm_lint(...)             -> HelmResult
  helm_binary()              -> the Helm under test (env QMTL_HELM: helm3, helm4 or a path)
  validate_k8s(obj, version) -> strict offline Kubernetes schema validation
  value_sets()               -> every shipped values set (values/ files and their declared bases)
  objects                    -> reading rendered objects and their values (tests/harness/objects.py)
"""

from tests.harness import objects
from tests.harness.helm import HelmBinary, HelmResult, helm_binary, helm_lint, run_helm
from tests.harness.k8s_schema import K8sSchemaError, supported_kube_versions, validate_k8s
from tests.harness.render import Rendered, RenderError, render_chart, render_error
from tests.harness.valuesets import ValueSet, value_sets

__all__ = [
    "HelmBinary",
    "HelmResult",
    "K8sSchemaError",
    "RenderError",
    "Rendered",
    "ValueSet",
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

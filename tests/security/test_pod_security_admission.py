"""Every pod the chart renders, in every values set, admitted at Pod Security level "restricted" by the
Kubernetes project's own PodSecurity checks (k8s.io/pod-security-admission, built into .tools/bin/pss-check
by scripts/scanners/install.sh), at the policy versions of the oldest and newest supported Kubernetes."""

from __future__ import annotations

import pytest

from tests.harness import supported_kube_versions
from tests.security.cases import rendered_sets
from tests.security.scanners import run_pss_check
from tests.security.workloads import workloads


def _renders() -> dict[str, str]:
    return {vs.name: vs.render().text for vs in rendered_sets()}


@pytest.mark.parametrize("kube_version", supported_kube_versions())
def test_every_pod_is_admitted_as_restricted(kube_version: str) -> None:
    policy_version = "v" + ".".join(kube_version.split(".")[:2])
    verdicts = run_pss_check(_renders(), policy_version)["verdicts"]
    expected = {(vs.name, w.kind, w.name) for vs in rendered_sets() for w in workloads(vs.render())}
    checked = {(v["values_set"], v["kind"], v["name"]) for v in verdicts}
    assert checked == expected, f"pss-check saw other pods than the render holds: {checked ^ expected}"
    refused = [
        f"[{v['values_set']}] {v['kind']}/{v['name']}: {'; '.join(v['reasons'])}" for v in verdicts if not v["allowed"]
    ]
    assert not refused, f"PodSecurity restricted:{policy_version} refuses:\n" + "\n".join(refused)


def test_the_checker_refuses_what_restricted_forbids() -> None:
    pod = """apiVersion: v1
kind: Pod
metadata: {name: rooty}
spec:
  hostNetwork: true
  containers:
    - name: c
      image: example:1
      securityContext: {privileged: true, capabilities: {add: [NET_ADMIN]}}
"""
    (verdict,) = run_pss_check({"hand-made": pod}, "latest")["verdicts"]
    assert verdict["allowed"] is False
    reasons = " ".join(verdict["reasons"])
    for expected in ("host namespaces", "privileged", "allowPrivilegeEscalation", "runAsNonRoot", "seccompProfile"):
        assert expected in reasons, f"pss-check did not flag {expected}: {reasons}"

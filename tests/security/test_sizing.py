"""Sizing: the dev profile fits a laptop node, and the totals helper the benchmark script prints is right."""

from __future__ import annotations

import pytest
from qmtl_stack.render import RenderedObject

from tests.harness import Rendered
from tests.security.cases import rendered_sets
from tests.security.workloads import Workload, pod_requests, quantity, sizing_totals

GIB = 2**30
# A 4-CPU / 8 GiB laptop node, less what a local cluster's own pods request there (kind/minikube:
# apiserver 250m, controller-manager 200m, scheduler 100m, etcd 100m + 100Mi, CoreDNS 2 x (100m, 70Mi),
# CNI 100m + 50Mi: about 1 CPU and well under 1 GiB) and the kubelet's eviction reserve.
LAPTOP_BUDGET = {"cpu": 4.0 - 1.0, "memory": 8 * GIB - 1 * GIB}

DEV_SETS = [pytest.param(vs, id=vs.name) for vs in rendered_sets() if vs.profile == "dev"]


@pytest.mark.parametrize("values_set", DEV_SETS)
def test_dev_profile_fits_a_laptop_node(values_set) -> None:
    totals = sizing_totals(values_set.render())
    peak = totals["peak"]
    detail = ", ".join(
        f"{ref} {v['replicas']}x({v['cpu'] * 1000:.0f}m, {v['memory'] / 2**20:.0f}Mi)"
        for ref, v in sorted(totals["workloads"].items())
    )
    assert peak["cpu"] <= LAPTOP_BUDGET["cpu"], f"dev requests {peak['cpu']:.2f} CPU > {LAPTOP_BUDGET['cpu']}: {detail}"
    assert peak["memory"] <= LAPTOP_BUDGET["memory"], (
        f"dev requests {peak['memory'] / GIB:.2f} GiB > {LAPTOP_BUDGET['memory'] / GIB} GiB: {detail}"
    )


def test_quantities() -> None:
    assert quantity("250m") == pytest.approx(0.25)
    assert quantity("2") == 2
    assert quantity("1.5") == 1.5
    assert quantity("512Mi") == 512 * 2**20
    assert quantity("1G") == 10**9
    assert quantity("1e3") == 1000
    with pytest.raises(ValueError, match="quantity"):
        quantity("12 apples")


def _workload(kind: str, spec: dict, replicas: int | None = None, annotations: dict | None = None) -> Workload:
    obj = {
        "kind": kind,
        "metadata": {"name": "w", "annotations": annotations or {}},
        "spec": {"template": {"spec": spec}, **({"replicas": replicas} if replicas is not None else {})},
    }
    return Workload(kind, "w", obj, obj["spec"]["template"])


def _c(name: str, cpu: str, memory: str, **extra) -> dict:
    return {"name": name, "resources": {"requests": {"cpu": cpu, "memory": memory}}, **extra}


def test_limits_are_totalled_by_the_same_rule() -> None:
    spec = {
        "containers": [
            {
                "name": "a",
                "resources": {"requests": {"cpu": "100m", "memory": "1Mi"}, "limits": {"cpu": "1", "memory": "2Mi"}},
            }
        ]
    }
    assert pod_requests(_workload("Deployment", spec), "limits") == (1.0, 2 * 2**20)


def test_pod_request_follows_the_scheduler_rule() -> None:
    # max(sum of containers + sidecars, largest init + sidecars started before it)
    spec = {
        "initContainers": [
            _c("big-init", "2", "64Mi"),
            _c("proxy", "100m", "32Mi", restartPolicy="Always"),
            _c("late-init", "300m", "1Gi"),
        ],
        "containers": [_c("a", "200m", "128Mi"), _c("b", "300m", "128Mi")],
    }
    cpu, memory = pod_requests(_workload("Deployment", spec))
    assert cpu == pytest.approx(2.0)
    assert memory == (1024 + 32) * 2**20


def test_sizing_totals_counts_replicas_and_separates_transient_pods() -> None:
    objects = [
        {
            "kind": "Deployment",
            "metadata": {"name": "api"},
            "spec": {"replicas": 3, "template": {"spec": {"containers": [_c("api", "100m", "100Mi")]}}},
        },
        {
            "kind": "Job",
            "metadata": {"name": "setup"},
            "spec": {"template": {"spec": {"containers": [_c("setup", "50m", "10Mi")]}}},
        },
        {
            "kind": "Pod",
            "metadata": {"name": "test", "annotations": {"helm.sh/hook": "test"}},
            "spec": {"containers": [_c("t", "10m", "1Mi")]},
        },
    ]
    rendered = Rendered(text="", items=tuple(RenderedObject("hand-made", o) for o in objects), key="hand-made")
    totals = sizing_totals(rendered)
    assert sizing_totals(objects) == totals  # the list of objects works the same
    assert totals["long_running"]["cpu"] == pytest.approx(0.3)
    assert totals["long_running"]["pods"] == 3
    assert totals["transient"]["cpu"] == pytest.approx(0.06)
    assert totals["peak"]["memory"] == (300 + 10 + 1) * 2**20

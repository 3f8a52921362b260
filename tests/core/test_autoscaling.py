"""HorizontalPodAutoscalers (<component>.autoscaling) for the gateway, dagmanager, worldservice and the
coordinator, and their coherence with the Deployments and the PodDisruptionBudgets.

- An autoscaled Deployment renders no replica count, so that `helm upgrade` leaves the autoscaler's count
  alone (a rendered count would reset it on every upgrade).
- minReplicas defaults to the profile's replica count (values.yaml global.replicas, read here); prod needs
  at least 2, so that with the PodDisruptionBudget (one pod at a time) one replica keeps serving, and the
  budget never blocks every eviction (it allows one pod down whatever the count).
- A service that keeps state in its own pod (its local modes, QMTL_RUNTIME_FACTS.md) is not autoscaled.
"""

from __future__ import annotations

import pytest

from tests.core.common import DEV_COORDINATOR, PROD, effective
from tests.harness import render_chart, render_error, supported_kube_versions, validate_k8s
from tests.harness.objects import layered, quantity

AUTOSCALED = ("gateway", "dagmanager", "worldservice", "seamless-coordinator")
ALL_ON = {name: {"autoscaling": {"enabled": True}} for name in AUTOSCALED}


def autoscalers(values: dict) -> dict[str, dict]:
    return {o["metadata"]["name"]: o for o in render_chart(values).by_kind("HorizontalPodAutoscaler")}


@pytest.mark.parametrize("base", [PROD, DEV_COORDINATOR], ids=["prod", "dev"])
def test_each_autoscaled_deployment_has_an_autoscaler_and_no_replica_count(base: dict) -> None:
    values = layered(base, ALL_ON)
    rendered = render_chart(values)
    found = {o["metadata"]["name"]: o for o in rendered.by_kind("HorizontalPodAutoscaler")}
    assert set(found) == set(AUTOSCALED)
    profile = effective(values)["global"]["profile"]
    table = effective(values)["global"]["replicas"][profile]
    for name, hpa in found.items():
        for version in supported_kube_versions():
            validate_k8s(hpa, version)
        deployment = rendered.get("Deployment", name)
        assert "replicas" not in deployment["spec"], f"{name}: an autoscaled Deployment renders replicas"
        target = hpa["spec"]["scaleTargetRef"]
        assert (target["apiVersion"], target["kind"], target["name"]) == ("apps/v1", "Deployment", name)
        assert hpa["spec"]["minReplicas"] == table[name]
        assert hpa["spec"]["maxReplicas"] == effective(values)[name]["autoscaling"]["maxReplicas"]
        assert hpa["spec"]["metrics"] == [
            {
                "type": "Resource",
                "resource": {
                    "name": "cpu",
                    "target": {"type": "Utilization", "averageUtilization": 75},
                },
            }
        ]
        # utilization is relative to the requests: every container of the pod has them
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            assert quantity(container["resources"]["requests"]["cpu"]) > 0


def test_no_autoscaler_by_default_and_the_replica_count_stays(value_set) -> None:
    rendered = render_chart(values_files=value_set.files)
    assert rendered.by_kind("HorizontalPodAutoscaler") == []
    for name in AUTOSCALED:
        deployment = rendered.find("Deployment", name)
        if deployment is not None:
            assert deployment["spec"]["replicas"] >= 1


def test_bounds_and_targets_come_from_the_values() -> None:
    chosen = {"minReplicas": 3, "maxReplicas": 9, "targetCPUUtilizationPercentage": None}
    chosen["targetMemoryUtilizationPercentage"] = 85
    hpa = autoscalers(layered(PROD, {"worldservice": {"autoscaling": {"enabled": True, **chosen}}}))["worldservice"]
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (3, 9)
    assert [m["resource"]["name"] for m in hpa["spec"]["metrics"]] == ["memory"]
    assert hpa["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"] == 85
    both = layered(PROD, {"gateway": {"autoscaling": {"enabled": True, "targetMemoryUtilizationPercentage": 90}}})
    metrics = autoscalers(both)["gateway"]["spec"]["metrics"]
    assert {m["resource"]["name"]: m["resource"]["target"]["averageUtilization"] for m in metrics} == {
        "cpu": 75,
        "memory": 90,
    }
    # minReplicas null follows a component's own replica override
    own = layered(PROD, {"dagmanager": {"replicas": 3, "autoscaling": {"enabled": True}}})
    assert autoscalers(own)["dagmanager"]["spec"]["minReplicas"] == 3


def test_the_disruption_budget_stays_coherent_with_the_autoscaler() -> None:
    """prod: every autoscaled workload has a budget that lets exactly one pod go, and at least two pods."""
    rendered = render_chart(layered(PROD, ALL_ON))
    for hpa in rendered.by_kind("HorizontalPodAutoscaler"):
        name = hpa["metadata"]["name"]
        pdb = rendered.get("PodDisruptionBudget", name)
        assert pdb["spec"] == {
            "maxUnavailable": 1,
            "selector": rendered.get("Deployment", name)["spec"]["selector"],
        }
        assert hpa["spec"]["minReplicas"] >= 2


@pytest.mark.parametrize(
    ("values", "problem"),
    [
        (
            layered(PROD, {"gateway": {"autoscaling": {"enabled": True, "minReplicas": 1}}}),
            "gateway.autoscaling.minReplicas: the autoscaler's minReplicas is 1 (from "
            "gateway.autoscaling.minReplicas); prod needs at least 2",
        ),
        (
            layered(PROD, {"global": {"replicas": {"prod": {"worldservice": 1}}}}, ALL_ON),
            "worldservice.autoscaling.minReplicas: the autoscaler's minReplicas is 1 (from "
            "global.replicas.prod.worldservice)",
        ),
        (
            layered(PROD, {"seamless-coordinator": {"autoscaling": {"enabled": True, "maxReplicas": 1}}}),
            "seamless-coordinator.autoscaling.maxReplicas: 1 is below the autoscaler's minReplicas (2, from "
            "global.replicas.prod.seamless-coordinator)",
        ),
    ],
    ids=["prod-min-1", "prod-min-from-table", "max-below-min"],
)
def test_incoherent_bounds_are_refused_naming_the_key(values: dict, problem: str) -> None:
    assert problem in str(render_error(values))


def test_services_that_keep_state_in_their_pod_are_not_autoscaled() -> None:
    local = {"global": {dep: {"enabled": False} for dep in ("redis", "postgres", "neo4j", "controlbus")}}
    message = str(render_error(layered(local, ALL_ON)))
    for name, missing in (
        ("gateway", "Redis and PostgreSQL"),
        ("worldservice", "Redis and PostgreSQL"),
        ("dagmanager", "Neo4j"),
    ):
        assert f"{name}.autoscaling.enabled: without {missing}, {name} keeps its state in its own pod" in message
    # with its dependencies, each one may scale (the coordinator always keeps its state in Redis)
    assert set(autoscalers(layered(DEV_COORDINATOR, ALL_ON))) == set(AUTOSCALED)


def test_an_autoscaler_needs_a_target() -> None:
    none = {"enabled": True, "targetCPUUtilizationPercentage": None, "targetMemoryUtilizationPercentage": None}
    assert "/gateway/autoscaling" in str(render_error(layered(PROD, {"gateway": {"autoscaling": none}})))

"""Placement and pod metadata of EVERY pod (Deployments, StatefulSets, hook Jobs, helm test pods): the same
keys in `global` and in each component section (qmtl-lib _placement.tpl).

Which section a pod belongs to is read off the render (the template that rendered it: charts/<section>/...;
the umbrella's helm test pods have none and take global's). Expected values are the ones given here; the
chart's own labels, annotations and built-in spreads are read from a render without the knobs.
"""

from __future__ import annotations

import copy
import re

import pytest
from qmtl_stack.render import Rendered

from tests.core.common import PROD
from tests.harness import render_chart, supported_kube_versions, validate_k8s
from tests.harness.objects import layered, pod_template
from tests.security.graph import allowed_connections, build_network, declared_connections, describe, merged_values

ZONE = "topology.kubernetes.io/zone"
HOSTNAME = "kubernetes.io/hostname"
GLOBAL = {
    "nodeSelector": {"pool": "qmtl"},
    "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "qmtl", "effect": "NoSchedule"}],
    "affinity": {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {"matchExpressions": [{"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64"]}]}
                ]
            }
        }
    },
    "topologySpreadConstraints": [{"maxSkew": 2, "topologyKey": ZONE, "whenUnsatisfiable": "DoNotSchedule"}],
    "priorityClassName": "qmtl-standard",
    "podAnnotations": {"example.com/owner": "quant", "cluster-autoscaler.kubernetes.io/safe-to-evict": "true"},
    "podLabels": {"team": "quant", "cost-center": "q1"},
}
# postgres overrides every key; its provisioning Job follows it
POSTGRES = {
    "nodeSelector": {"disk": "ssd"},
    "tolerations": [{"key": "storage", "operator": "Exists"}],
    "affinity": {
        "podAntiAffinity": {
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {
                    "weight": 50,
                    "podAffinityTerm": {
                        "topologyKey": HOSTNAME,
                        "labelSelector": {"matchLabels": {"app.kubernetes.io/component": "neo4j"}},
                    },
                }
            ]
        }
    },
    "topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": HOSTNAME, "whenUnsatisfiable": "ScheduleAnyway"}],
    "priorityClassName": "qmtl-data",
    "podAnnotations": {"backup.example.com/enabled": "true"},
    "podLabels": {"team": "data", "tier": "db"},
}
# every workload of the stack: prod, the coordinator with its own Redis
BASE = layered(PROD, {"global": {"redis": {"dedicatedCoordinator": True}}})
PLACED = layered(BASE, {"global": copy.deepcopy(GLOBAL), "postgres": copy.deepcopy(POSTGRES)})
SINGLE_VALUED = ("nodeSelector", "tolerations", "priorityClassName")
_SECTION = re.compile(r"/charts/(?P<section>[^/]+)/templates/")


def pods(rendered: Rendered) -> dict[str, tuple[str | None, dict]]:
    """Kind/name -> (its section, or None for the umbrella's pods; its pod template)."""
    out = {}
    for item in rendered.items:
        template = pod_template(item.obj)
        if template is not None:
            match = _SECTION.search(item.source)
            out[f"{item.obj['kind']}/{item.obj['metadata']['name']}"] = (match and match["section"], template)
    return out


@pytest.fixture(scope="module")
def placed() -> dict[str, tuple[str | None, dict]]:
    return pods(render_chart(PLACED))


@pytest.fixture(scope="module")
def plain() -> dict[str, tuple[str | None, dict]]:
    return pods(render_chart(BASE))


def test_every_kind_of_pod_is_covered(placed) -> None:
    kinds = {ref.split("/")[0] for ref in placed}
    assert kinds == {"Deployment", "StatefulSet", "Job", "Pod"}
    assert {section for section, _ in placed.values()} >= {"gateway", "postgres", "controlbus", "redis", None}


def test_single_valued_keys_are_the_sections_own_else_globals(placed) -> None:
    for ref, (section, template) in placed.items():
        spec = template["spec"]
        source = POSTGRES if section == "postgres" else GLOBAL
        for key in SINGLE_VALUED:
            assert spec.get(key) == source[key], f"{ref}: {key}"


def test_affinity_is_the_values_kinds_over_the_built_in_ones(placed, plain) -> None:
    for ref, (section, template) in placed.items():
        built_in = plain[ref][1]["spec"].get("affinity") or {}
        given = POSTGRES["affinity"] if section == "postgres" else GLOBAL["affinity"]
        assert template["spec"]["affinity"] == {**built_in, **given}, ref
    # the ControlBus brokers keep their own anti-affinity next to the global node affinity
    brokers = placed["StatefulSet/redpanda"][1]["spec"]["affinity"]
    assert brokers["podAntiAffinity"] == plain["StatefulSet/redpanda"][1]["spec"]["affinity"]["podAntiAffinity"]
    assert brokers["nodeAffinity"] == GLOBAL["affinity"]["nodeAffinity"]


def test_spread_constraints_replace_the_built_in_ones_over_the_same_key(placed, plain) -> None:
    for ref, (section, template) in placed.items():
        own_labels = template["metadata"]["labels"]
        given = POSTGRES["topologySpreadConstraints"] if section == "postgres" else GLOBAL["topologySpreadConstraints"]
        built_in = plain[ref][1]["spec"].get("topologySpreadConstraints") or []
        keys = {c["topologyKey"] for c in given}
        expected_kept = [c for c in built_in if c["topologyKey"] not in keys]
        spread = template["spec"]["topologySpreadConstraints"]
        assert spread[: len(expected_kept)] == expected_kept, ref
        added = spread[len(expected_kept) :]
        assert [{k: v for k, v in c.items() if k != "labelSelector"} for c in added] == given, ref
        for constraint in added:
            # completed with the workload's own selector labels: it counts its own pods
            labels = constraint["labelSelector"]["matchLabels"]
            assert labels, ref
            assert labels.items() <= own_labels.items(), ref
            assert "app.kubernetes.io/component" in labels, ref
    # the prod spread of the gateway: its hostname spread stays, its zone spread is the values'
    gateway = placed["Deployment/gateway"][1]["spec"]["topologySpreadConstraints"]
    assert [(c["topologyKey"], c["whenUnsatisfiable"]) for c in gateway] == [
        (HOSTNAME, "ScheduleAnyway"),
        (ZONE, "DoNotSchedule"),
    ]


def test_labels_and_annotations_merge_and_the_charts_own_win(placed, plain) -> None:
    for ref, (section, template) in placed.items():
        chart_labels = plain[ref][1]["metadata"]["labels"]
        chart_annotations = plain[ref][1]["metadata"].get("annotations") or {}
        labels, annotations = template["metadata"]["labels"], template["metadata"].get("annotations") or {}
        own = POSTGRES if section == "postgres" else {}
        assert labels == {**GLOBAL["podLabels"], **own.get("podLabels", {}), **chart_labels}, ref
        assert annotations == {**GLOBAL["podAnnotations"], **own.get("podAnnotations", {}), **chart_annotations}, ref


def test_workloads_selectors_are_untouched(placed) -> None:
    rendered = render_chart(PLACED)
    plain = render_chart(BASE)
    for obj in rendered.objects:
        if obj["kind"] in ("Deployment", "StatefulSet"):
            name = obj["metadata"]["name"]
            assert obj["spec"]["selector"] == plain.get(obj["kind"], name)["spec"]["selector"]


def test_placed_pods_are_valid_kubernetes() -> None:
    rendered = render_chart(PLACED)
    for obj in rendered.objects:
        if pod_template(obj) is not None:
            for version in supported_kube_versions():
                validate_k8s(obj, version)


def test_pod_labels_do_not_change_who_reaches_whom() -> None:
    """With extra labels on every pod, the NetworkPolicies still allow exactly the declared graph."""
    rendered = render_chart(PLACED)
    values = merged_values(dicts=[PLACED])
    network = build_network(rendered, values)
    allowed, declared = allowed_connections(rendered, network, values), declared_connections(network, values)
    assert allowed == declared, f"extra:\n{describe(allowed - declared)}\nmissing:\n{describe(declared - allowed)}"


def test_nothing_is_set_by_default(value_set) -> None:
    for ref, (_, template) in pods(render_chart(values_files=value_set.files)).items():
        spec = template["spec"]
        for key in SINGLE_VALUED:
            assert key not in spec, f"{value_set.name}: {ref} has {key}"
        assert "team" not in template["metadata"]["labels"]

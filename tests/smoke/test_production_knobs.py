"""The production knobs on a real API server: the gateway's Ingress and Gateway API HTTPRoute, the
HorizontalPodAutoscalers, and placement (node selectors, tolerations, affinity, spread, priority, pod labels and
annotations) on every pod, all at once.

Every object of that render is created as a server-side dry run with strict field validation: the API server's
own schemas (and the HTTPRoute CRD's, as scripts/setup.sh copies it from the Gateway API's Go module) and its
admission (Pod Security "restricted", priority classes) accept each one, and an unknown field is refused. Nothing
needs a container to run: no controller acts on a dry run.

The HTTPRoute CRD and a PriorityClass are cluster-wide: a CRD that was there before is kept; what this module
created it deletes.
"""

from __future__ import annotations

import copy
import secrets

import pytest
import yaml
from kubernetes import client as k8s

from tests.core.test_exposure import BOTH
from tests.core.test_placement import GLOBAL, POSTGRES
from tests.harness import render_chart
from tests.harness.k8s_schema import CRD_DIR
from tests.harness.objects import layered, pod_template
from tests.smoke.test_stack import RELEASE, make_namespace

pytestmark = pytest.mark.smoke

CRD_FILE = CRD_DIR / "gateway.networking.k8s.io_httproutes.yaml"
AUTOSCALED = ("gateway", "dagmanager", "worldservice", "seamless-coordinator")


def _crd() -> dict:
    if not CRD_FILE.exists():
        pytest.fail(f"{CRD_FILE} is missing: scripts/setup.sh copies it from the Gateway API's Go module")
    return yaml.safe_load(CRD_FILE.read_text())


@pytest.fixture(scope="module")
def http_route_crd(smoke_cluster):
    crd = _crd()
    created = smoke_cluster.kube.ensure_crd(crd)
    yield crd
    if created:
        smoke_cluster.kube.delete_crd(crd["metadata"]["name"])


@pytest.fixture(scope="module")
def priority_class(smoke_cluster):
    """A PriorityClass for the pods (Pods naming one that does not exist are refused at admission)."""
    name = f"qmtl-smoke-{secrets.token_hex(3)}"
    api = k8s.SchedulingV1Api(smoke_cluster.kube.api)
    api.create_priority_class({"metadata": {"name": name}, "value": 1000})
    yield name
    api.delete_priority_class(name)


def test_the_api_server_accepts_every_knob_strictly(
    smoke_cluster, namespace_factory, http_route_crd, priority_class
) -> None:
    ns = make_namespace(smoke_cluster, namespace_factory, "knobs")
    placement = copy.deepcopy(GLOBAL) | {"priorityClassName": priority_class}
    values = layered(
        BOTH,
        {name: {"autoscaling": {"enabled": True, "targetMemoryUtilizationPercentage": 80}} for name in AUTOSCALED},
        {"global": placement, "postgres": copy.deepcopy(POSTGRES) | {"priorityClassName": priority_class}},
        {"global": {"imageRegistry": "registry.example.com/mirror", "imagePullSecrets": ["mirror-credentials"]}},
    )
    rendered = render_chart(values, namespace=ns.name, release=RELEASE)
    kinds = {o["kind"] for o in rendered.objects}
    assert {"Ingress", "HTTPRoute", "HorizontalPodAutoscaler", "Deployment", "StatefulSet", "Job", "Pod"} <= kinds
    kube = smoke_cluster.kube
    refusals = {f"{o['kind']}/{o['metadata']['name']}": kube.dry_run_create(o, ns.name) for o in rendered.objects}
    assert {ref: why for ref, why in refusals.items() if why} == {}
    pods = [o for o in rendered.objects if pod_template(o) is not None]
    assert all(pod_template(o)["spec"]["priorityClassName"] == priority_class for o in pods)


@pytest.mark.parametrize(
    ("kind", "path", "field"),
    [
        ("HTTPRoute", ("spec", "rules", 0, "backendRefs", 0), "serviceName"),
        ("Ingress", ("spec", "rules", 0, "http"), "prefix"),
        ("HorizontalPodAutoscaler", ("spec",), "targetCPUUtilizationPercentage"),
    ],
)
def test_an_unknown_field_is_refused_naming_it(
    smoke_cluster, namespace_factory, http_route_crd, kind: str, path: tuple, field: str
) -> None:
    """The strict validation really applies (for the HTTPRoute: the CRD's schema, not an open object)."""
    ns = make_namespace(smoke_cluster, namespace_factory, "strict")
    values = layered(BOTH, {"gateway": {"autoscaling": {"enabled": True}}})
    obj = copy.deepcopy(render_chart(values, namespace=ns.name, release=RELEASE).get(kind, "gateway"))
    assert smoke_cluster.kube.dry_run_create(obj, ns.name) is None
    node = obj
    for part in path:
        node = node[part]
    node[field] = "x"
    refusal = smoke_cluster.kube.dry_run_create(obj, ns.name)
    assert refusal is not None, f"the API server admitted a {kind} with an unknown field {field}"
    assert field in refusal, refusal

"""The optional ServiceMonitors (values/prometheus.yaml) on a real API server.

- Without the monitoring.coreos.com/v1 CRDs in the cluster, `helm install` with the overlay is refused
  before any object exists (Helm maps every kind before it creates anything).
- With the CRD (prometheus-operator's own, as scripts/setup.sh copies it from the project's Go module), the
  API server accepts the rendered ServiceMonitors under strict field validation (a server-side dry run),
  and refuses one with an unknown field: the CRD's schema really applies.

The CRD is cluster-wide. A cluster that already has it (e.g. kind with kube-prometheus-stack) keeps it:
the refused-install test then skips, and nothing here deletes a CRD it did not create.
"""

from __future__ import annotations

import copy
import dataclasses

import pytest
import yaml
from kubernetes import client as k8s

from tests.harness import HelmResult, render_chart
from tests.harness.k8s_schema import CRD_DIR
from tests.harness.paths import VALUES_DIR
from tests.smoke.kube import ObjectRef, helm
from tests.smoke.test_stack import RELEASE, extra_values, make_namespace, new_objects, values_args

pytestmark = pytest.mark.smoke

PROMETHEUS = (VALUES_DIR / "prod.yaml", VALUES_DIR / "prometheus.yaml")
CRD_FILE = CRD_DIR / "monitoring.coreos.com_servicemonitors.yaml"
GROUP, VERSION, PLURAL = "monitoring.coreos.com", "v1", "servicemonitors"


def _crd() -> dict:
    if not CRD_FILE.exists():
        pytest.fail(f"{CRD_FILE} is missing: scripts/setup.sh copies it from prometheus-operator's Go module")
    return yaml.safe_load(CRD_FILE.read_text())


@dataclasses.dataclass
class Refused:
    result: HelmResult
    objects: list[ObjectRef]
    release_records: list[str]


@pytest.fixture(scope="module")
def refused_without_crd(smoke_cluster, namespace_factory) -> Refused | None:
    """`helm install` of prod + values/prometheus.yaml on a cluster without the CRD (None: it has it)."""
    if smoke_cluster.kube.has_crd(_crd()["metadata"]["name"]):
        return None
    ns = make_namespace(smoke_cluster, namespace_factory, "no-crd")
    result = helm("install", RELEASE, ".", "-n", ns.name, *values_args(PROMETHEUS + extra_values()))
    kube = smoke_cluster.kube
    return Refused(result, new_objects(kube, ns), kube.release_records(ns.name))


@pytest.fixture(scope="module")
def service_monitor_crd(smoke_cluster, refused_without_crd):
    """The ServiceMonitor CRD, Established (installed after the refused install was observed; removed at the
    end when this module installed it)."""
    crd = _crd()
    created = smoke_cluster.kube.ensure_crd(crd)
    yield crd
    if created:
        smoke_cluster.kube.delete_crd(crd["metadata"]["name"])


def test_without_the_crd_the_install_is_refused_before_any_object_exists(refused_without_crd) -> None:
    if refused_without_crd is None:
        pytest.skip("the cluster already has the ServiceMonitor CRD (kept: this suite did not install it)")
    refused = refused_without_crd
    assert not refused.result.ok, "helm installed ServiceMonitors on a cluster without their CRD"
    assert "ServiceMonitor" in refused.result.stderr, refused.result.stderr
    assert refused.objects == [], f"a refused install left objects behind: {[str(o) for o in refused.objects]}"
    assert refused.release_records == [], f"a refused install left release records: {refused.release_records}"


def test_with_the_crd_the_api_server_accepts_the_service_monitors_strictly(
    smoke_cluster, namespace_factory, service_monitor_crd
) -> None:
    ns = make_namespace(smoke_cluster, namespace_factory, "monitors")
    rendered = render_chart(values_files=PROMETHEUS, namespace=ns.name, release=RELEASE)
    monitors = [o for o in rendered.objects if o["kind"] == "ServiceMonitor"]
    assert monitors, "values/prometheus.yaml renders no ServiceMonitor"
    custom = k8s.CustomObjectsApi(smoke_cluster.kube.api)

    def dry_run(body: dict) -> str | None:
        try:
            custom.create_namespaced_custom_object(
                GROUP, VERSION, ns.name, PLURAL, body, dry_run="All", field_validation="Strict"
            )
        except k8s.ApiException as error:
            return f"{error.status} {error.reason}: {error.body}"
        return None

    refusals = {m["metadata"]["name"]: dry_run(m) for m in monitors}
    assert refusals == {name: None for name in refusals}
    # the CRD's schema is enforced: an unknown field in an endpoint is refused, naming it
    wrong = copy.deepcopy(monitors[0])
    wrong["spec"]["endpoints"][0]["portName"] = wrong["spec"]["endpoints"][0]["port"]
    refusal = dry_run(wrong)
    assert refusal is not None, "the API server admitted a ServiceMonitor with an unknown field"
    assert "portName" in refusal, refusal

"""Config changes roll exactly the pods that read them; the same values render the same pods."""

from __future__ import annotations

import pytest

from tests.core.common import PROD, SERVICES, checksum, deployment, render
from tests.harness import render_chart
from tests.harness.objects import layered

WORKLOADS = (*SERVICES, "seamless-coordinator")

# one config value changed at a time -> the workloads whose pods must roll
CHANGES = {
    "worldservice-redis-db": ({"global": {"redis": {"databases": {"worldservice": 9}}}}, {"worldservice"}),
    "gateway-redis-db": ({"global": {"redis": {"databases": {"gateway": 7}}}}, {"gateway"}),
    "dagmanager-http-port": ({"global": {"ports": {"dagmanagerHttp": 18101}}}, {"dagmanager"}),
    "worldservice-port": (
        {"global": {"ports": {"worldservice": 18443}}},
        {"worldservice", "gateway"},
    ),  # the gateway's worldservice_url
    # no long-running pod reads the artifact bucket: no QMTL service reads `seamless`, and the coordinator
    # uses no S3 (the MinIO provisioning Job creates the bucket)
    "artifact-bucket": ({"global": {"seamless": {"artifact_bucket": "other-bucket"}}}, set()),
}


def _pod_templates(values: dict) -> dict[str, dict]:
    rendered = render(values)
    return {name: deployment(rendered, name)["spec"]["template"] for name in WORKLOADS}


@pytest.mark.parametrize("change", CHANGES)
def test_a_change_rolls_exactly_the_pods_that_read_it(change: str) -> None:
    overrides, readers = CHANGES[change]
    before, after = _pod_templates(PROD), _pod_templates(layered(PROD, overrides))
    rolled = {name for name in WORKLOADS if before[name] != after[name]}
    assert rolled == readers
    # for the QMTL services the roll is driven by the config checksum (their pod spec is otherwise equal)
    for name in set(SERVICES) & readers:
        assert before[name]["metadata"]["annotations"] != after[name]["metadata"]["annotations"], name


def test_checksums_differ_per_service_and_cover_their_scripts() -> None:
    rendered = render(PROD)
    sums = {name: checksum(rendered, name) for name in SERVICES}
    assert len(set(sums.values())) == len(SERVICES)


def test_rendering_twice_changes_nothing() -> None:
    first = render(PROD)
    # an empty extra values layer forces a second, independent helm run with the same values
    second = render_chart([PROD, {}])
    assert first.key != second.key
    for kind in ("Deployment", "Service", "ServiceAccount", "PodDisruptionBudget"):
        for name in WORKLOADS:
            assert first.get(kind, name) == second.get(kind, name), (kind, name)
    assert first.get("ConfigMap", "qmtl-config") == second.get("ConfigMap", "qmtl-config")

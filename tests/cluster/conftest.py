"""Fixtures of the real-node tests: the local cluster's real node, reached like a user reaches it.

The cluster is the one of KUBECONFIG, or else the local cluster's (.tools/cluster/kubeconfig); it must have
a Ready node labelled type=real (scripts/local-cluster.sh start, without --kwok-only). scripts/test.sh
starts one for the `node` phase. Without it every test SKIPs saying so, or FAILs when
QMTL_REQUIRE_ENGINES=1 (CI).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.cluster.node import IMAGES_JSON, REAL_NODE_LABEL, REQUIRE_ENV, NodeCluster, kubeconfig_of_local_cluster


def _unavailable(reason: str) -> None:
    how = "start one: scripts/local-cluster.sh start (scripts/test.sh does it for its node phase)"
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{reason}; {how} [{REQUIRE_ENV}=1: a missing node is a failure, not a skip]", pytrace=False)
    pytest.skip(f"{reason}; {how}")


@pytest.fixture(scope="session")
def real_node() -> Iterator[NodeCluster]:
    kubeconfig = os.environ.get("KUBECONFIG") or str(kubeconfig_of_local_cluster())
    if not os.path.isfile(kubeconfig):
        _unavailable(f"no cluster: {kubeconfig} does not exist")
    if not IMAGES_JSON.is_file():
        _unavailable(f"the test image is not built ({IMAGES_JSON} missing: scripts/cluster/build.sh images)")
    cluster = NodeCluster(kubeconfig)
    answer = cluster.kubectl(
        "get",
        "nodes",
        "-l",
        REAL_NODE_LABEL,
        "-o",
        'jsonpath={.items[*].status.conditions[?(@.type=="Ready")].status}',
        "--request-timeout=10s",
        check=False,
    )
    if answer.returncode != 0:
        _unavailable(f"the cluster of {kubeconfig} does not answer: {answer.stderr.strip()}")
    if "True" not in answer.stdout.split():
        _unavailable(f"the cluster of {kubeconfig} has no Ready node labelled {REAL_NODE_LABEL}")
    try:
        yield cluster
    finally:
        cluster.close()

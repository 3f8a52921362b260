"""scripts/up.sh with no cluster, and the stack across a restart of the local cluster:

- with no cluster answering, up.sh sets up and starts the local cluster itself, installs the dev stack on its
  real node, and the commands its closing lines print reach the gateway (GET /status);
- `scripts/local-cluster.sh restart` keeps the cluster's state (etcd, certificates, volumes): the release is
  still there and its pods run again on the node (the gateway answers again), and a PersistentVolume's data
  written before the restart is read back after it;
- `stop` leaves the state for the next `start`.

Starts and stops this checkout's local cluster, so it runs only when asked (the node-lifecycle phase of
scripts/test.sh sets QMTL_CLUSTER_LIFECYCLE=1), after test_lifecycle.py.
"""

from __future__ import annotations

import json
import os
import secrets
import time

import pytest

from tests.cluster.node import REQUIRE_ENV, NodeCluster, kubeconfig_of_local_cluster, local_cluster
from tests.cluster.test_volumes import claim, pod_with_volume
from tests.harness.paths import CACHE_ROOT
from tests.smoke.test_up import follow, reach_lines, run_up

pytestmark = [pytest.mark.smoke, pytest.mark.node_lifecycle]

OPT_IN = "QMTL_CLUSTER_LIFECYCLE"
NAMESPACE = "qmtl-up"


@pytest.fixture(scope="module", autouse=True)
def opted_in() -> None:
    if os.environ.get(OPT_IN) != "1":
        pytest.skip(f"starts and stops this checkout's local cluster: runs in scripts/test.sh's node-lifecycle phase, "
                    f"or by hand with {OPT_IN}=1")  # fmt: skip
    if os.geteuid() != 0:
        if os.environ.get(REQUIRE_ENV) == "1":
            pytest.fail("the local cluster needs root")
        pytest.skip("the local cluster needs root")


def timed(timings: dict, name: str, call):
    t0 = time.monotonic()
    result = call()
    timings[name] = round(time.monotonic() - t0, 1)
    return result


def test_up_starts_the_cluster_and_the_stack_survives_a_restart(tmp_path) -> None:
    timings: dict[str, float] = {}
    local_cluster("stop", timeout=300)
    assert local_cluster("status").returncode != 0, "the cluster still runs after stop"
    # no cluster answers: neither the current context (none) nor the local cluster (stopped)
    env = {**os.environ, "KUBECONFIG": str(tmp_path / "no-such-kubeconfig")}
    done = timed(timings, "up.sh without a cluster (dev)", lambda: run_up(NAMESPACE, env=env))
    assert done.returncode == 0, f"scripts/up.sh failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    assert "starting the local cluster" in done.stderr, done.stderr[-2000:]
    kubeconfig = str(kubeconfig_of_local_cluster())
    assert f"export KUBECONFIG={kubeconfig}" in done.stdout, done.stdout[-2000:]
    forward, curl = reach_lines(done.stdout)
    status, body = follow(forward, curl, kubeconfig)
    assert status == 200, body

    # a PersistentVolume's data, then the restart
    nc = NodeCluster(kubeconfig)
    volume_ns = nc.namespace("up-volume")
    nc.apply(volume_ns, claim("data"), pod_with_volume(nc, "writer", "data"))
    nc.wait_ready(volume_ns, "writer", timeout=120)
    text = f"kept-{secrets.token_hex(4)}"
    assert nc.probe(volume_ns, "writer", "write", "/data/check.txt", text).outcome == "ok"
    pods_before = set(nc.kubectl("get", "pods", "-n", NAMESPACE, "-o", "name").stdout.split())

    restarted = timed(timings, "restart with the stack", lambda: local_cluster("restart", timeout=600))
    assert restarted.returncode == 0, restarted.stderr[-3000:]
    assert "resuming the cluster kept in" in restarted.stderr, restarted.stderr[-2000:]
    t0 = time.monotonic()
    for deployment in ("gateway", "dagmanager", "worldservice"):
        nc.kubectl("rollout", "status", f"deployment/{deployment}", "-n", NAMESPACE, "--timeout=300s", timeout=330)
    timings["stack ready again after the restart"] = round(time.monotonic() - t0, 1)
    # the same pods (names, uids) restarted on the node: the release was kept, not installed anew
    assert set(nc.kubectl("get", "pods", "-n", NAMESPACE, "-o", "name").stdout.split()) == pods_before
    # the Deployments' status can still read "available" from before the restart while the kubelet brings the
    # containers back, so the printed commands are followed until the gateway answers again (bounded)
    deadline = time.monotonic() + 180
    while True:
        try:
            status, body = follow(forward, curl, kubeconfig)
        except (AssertionError, OSError):
            if time.monotonic() > deadline:
                raise
        else:
            if status == 200 or time.monotonic() > deadline:
                break
        time.sleep(5)
    timings["gateway answers again after the restart"] = round(time.monotonic() - t0, 1)
    assert status == 200, body
    nc.wait_ready(volume_ns, "writer", timeout=180)
    read = nc.probe(volume_ns, "writer", "read", "/data/check.txt")
    assert read.outcome == "ok", read
    assert read.output.splitlines()[0] == text, "the PersistentVolume's data did not survive the restart"
    nc.close()
    nc.kubectl("delete", "namespace", NAMESPACE, "--timeout=180s", timeout=200, check=False)

    stopped = local_cluster("stop", timeout=300)
    assert stopped.returncode == 0, stopped.stderr
    print("scripts/up.sh and restart timings (s):", timings)
    CACHE_ROOT.mkdir(parents=True, exist_ok=True)
    path = CACHE_ROOT / "cluster-timings.json"
    data = json.loads(path.read_text()) if path.exists() else {}
    path.write_text(json.dumps({**data, **timings}, indent=2) + "\n")

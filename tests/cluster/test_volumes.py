"""PersistentVolumeClaims on the real node: the default StorageClass (local-volumes) gives a non-root pod a
volume it can write (through its fsGroup), the data outlives the pod, and deleting the claim removes it.
"""

from __future__ import annotations

import secrets
import time
from pathlib import Path

import pytest

from tests.cluster.node import NodeCluster

pytestmark = [pytest.mark.smoke, pytest.mark.node]


def claim(name: str) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": name},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "16Mi"}}},
    }


def pod_with_volume(real_node: NodeCluster, name: str, claim_name: str) -> dict:
    pod = real_node.netcheck_pod(name, ["sleep"])
    pod["spec"]["securityContext"]["fsGroup"] = 10001
    pod["spec"]["containers"][0]["volumeMounts"] = [{"name": "data", "mountPath": "/data"}]
    pod["spec"]["volumes"] = [{"name": "data", "persistentVolumeClaim": {"claimName": claim_name}}]
    return pod


def test_a_claim_gives_a_writable_volume_that_outlives_its_pod(real_node: NodeCluster) -> None:
    ns = real_node.namespace("node-volume")
    real_node.apply(ns, claim("data"), pod_with_volume(real_node, "writer", "data"))
    real_node.wait_ready(ns, "writer")
    pvc = real_node.get("pvc", "-n", ns, "data")
    assert pvc["status"]["phase"] == "Bound", pvc["status"]
    pv = real_node.get("pv", pvc["spec"]["volumeName"])
    assert pv["spec"]["storageClassName"] == "standard"
    assert pv["spec"]["local"]["path"].endswith(pv["metadata"]["name"]), pv["spec"]
    node_terms = pv["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"]
    assert node_terms[0]["matchExpressions"][0]["values"] == ["qmtl-node"]

    text = f"kept-{secrets.token_hex(4)}"
    wrote = real_node.probe(ns, "writer", "write", "/data/check.txt", text)
    assert wrote.outcome == "ok", wrote

    real_node.kubectl("delete", "pod", "-n", ns, "writer", "--wait=true", "--timeout=60s")
    real_node.apply(ns, pod_with_volume(real_node, "reader", "data"))
    real_node.wait_ready(ns, "reader")
    read = real_node.probe(ns, "reader", "read", "/data/check.txt")
    assert read.outcome == "ok", read
    assert read.output.splitlines()[0] == text

    path = Path(pv["spec"]["local"]["path"])
    assert path.is_dir()
    real_node.kubectl("delete", "pod", "-n", ns, "reader", "--wait=true", "--timeout=60s")
    real_node.kubectl("delete", "pvc", "-n", ns, "data", "--wait=true", "--timeout=60s")
    deadline = time.monotonic() + 60
    while path.exists() or real_node.kubectl("get", "pv", pv["metadata"]["name"], check=False).returncode == 0:
        assert time.monotonic() < deadline, f"{path} or its PersistentVolume outlived the claim (reclaim Delete)"
        time.sleep(0.5)

"""Containers really run on the local cluster's real node: as the restricted Pod Security rules demand,
with their output in `kubectl logs`, reachable with `kubectl exec` and `kubectl port-forward` from the host.
"""

from __future__ import annotations

import json
import re
import secrets
import subprocess
import time
import urllib.request

import pytest

from tests.cluster.node import TEST_UID, NodeCluster
from tests.harness.paths import TOOLS_BIN

pytestmark = [pytest.mark.smoke, pytest.mark.node]


@pytest.fixture(scope="module")
def web(real_node: NodeCluster) -> tuple[str, str]:
    """(namespace, pod): one netcheck HTTP server behind Service `web` in a restricted namespace."""
    ns = real_node.namespace("node-pods")
    real_node.apply(
        ns, real_node.netcheck_pod("web", ["serve"], {"app": "web"}), real_node.service("web", {"app": "web"})
    )
    real_node.wait_ready(ns, "web")
    real_node.wait_endpoints(ns, "web", 1)
    return ns, "web"


def test_pod_runs_as_10001_read_only_without_capabilities(real_node: NodeCluster, web: tuple[str, str]) -> None:
    ns, pod = web
    obj = real_node.get("pod", "-n", ns, pod)
    assert obj["spec"]["nodeName"] == "qmtl-node", "the pod must run on the real node, not a kwok fake"
    state = obj["status"]["containerStatuses"][0]["state"]
    assert "running" in state, state
    assert obj["status"]["containerStatuses"][0]["containerID"].startswith("containerd://")

    probe = real_node.probe(ns, pod, "self")
    assert probe.outcome == "ok", probe
    me = json.loads(probe.output.splitlines()[0])
    # real, effective, saved and filesystem ids: all 10001
    assert me["Uid"].split() == [str(TEST_UID)] * 4, me
    assert me["Gid"].split() == [str(TEST_UID)] * 4, me
    for caps in ("CapEff", "CapPrm", "CapAmb", "CapBnd"):
        assert int(me[caps], 16) == 0, f"{caps}={me[caps]}: every capability must be dropped"
    assert me["NoNewPrivs"] == "1", "allowPrivilegeEscalation: false sets no_new_privs"
    assert me["Seccomp"] == "2", "RuntimeDefault is a seccomp filter (mode 2)"
    assert "read-only file system" in me["write"]["/"], me["write"]
    assert "writable" not in me["write"].values(), me["write"]


def test_restricted_namespace_refuses_a_root_pod(real_node: NodeCluster, web: tuple[str, str]) -> None:
    ns, _ = web
    pod = real_node.netcheck_pod("root", ["sleep"])
    pod["spec"]["securityContext"] = {"runAsUser": 0}
    del pod["spec"]["containers"][0]["securityContext"]
    result = real_node.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(pod), check=False)
    assert result.returncode != 0
    assert 'violates PodSecurity "restricted:latest"' in result.stderr, result.stderr


def test_log_reaches_kubectl_logs(real_node: NodeCluster, web: tuple[str, str]) -> None:
    ns, pod = web
    marker = f"/log-check-{secrets.token_hex(4)}"
    probe = real_node.probe(ns, pod, "get", f"http://127.0.0.1:8080{marker}")
    assert probe.outcome == "ok", probe
    deadline = time.monotonic() + 30
    while True:
        logs = real_node.kubectl("logs", "-n", ns, pod).stdout
        if marker in logs:
            break
        assert time.monotonic() < deadline, f"{marker} never reached kubectl logs:\n{logs}"
        time.sleep(0.5)
    assert f"netcheck: serving HTTP on [::]:8080 as {pod}" in logs, logs
    assert re.search(rf"netcheck: GET {marker} from 127\.0\.0\.1:\d+", logs), logs


def test_exec_runs_in_the_container_and_returns_its_status(real_node: NodeCluster, web: tuple[str, str]) -> None:
    ns, pod = web
    ok = real_node.probe(ns, pod, "get", "http://127.0.0.1:8080/")
    assert ok.outcome == "ok", ok
    assert f"netcheck {pod}" in ok.output, ok
    # nothing listens on 8081 in the pod: the command's own exit status (3, refused) comes back
    refused = real_node.probe(ns, pod, "connect", "127.0.0.1:8081")
    assert refused.outcome == "refused", refused


def test_port_forward_from_the_host(real_node: NodeCluster, web: tuple[str, str]) -> None:
    """`kubectl port-forward` on the host: host loopback -> API server (through the namespace's only bridge)
    -> kubelet -> containerd -> the pod's network namespace."""
    ns, pod = web
    for target in (f"pod/{pod}", "svc/web"):
        port_spec = ":8080" if target.startswith("pod/") else ":80"
        forward = subprocess.Popen(
            [
                str(TOOLS_BIN / "kubectl"),
                "--kubeconfig",
                real_node.kubeconfig,
                "port-forward",
                "-n",
                ns,
                target,
                port_spec,
                "--address",
                "127.0.0.1",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            line = forward.stdout.readline()  # "Forwarding from 127.0.0.1:PORT -> 8080"
            match = re.match(r"Forwarding from 127\.0\.0\.1:(\d+) ->", line)
            assert match, f"kubectl port-forward {target}: {line!r} {forward.stderr.read() if forward.poll() else ''}"
            path = f"/port-forward-{secrets.token_hex(4)}"
            with urllib.request.urlopen(f"http://127.0.0.1:{match.group(1)}{path}", timeout=10) as answer:
                body = answer.read().decode()
            assert body == f"netcheck {pod}\n", body
            logs = real_node.kubectl("logs", "-n", ns, pod).stdout
            assert f"GET {path} from 127.0.0.1:" in logs, "the request entered the pod through its loopback"
        finally:
            forward.terminate()
            forward.wait(timeout=10)

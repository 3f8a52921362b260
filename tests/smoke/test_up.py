"""scripts/up.sh, the project's main job, on the local cluster's real node: it installs the dev stack (its
images already on the node: nothing is built) and its closing lines tell how to reach the gateway; those very
commands work (kubectl port-forward, then GET /status).

The path without a running cluster (up.sh sets up and starts the local cluster itself), and the stack across a
restart of the cluster: tests/cluster/test_up_restart.py (the node-lifecycle phase, which may stop clusters).
"""

from __future__ import annotations

import os
import re
import secrets
import shlex
import subprocess

import pytest

from tests.harness import helm_binary
from tests.harness.paths import REPO_ROOT, TOOLS_BIN
from tests.smoke.kube import helm
from tests.smoke.realnode import http_json, on_local_real_node, port_forward

pytestmark = pytest.mark.smoke

UP = REPO_ROOT / "scripts" / "up.sh"


def reach_lines(output: str) -> tuple[list[str], list[str]]:
    """The port-forward and curl commands up.sh's closing lines print."""
    lines = [line.strip() for line in output.splitlines()]
    forward = next(shlex.split(line.rstrip("&")) for line in lines if "port-forward svc/gateway" in line)
    curl = next(shlex.split(line) for line in lines if line.startswith("curl ") and "/status" in line)
    return forward, curl


def run_up(namespace: str, *args: str, env: dict | None = None, timeout: float = 1200) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", str(UP), "--namespace", namespace, "--helm", f"helm{helm_binary().major}", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO_ROOT,
        env=env or dict(os.environ),
    )


def follow(forward: list[str], curl: list[str], kubeconfig: str) -> tuple[int, object]:
    """Run the printed commands: the port-forward (its namespace and target; a free local port instead of the
    printed one, which may be taken on this machine) and the curl (its path) through it."""
    assert forward[0] == "kubectl", forward
    namespace = forward[forward.index("-n") + 1]
    remote = int(forward[-1].split(":")[1])
    path = re.sub(r"^https?://[^/]+", "", curl[-1])
    with port_forward(kubeconfig, namespace, forward[forward.index("port-forward") + 1], remote) as local:
        return http_json(local, "GET", path)


def test_up_installs_the_dev_stack_and_its_closing_lines_reach_the_gateway(smoke_cluster) -> None:
    kube = smoke_cluster.kube
    if not on_local_real_node(kube):
        pytest.skip("scripts/up.sh's local path: needs the local cluster's real node (scripts/local-cluster.sh start)")
    namespace = f"qmtl-up-{secrets.token_hex(3)}"
    try:
        done = run_up(namespace, "--local")
        assert done.returncode == 0, f"scripts/up.sh failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        assert "building and loading" not in done.stderr, "up.sh rebuilt images the node already has"
        forward, curl = reach_lines(done.stdout)
        assert f"-n {namespace}" in " ".join(forward), forward
        status, body = follow(forward, curl, kube.kubeconfig)
        assert status == 200, body
        assert body["status"] in ("ok", "degraded"), body  # dev: dagmanager has no Neo4j (QMTL_RUNTIME_FACTS)
        assert body["worldservice"] == "ok", body
    finally:
        helm("uninstall", "qmtl", "-n", namespace, "--wait")
        subprocess.run(
            [str(TOOLS_BIN / "kubectl"), "delete", "namespace", namespace, "--wait=false"],
            env={**os.environ, "KUBECONFIG": kube.kubeconfig},
            capture_output=True,
        )

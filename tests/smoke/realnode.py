"""The smoke suite on the local cluster's REAL node (scripts/local-cluster.sh start): the chart's pods run
there for real, so the suite can watch processes answer, not only the API server's bookkeeping.

- `on_local_real_node(kube)`: the cluster of KUBECONFIG is this checkout's local cluster and has its real
  node (then the chart's images must be on the node and the dependencies run as managed services,
  tests/smoke/managed.py);
- `missing_images(rendered)`: images a render asks for that the node does not have;
- `port_forward(...)`: `kubectl port-forward` from the host, as a user reaches the gateway;
- `http_json(...)`: one HTTP call through it.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from qmtl_stack.render import Rendered

from tests.harness.objects import pod_specs
from tests.harness.paths import REPO_ROOT, TOOLS_BIN
from tests.smoke.kube import Kube

LOCAL_CLUSTER = REPO_ROOT / "scripts" / "local-cluster.sh"
LOCAL_KUBECONFIG = REPO_ROOT / ".tools" / "cluster" / "kubeconfig"
REAL_NODE_LABEL = ("type", "real")
IMAGES_HOW = (
    "scripts/images.sh build --load (the chart's own images; add redis questdb minio mc for the bundled "
    "dependencies), scripts/local-cluster.sh import ARCHIVE.tar"
)


def on_local_real_node(kube: Kube) -> bool:
    """True when KUBECONFIG is this checkout's local cluster and its real node is Ready."""
    try:
        same = Path(kube.kubeconfig).resolve() == LOCAL_KUBECONFIG.resolve()
    except OSError:
        return False
    if not same:
        return False
    for node in kube.nodes():
        labels = node["metadata"].get("labels") or {}
        ready = {c["type"]: c["status"] for c in node.get("status", {}).get("conditions") or []}.get("Ready")
        if labels.get(REAL_NODE_LABEL[0]) == REAL_NODE_LABEL[1] and ready == "True":
            return True
    return False


def local_cluster(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", str(LOCAL_CLUSTER), *args], capture_output=True, text=True, timeout=timeout, cwd=REPO_ROOT
    )


def node_images() -> set[str]:
    listing = local_cluster("ctr", "images", "ls", "-q")
    assert listing.returncode == 0, f"scripts/local-cluster.sh ctr images ls: {listing.stderr}"
    return set(listing.stdout.split())


def rendered_images(rendered: Rendered) -> set[str]:
    return {
        c["image"]
        for _, spec in pod_specs(rendered)
        for c in (spec.get("initContainers") or []) + (spec.get("containers") or [])
    }


def missing_images(rendered: Rendered) -> list[str]:
    """Images of the render's pods (workloads, hook Jobs, helm test pods) the real node does not have."""
    have = node_images()
    # containerd lists an image under its full name: docker.io/library/x:1 for x:1
    return sorted(i for i in rendered_images(rendered) if i not in have and f"docker.io/library/{i}" not in have)


@contextlib.contextmanager
def port_forward(kubeconfig: str, namespace: str, target: str, port: int, timeout: float = 30) -> Iterator[int]:
    """`kubectl port-forward -n NAMESPACE TARGET :PORT` on 127.0.0.1; yields the local port."""
    proc = subprocess.Popen(
        [str(TOOLS_BIN / "kubectl"), "port-forward", "-n", namespace, "--address", "127.0.0.1", target, f":{port}"],
        env={**os.environ, "KUBECONFIG": kubeconfig},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + timeout
        output: list[str] = []
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            output.append(line)
            found = re.match(r"Forwarding from 127\.0\.0\.1:(\d+) ->", line)
            if found:
                yield int(found.group(1))
                return
            if not line and proc.poll() is not None:
                break
        said = "".join(output).strip()
        raise AssertionError(f"kubectl port-forward {target} -n {namespace} did not start: {said!r}")
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def http_json(
    port: int, method: str, path: str, body: object = None, timeout: float = 20, host: str | None = None
) -> tuple[int, object]:
    """(status, JSON body) of one request to 127.0.0.1:PORT (the error body as text); `host`: the Host header
    (what an ingress controller routes by)."""
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": "application/json", **({"Host": host} if host else {})}
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(errors="replace")

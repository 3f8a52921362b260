"""The real node of the local cluster (scripts/local-cluster.sh), as the tests under tests/cluster see it.

`NodeCluster` wraps kubectl (the host's, reaching the API server through the forwarder on 127.0.0.1, as a
user would) and makes what the tests need: restricted namespaces, pods of the test image (netcheck, built
from scripts/cluster/tools by scripts/cluster/build.sh), Services, NetworkPolicies, and `probe()`, which
runs netcheck inside a pod through `kubectl exec` and reports how the connection ended.
"""

from __future__ import annotations

import dataclasses
import json
import os
import secrets
import subprocess
import time
from pathlib import Path

from tests.harness.paths import REPO_ROOT, TOOLS_BIN

LOCAL_CLUSTER = REPO_ROOT / "scripts" / "local-cluster.sh"
IMAGES_JSON = REPO_ROOT / ".tools" / "cluster-images" / "images.json"
REQUIRE_ENV = "QMTL_REQUIRE_ENGINES"
REAL_NODE_LABEL = "type=real"
TEST_UID = 10001

# netcheck's exit statuses (scripts/cluster/tools/netcheck/main.go)
OUTCOMES = {0: "ok", 1: "error", 2: "timeout", 3: "refused", 4: "noname", 5: "http-status"}
DENIED = {"timeout", "refused"}


def restricted_security_context() -> tuple[dict, dict]:
    """(pod, container) securityContexts that Pod Security "restricted" admits: uid 10001, no privilege
    escalation, every capability dropped, read-only root, the runtime's default seccomp profile."""
    pod = {
        "runAsNonRoot": True,
        "runAsUser": TEST_UID,
        "runAsGroup": TEST_UID,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    container = {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }
    return pod, container


@dataclasses.dataclass(frozen=True)
class Probe:
    """What `netcheck` printed and how it ended inside a pod."""

    outcome: str  # ok | timeout | refused | noname | http-status | error
    output: str
    seconds: float

    @property
    def denied(self) -> bool:
        return self.outcome in DENIED


class NodeCluster:
    def __init__(self, kubeconfig: str):
        self.kubeconfig = kubeconfig
        self.images = json.loads(IMAGES_JSON.read_text())
        self.namespaces: list[str] = []

    # --- kubectl ------------------------------------------------------------------------------------------
    def kubectl(self, *args: str, input: str | None = None, timeout: float = 120, check: bool = True):
        env = {**os.environ, "KUBECONFIG": self.kubeconfig}
        result = subprocess.run(
            [str(TOOLS_BIN / "kubectl"), *args],
            input=input,
            capture_output=True,
            text=True,
            env=env,
            timeout=timeout,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({result.returncode}): {result.stderr.strip()}")
        return result

    def get(self, *args: str) -> dict:
        return json.loads(self.kubectl("get", *args, "-o", "json").stdout)

    def apply(self, namespace: str, *objects: dict) -> None:
        manifest = json.dumps({"apiVersion": "v1", "kind": "List", "items": list(objects)})
        self.kubectl("apply", "-n", namespace, "-f", "-", input=manifest)

    # --- namespaces -----------------------------------------------------------------------------------------
    def namespace(self, prefix: str, **labels: str) -> str:
        """A new namespace enforcing Pod Security "restricted"; deleted by close()."""
        name = f"{prefix}-{secrets.token_hex(3)}"
        all_labels = {
            "pod-security.kubernetes.io/enforce": "restricted",
            "pod-security.kubernetes.io/enforce-version": "latest",
            **labels,
        }
        self.kubectl(
            "apply",
            "-f",
            "-",
            input=json.dumps(
                {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": all_labels}}
            ),
        )
        self.namespaces.append(name)
        return name

    def close(self) -> None:
        for name in self.namespaces:
            self.kubectl("delete", "namespace", name, "--wait=false", "--ignore-not-found", check=False)
        self.namespaces.clear()

    # --- workloads ------------------------------------------------------------------------------------------
    def netcheck_pod(self, name: str, args: list[str], labels: dict[str, str] | None = None) -> dict:
        """A restricted pod of the test image on the real node; `serve` pods are Ready when they answer."""
        pod_ctx, container_ctx = restricted_security_context()
        container: dict = {
            "name": "netcheck",
            "image": self.images["netcheck"],
            "imagePullPolicy": "Never",
            "args": args,
            "securityContext": container_ctx,
            "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"memory": "32Mi"}},
        }
        if args[:1] == ["serve"]:
            container["ports"] = [{"name": "http", "containerPort": 8080}]
            container["readinessProbe"] = {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 1}
        return {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "labels": labels or {}},
            "spec": {
                "nodeSelector": {"type": "real"},
                "securityContext": pod_ctx,
                "terminationGracePeriodSeconds": 1,
                "automountServiceAccountToken": False,
                "containers": [container],
            },
        }

    @staticmethod
    def service(name: str, selector: dict[str, str]) -> dict:
        return {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": name},
            "spec": {"selector": selector, "ports": [{"name": "http", "port": 80, "targetPort": "http"}]},
        }

    def wait_ready(self, namespace: str, *pods: str, timeout: int = 90) -> None:
        self.kubectl(
            "wait",
            "-n",
            namespace,
            "--for=condition=Ready",
            f"--timeout={timeout}s",
            *(f"pod/{p}" for p in pods),
            timeout=timeout + 30,
        )

    def wait_endpoints(self, namespace: str, service: str, count: int, timeout: float = 60) -> list[str]:
        """The Service's ready endpoint addresses once there are `count` of them."""
        deadline = time.monotonic() + timeout
        while True:
            slices = self.get("endpointslices", "-n", namespace, "-l", f"kubernetes.io/service-name={service}")
            ready = sorted(
                addr
                for s in slices["items"]
                for ep in s.get("endpoints") or []
                if (ep.get("conditions") or {}).get("ready")
                for addr in ep["addresses"]
            )
            if len(ready) >= count:
                return ready
            if time.monotonic() > deadline:
                raise AssertionError(f"{namespace}/{service} has {ready} ready endpoints, want {count}")
            time.sleep(0.5)

    def probe(self, namespace: str, pod: str, *netcheck_args: str) -> Probe:
        """Run `netcheck ARGS` in the pod (kubectl exec) and classify how it ended."""
        t0 = time.monotonic()
        result = self.kubectl("exec", "-n", namespace, pod, "--", "/netcheck", *netcheck_args, check=False)
        seconds = time.monotonic() - t0
        outcome = OUTCOMES.get(result.returncode)
        if outcome is None:
            raise AssertionError(f"kubectl exec {pod} -- netcheck {netcheck_args} failed: {result.stderr.strip()}")
        return Probe(outcome, result.stdout.strip(), seconds)


def local_cluster(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """scripts/local-cluster.sh ARGS, captured."""
    return subprocess.run(
        ["bash", str(LOCAL_CLUSTER), *args], capture_output=True, text=True, timeout=timeout, cwd=REPO_ROOT
    )


def cluster_info() -> dict[str, str]:
    out = local_cluster("info").stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def kubeconfig_of_local_cluster() -> Path:
    return REPO_ROOT / ".tools" / "cluster" / "kubeconfig"

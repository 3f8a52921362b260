"""The gateway reached from outside the cluster through a real ingress controller on the real node.

Traefik (github.com/traefik/traefik/v3, built from its Go module by scripts/cluster/build.sh traefik and
imported into the node with the cluster's own images) runs as a restricted pod in a namespace of its own and
serves both of the chart's exposures at once: the Ingress (global.gatewayIngress, its IngressClass) and the
Gateway API HTTPRoute (global.gatewayHttpRoute, attached to a Gateway of its GatewayClass; the standard
Gateway API CRDs come from the pinned Go module, scripts/setup.sh). The release admits only that namespace to
the gateway (global.networkPolicy.gateway.from: [], ingressController.from and gatewayApi.from name it), so a
request that arrives went through the NetworkPolicies the chart generates for the exposure.

From the host, `kubectl port-forward` to Traefik's web entry point stands in for the load balancer in front of
it; the Host header picks the exposure. What an SDK client does is checked end to end: POST /events/subscribe
through the controller returns the stream URL the chart configured (the Ingress's host), and a WebSocket to
that URL's path, through the controller, upgrades and answers a ping.

Needs running containers: only on the local cluster's real node, and under scripts/test.sh's first Helm only
(QMTL_SMOKE_CLUSTER_CHECKS: the controller does not depend on the Helm that installed the release).
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import os
import secrets
import socket
import struct
import time
from collections.abc import Iterator

import pytest
import yaml

from tests.cluster.node import NodeCluster, restricted_security_context
from tests.harness.k8s_schema import CRD_DIR
from tests.smoke.kube import Kube
from tests.smoke.realnode import http_json, on_local_real_node, port_forward
from tests.smoke.test_stack import (
    CLUSTER_CHECKS_ENV,
    DEV,
    Installed,
    install,
)

pytestmark = pytest.mark.smoke

INGRESS_HOST = "qmtl.ingress.test"
ROUTE_HOST = "qmtl.route.test"
WEB_PORT = 8000  # Traefik's entry point for both exposures (the Gateway's listener port must be an entry point's)
PING_PORT = 8080  # Traefik's own entry point: /ping, its readiness
LISTENER = "web"
# the standard-channel kinds Traefik's Gateway API provider watches (pkg/provider/kubernetes/gateway/client.go)
GATEWAY_API_KINDS = ("gatewayclasses", "gateways", "httproutes", "grpcroutes", "referencegrants", "backendtlspolicies")
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455


@dataclasses.dataclass
class Controller:
    namespace: str
    ingress_class: str
    gateway: str


def _crds() -> list[dict]:
    crds = []
    for kind in GATEWAY_API_KINDS:
        path = CRD_DIR / f"gateway.networking.k8s.io_{kind}.yaml"
        if not path.exists():
            pytest.fail(f"{path} is missing: scripts/setup.sh copies the Gateway API CRDs from its Go module")
        crds.append(yaml.safe_load(path.read_text()))
    return crds


def _traefik_objects(nc: NodeCluster, ns: str, name: str) -> list[dict]:
    """ServiceAccount, ClusterRole(+Binding), IngressClass, GatewayClass, Gateway and the Deployment."""
    read = ["get", "list", "watch"]
    gateway_api = "gateway.networking.k8s.io"
    pod_ctx, container_ctx = restricted_security_context()
    labels = {"app": "traefik"}
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "traefik", "namespace": ns}},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": name},
            "rules": [
                {
                    "apiGroups": [""],
                    "resources": ["services", "secrets", "namespaces", "nodes", "configmaps"],
                    "verbs": read,
                },
                {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": read},
                {"apiGroups": ["networking.k8s.io"], "resources": ["ingresses", "ingressclasses"], "verbs": read},
                {"apiGroups": ["networking.k8s.io"], "resources": ["ingresses/status"], "verbs": ["update"]},
                {"apiGroups": [gateway_api], "resources": list(GATEWAY_API_KINDS), "verbs": read},
                {
                    "apiGroups": [gateway_api],
                    "resources": [f"{k}/status" for k in GATEWAY_API_KINDS if k != "referencegrants"],
                    "verbs": ["update", "patch"],
                },
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": name},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
            "subjects": [{"kind": "ServiceAccount", "name": "traefik", "namespace": ns}],
        },
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "IngressClass",
            "metadata": {"name": name},
            "spec": {"controller": "traefik.io/ingress-controller"},
        },
        {
            "apiVersion": f"{gateway_api}/v1",
            "kind": "GatewayClass",
            "metadata": {"name": name},
            "spec": {"controllerName": "traefik.io/gateway-controller"},
        },
        {
            "apiVersion": f"{gateway_api}/v1",
            "kind": "Gateway",
            "metadata": {"name": "public", "namespace": ns},
            "spec": {
                "gatewayClassName": name,
                "listeners": [
                    {
                        "name": LISTENER,
                        "port": WEB_PORT,
                        "protocol": "HTTP",
                        "allowedRoutes": {"namespaces": {"from": "All"}},
                    }
                ],
            },
        },
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "traefik", "namespace": ns, "labels": labels},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "serviceAccountName": "traefik",
                        "nodeSelector": {"type": "real"},
                        "securityContext": pod_ctx,
                        "terminationGracePeriodSeconds": 1,
                        "containers": [
                            {
                                "name": "traefik",
                                "image": nc.images["traefik"],
                                "imagePullPolicy": "Never",
                                "args": [
                                    f"--entryPoints.{LISTENER}.address=:{WEB_PORT}",
                                    f"--entryPoints.traefik.address=:{PING_PORT}",
                                    "--ping=true",
                                    "--providers.kubernetesIngress=true",
                                    "--providers.kubernetesGateway=true",
                                    "--global.checkNewVersion=false",
                                    "--global.sendAnonymousUsage=false",
                                    "--log.level=INFO",
                                ],
                                "ports": [
                                    {"name": "web", "containerPort": WEB_PORT},
                                    {"name": "ping", "containerPort": PING_PORT},
                                ],
                                "readinessProbe": {"httpGet": {"path": "/ping", "port": "ping"}, "periodSeconds": 1},
                                "securityContext": container_ctx,
                                "resources": {
                                    "requests": {"cpu": "50m", "memory": "64Mi"},
                                    "limits": {"memory": "256Mi"},
                                },
                                "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
                            }
                        ],
                        "volumes": [{"name": "tmp", "emptyDir": {}}],
                    },
                },
            },
        },
    ]


@pytest.fixture(scope="module")
def controller(smoke_cluster) -> Iterator[Controller]:
    kube: Kube = smoke_cluster.kube
    if not on_local_real_node(kube):
        pytest.skip(
            "needs an ingress controller that runs: the local cluster's real node (scripts/local-cluster.sh start)"
        )
    if os.environ.get(CLUSTER_CHECKS_ENV) == "0":
        pytest.skip(
            f"{CLUSTER_CHECKS_ENV}=0: the controller does not depend on the Helm version, so scripts/test.sh runs "
            "this under its first Helm only (it ran there, on the same cluster)"
        )
    nc = NodeCluster(kube.kubeconfig)
    if "traefik" not in nc.images:
        pytest.fail("the real node has no Traefik image: scripts/cluster/build.sh images, then restart the cluster")
    created_crds = [crd["metadata"]["name"] for crd in _crds() if kube.ensure_crd(crd)]
    name = f"qmtl-smoke-traefik-{secrets.token_hex(3)}"
    ns = nc.namespace("qmtl-smoke-ingress")
    objects = _traefik_objects(nc, ns, name)
    try:
        nc.apply(ns, *objects)
        nc.kubectl("rollout", "status", "-n", ns, "deploy/traefik", "--timeout=120s", timeout=150)
        yield Controller(ns, name, "public")
    finally:
        for kind in ("ClusterRoleBinding", "ClusterRole", "IngressClass", "GatewayClass"):
            nc.kubectl("delete", kind.lower(), name, "--ignore-not-found", "--wait=false", check=False)
        nc.close()
        for crd in created_crds:
            kube.delete_crd(crd)


@pytest.fixture(scope="module")
def exposed(smoke_cluster, namespace_factory, managed_services, controller, tmp_path_factory) -> Installed:
    """dev with both exposures on, and the gateway's port admitted to the controller's namespace only."""
    peers = [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": controller.namespace}}}]
    values = {
        "global": {
            "gatewayIngress": {"enabled": True, "className": controller.ingress_class, "host": INGRESS_HOST},
            "gatewayHttpRoute": {
                "enabled": True,
                "parentRefs": [
                    {"name": controller.gateway, "namespace": controller.namespace, "sectionName": LISTENER}
                ],
                "hostnames": [ROUTE_HOST],
                "scheme": "http",
            },
            "networkPolicy": {
                "gateway": {"from": []},
                "ingressController": {"from": peers},
                "gatewayApi": {"from": peers},
            },
        }
    }
    path = tmp_path_factory.mktemp("exposure") / "exposure.yaml"
    path.write_text(yaml.safe_dump(values))
    return install(smoke_cluster, namespace_factory, "exposure", (*DEV, path), managed_services)


@pytest.fixture(scope="module")
def web(exposed: Installed, controller: Controller) -> Iterator[int]:
    """The controller's web entry point on a host loopback port (as a load balancer in front of it)."""
    with port_forward(exposed.kube.kubeconfig, controller.namespace, "deploy/traefik", WEB_PORT) as local:
        yield local


def gateway_container_port(rel: Installed) -> int:
    """The gateway container's HTTP port, as rendered (what the NetworkPolicy guards on the pod)."""
    spec = rel.rendered.get("Deployment", "gateway")["spec"]["template"]["spec"]
    container = next(c for c in spec["containers"] if c["name"] == "gateway")
    return int(container["ports"][0]["containerPort"])


# --- WebSocket by hand (RFC 6455): the Host header is what the test chooses ----------------------------------
def _read_head(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    if not lines[0].startswith("HTTP/1.1 "):
        raise AssertionError(f"not an HTTP response: {data[:300]!r}")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split()[1]), headers, rest


def _recv_exact(sock: socket.socket, n: int, buffered: bytearray) -> bytes:
    while len(buffered) < n:
        chunk = sock.recv(65536)
        if not chunk:
            raise AssertionError("the WebSocket closed")
        buffered += chunk
    out = bytes(buffered[:n])
    del buffered[:n]
    return out


def websocket_ping(port: int, host: str, path: str, token: str) -> tuple[int, bytes]:
    """Open a WebSocket (RFC 6455) to path with Host: host and the bearer token, send a ping; the handshake's
    status and the payload of the pong (frames before it, e.g. the stream's first events, are skipped)."""
    key = base64.b64encode(os.urandom(16)).decode()
    with socket.create_connection(("127.0.0.1", port), timeout=20) as sock:
        sock.sendall(
            f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nAuthorization: Bearer {token}\r\n\r\n".encode()
        )
        status, headers, rest = _read_head(sock)
        if status != 101:
            return status, b""
        accept = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
        assert headers.get("sec-websocket-accept") == accept, headers
        payload, mask = b"qmtl-stack", os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        sock.sendall(bytes([0x89, 0x80 | len(payload)]) + mask + masked)  # FIN + ping, masked (client)
        buffered = bytearray(rest)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            first, second = _recv_exact(sock, 2, buffered)
            length = second & 0x7F
            if length == 126:
                length = struct.unpack("!H", _recv_exact(sock, 2, buffered))[0]
            elif length == 127:
                length = struct.unpack("!Q", _recv_exact(sock, 8, buffered))[0]
            data = _recv_exact(sock, length, buffered)
            opcode = first & 0x0F
            if opcode == 0xA:
                return status, data
            if opcode == 0x8:
                raise AssertionError(f"the gateway closed the stream: {data!r}")
        raise AssertionError("no pong within 20 s")


def until_routed(port: int, host: str, timeout: float = 60) -> tuple[int, object]:
    """GET /status through the controller until it routes host (it picks up new routes within seconds)."""
    deadline = time.monotonic() + timeout
    while True:
        status, body = http_json(port, "GET", "/status", host=host)
        if status == 200 or time.monotonic() > deadline:
            return status, body
        time.sleep(1)


# --- the tests -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("host", [INGRESS_HOST, ROUTE_HOST], ids=["ingress", "httproute"])
def test_the_gateway_answers_through_the_controller(exposed, web, host) -> None:
    status, body = until_routed(web, host)
    assert status == 200, body
    assert body["status"] in ("ok", "degraded"), body
    assert body["worldservice"] == "ok", body


def test_the_controller_routes_only_the_chart_hosts(exposed, web) -> None:
    until_routed(web, INGRESS_HOST)
    status, body = http_json(web, "GET", "/status", host="elsewhere.test")
    assert status == 404, (status, body)  # Traefik's own answer: no route for that host


def test_an_sdk_client_subscribes_and_streams_through_the_controller(exposed, web) -> None:
    until_routed(web, INGRESS_HOST)
    until_routed(web, ROUTE_HOST)
    subscription = {"world_id": "smoke", "strategy_id": "smoke", "topics": ["queue"]}
    status, sub = http_json(web, "POST", "/events/subscribe", subscription, host=INGRESS_HOST)
    assert status == 200, sub
    # the URL the chart configured for SDK clients while the Ingress is on (http: no TLS on it here)
    assert sub["stream_url"] == f"ws://{INGRESS_HOST}/ws/evt", sub
    path = sub["stream_url"].removeprefix(f"ws://{INGRESS_HOST}")
    for host in (INGRESS_HOST, ROUTE_HOST):
        assert websocket_ping(web, host, path, sub["token"]) == (101, b"qmtl-stack"), host
    # without the token the gateway itself refuses the stream: the upgrade reached it, not the controller alone
    assert websocket_ping(web, INGRESS_HOST, path, "not-a-token")[0] != 101


def test_the_install_notes_print_the_external_urls(exposed) -> None:
    notes = exposed.install.stdout
    assert f"Ingress    http://{INGRESS_HOST}/" in notes, notes
    assert f"HTTPRoute  http://{ROUTE_HOST}/" in notes, notes


def test_only_the_controller_namespace_reaches_the_gateway_port(exposed, controller) -> None:
    """The gateway's port admits the controller's namespace (the route above) and refuses a pod elsewhere."""
    nc = NodeCluster(exposed.kube.kubeconfig)
    try:
        ns = nc.namespace("qmtl-smoke-outsider")
        nc.apply(ns, nc.netcheck_pod("outsider", ["sleep"]))
        nc.wait_ready(ns, "outsider")
        pod = next(p for p in exposed.kube.pods(exposed.ns.name) if p["metadata"]["name"].startswith("gateway-"))
        port = gateway_container_port(exposed)
        probe = nc.probe(ns, "outsider", "connect", "-timeout", "2s", f"{pod['status']['podIP']}:{port}")
        assert probe.denied, probe
    finally:
        nc.close()

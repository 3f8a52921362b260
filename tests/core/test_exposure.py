"""The gateway outside the cluster: global.gatewayIngress (Ingress) and global.gatewayHttpRoute (Gateway API
HTTPRoute).

Expectations come from the values given here, from the rendered gateway Service (what the backend must
point at), and from QMTL's gateway source (fc06bd8, qmtl/services/gateway/event_handlers.py): its WebSocket
routes are /ws and /ws/evt, and POST /events/subscribe hands SDK clients their URLs (gateway.events.stream_url
and fallback_url of its config). Ingress, HTTPRoute and the NetworkPolicies are validated strictly against
the oldest and newest supported Kubernetes (the HTTPRoute against the Gateway API CRD setup.sh copies).
"""

from __future__ import annotations

import pytest
from qmtl_stack.render import Rendered

from tests.core.common import PROD, notes
from tests.harness import render_chart, render_error, supported_kube_versions, validate_k8s
from tests.harness.objects import chart_values, layered, qmtl_config
from tests.security.graph import COMPONENT, INSTANCE, NAMESPACE, RELEASE
from tests.security.netpol import Cluster, Endpoint

HOST = "qmtl.example.com"
ROUTE_HOST = "qmtl.example.org"
NGINX = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}}
ENVOY = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "envoy-gateway-system"}}}
# QMTL's gateway: the WebSocket routes (event_handlers.py) and the event-descriptor keys that name them.
WS_ROUTES = ("/ws", "/ws/evt")

INGRESS = layered(
    PROD,
    {
        "global": {
            "gatewayIngress": {
                "enabled": True,
                "className": "nginx",
                "host": HOST,
                "annotations": {"nginx.ingress.kubernetes.io/proxy-read-timeout": "3600"},
                "tls": {"enabled": True, "secretName": "qmtl-public-tls", "certManager": {"clusterIssuer": "acme"}},
            },
            "networkPolicy": {"ingressController": {"from": [NGINX]}, "gateway": {"from": []}},
        }
    },
)
ROUTE = layered(
    PROD,
    {
        "global": {
            "gatewayHttpRoute": {
                "enabled": True,
                "parentRefs": [
                    {"name": "public", "namespace": "gateway-system", "sectionName": "https"},
                    {"name": "internal", "port": 8443},
                ],
                "hostnames": [ROUTE_HOST, "qmtl.internal.example.org"],
                "paths": [{"path": "/", "pathType": "Prefix"}],
            },
            "networkPolicy": {"gatewayApi": {"from": [ENVOY]}, "gateway": {"from": []}},
        }
    },
)
BOTH = layered(INGRESS, ROUTE)


def gateway_service_port(rendered: Rendered) -> dict:
    (port,) = rendered.get("Service", "gateway")["spec"]["ports"]
    return port


@pytest.mark.parametrize("values", [INGRESS, ROUTE, BOTH], ids=["ingress", "httproute", "both"])
def test_exposure_objects_are_valid_kubernetes(values: dict) -> None:
    rendered = render_chart(values)
    found = rendered.by_kind("Ingress") + rendered.by_kind("HTTPRoute")
    exposures = chart_values(extra=values)["global"]
    assert len(found) == exposures["gatewayIngress"]["enabled"] + exposures["gatewayHttpRoute"]["enabled"]
    for obj in found + rendered.by_kind("NetworkPolicy"):
        for version in supported_kube_versions():
            validate_k8s(obj, version)


def test_nothing_is_exposed_by_default(value_set) -> None:
    rendered = render_chart(values_files=value_set.files)
    assert not rendered.by_kind("Ingress")
    assert not rendered.by_kind("HTTPRoute")


def test_ingress_routes_host_and_paths_to_the_gateway_service() -> None:
    rendered = render_chart(INGRESS)
    ingress = rendered.get("Ingress", "gateway")
    spec = ingress["spec"]
    assert spec["ingressClassName"] == "nginx"
    (rule,) = spec["rules"]
    assert rule["host"] == HOST
    (path,) = rule["http"]["paths"]
    assert (path["path"], path["pathType"]) == ("/", "Prefix")
    backend = path["backend"]["service"]
    assert backend["name"] == "gateway"
    assert backend["port"] == {"name": gateway_service_port(rendered)["name"]}
    assert spec["tls"] == [{"hosts": [HOST], "secretName": "qmtl-public-tls"}]
    annotations = ingress["metadata"]["annotations"]
    assert annotations["cert-manager.io/cluster-issuer"] == "acme"
    assert annotations["nginx.ingress.kubernetes.io/proxy-read-timeout"] == "3600"
    assert "cert-manager.io/issuer" not in annotations


def test_ingress_without_tls_or_class_and_with_a_namespaced_issuer() -> None:
    plain = layered(
        INGRESS,
        {
            "global": {
                "gatewayIngress": {"className": "", "tls": {"enabled": False, "certManager": {"clusterIssuer": ""}}}
            }
        },
    )
    spec = render_chart(plain).get("Ingress", "gateway")["spec"]
    assert "ingressClassName" not in spec
    assert "tls" not in spec
    issuer = layered(
        INGRESS, {"global": {"gatewayIngress": {"tls": {"certManager": {"issuer": "local-ca", "clusterIssuer": ""}}}}}
    )
    annotations = render_chart(issuer).get("Ingress", "gateway")["metadata"]["annotations"]
    assert annotations["cert-manager.io/issuer"] == "local-ca"
    assert "cert-manager.io/cluster-issuer" not in annotations


def test_httproute_attaches_hostnames_and_paths_to_the_gateway_service() -> None:
    rendered = render_chart(ROUTE)
    spec = rendered.get("HTTPRoute", "gateway")["spec"]
    assert spec["parentRefs"] == [
        {"name": "public", "namespace": "gateway-system", "sectionName": "https"},
        {"name": "internal", "port": 8443},
    ]
    assert spec["hostnames"] == [ROUTE_HOST, "qmtl.internal.example.org"]
    (rule,) = spec["rules"]
    assert rule["matches"] == [{"path": {"type": "PathPrefix", "value": "/"}}]
    assert rule["backendRefs"] == [{"name": "gateway", "port": gateway_service_port(rendered)["port"]}]


def test_paths_map_to_each_api_and_must_route_the_websocket_streams() -> None:
    paths = [
        {"path": "/ws", "pathType": "Prefix"},
        {"path": "/strategies", "pathType": "Prefix"},
        {"path": "/events/subscribe", "pathType": "Exact"},
    ]
    values = layered(BOTH, {"global": {"gatewayIngress": {"paths": paths}, "gatewayHttpRoute": {"paths": paths}}})
    rendered = render_chart(values)
    ingress_paths = rendered.get("Ingress", "gateway")["spec"]["rules"][0]["http"]["paths"]
    assert [(p["path"], p["pathType"]) for p in ingress_paths] == [(p["path"], p["pathType"]) for p in paths]
    matches = rendered.get("HTTPRoute", "gateway")["spec"]["rules"][0]["matches"]
    assert [(m["path"]["value"], m["path"]["type"]) for m in matches] == [
        ("/ws", "PathPrefix"),
        ("/strategies", "PathPrefix"),
        ("/events/subscribe", "Exact"),
    ]
    # /ws/evt is below the /ws prefix (by path segment); an exact /ws routes the fallback stream only,
    # and a /w prefix neither (prefixes match whole segments)
    for key in ("gatewayIngress", "gatewayHttpRoute"):
        for bad, unrouted in (
            ([{"path": "/ws", "pathType": "Exact"}], ["/ws/evt"]),
            ([{"path": "/w", "pathType": "Prefix"}], list(WS_ROUTES)),
            ([{"path": "/ws/evt/", "pathType": "Prefix"}, {"path": "/api", "pathType": "Prefix"}], ["/ws"]),
        ):
            message = str(render_error(layered(BOTH, {"global": {key: {"paths": bad}}})))
            for route in unrouted:
                assert f"global.{key}.paths: {route} is not routed to the gateway" in message, message
            for route in set(WS_ROUTES) - set(unrouted):
                assert f"global.{key}.paths: {route} is not" not in message


@pytest.mark.parametrize(
    ("values", "base"),
    [(INGRESS, f"wss://{HOST}"), (ROUTE, f"wss://{ROUTE_HOST}"), (BOTH, f"wss://{HOST}")],
    ids=["ingress", "httproute", "both-ingress-wins"],
)
def test_the_websocket_urls_handed_to_sdk_clients_are_the_public_ones(values: dict, base: str) -> None:
    events = qmtl_config(render_chart(values))["gateway"]["events"]
    assert (events["stream_url"], events["fallback_url"]) == (f"{base}/ws/evt", f"{base}/ws")


def test_plain_http_exposures_hand_out_ws_urls_and_internal_ones_stay_without() -> None:
    http_ingress = layered(
        INGRESS, {"global": {"gatewayIngress": {"tls": {"enabled": False, "certManager": {"clusterIssuer": ""}}}}}
    )
    assert qmtl_config(render_chart(http_ingress))["gateway"]["events"]["stream_url"] == f"ws://{HOST}/ws/evt"
    http_route = layered(ROUTE, {"global": {"gatewayHttpRoute": {"scheme": "http"}}})
    assert qmtl_config(render_chart(http_route))["gateway"]["events"]["stream_url"] == f"ws://{ROUTE_HOST}/ws/evt"
    rendered = render_chart(PROD)
    inside = qmtl_config(rendered)["gateway"]["events"]
    assert inside["stream_url"] == f"ws://gateway:{gateway_service_port(rendered)['port']}/ws/evt"


def test_exposing_the_gateway_rolls_its_pods() -> None:
    def checksum(values: dict) -> str:
        spec = render_chart(values).get("Deployment", "gateway")["spec"]["template"]
        return spec["metadata"]["annotations"]["checksum/qmtl-config"]

    assert checksum(INGRESS) != checksum(PROD)
    assert checksum(ROUTE) != checksum(INGRESS)


def _gateway_reachable_from(values: dict, peer: Endpoint) -> bool:
    rendered = render_chart(values)
    cluster = Cluster(rendered.by_kind("NetworkPolicy"), NAMESPACE, {peer.namespace: {}})
    gateway = Endpoint("gateway", "10.244.9.1", NAMESPACE, {INSTANCE: RELEASE, COMPONENT: "gateway"})
    port = gateway_service_port(rendered)["port"]
    return cluster.allowed(peer, gateway, port)


def test_the_controller_reaches_the_gateway_only_while_its_exposure_is_on() -> None:
    nginx = Endpoint("nginx", "10.244.8.1", "ingress-nginx", {"app": "ingress-nginx"})
    envoy = Endpoint("envoy", "10.244.8.2", "envoy-gateway-system", {"app": "envoy"})
    closed = layered(PROD, {"global": {"networkPolicy": {"gateway": {"from": []}}}})
    assert not _gateway_reachable_from(closed, nginx)
    assert _gateway_reachable_from(INGRESS, nginx)
    assert not _gateway_reachable_from(INGRESS, envoy)
    assert _gateway_reachable_from(ROUTE, envoy)
    assert not _gateway_reachable_from(ROUTE, nginx)
    # peers configured but the exposure off: no rule for them
    idle = layered(BOTH, {"global": {"gatewayIngress": {"enabled": False}, "gatewayHttpRoute": {"enabled": False}}})
    assert not _gateway_reachable_from(idle, nginx)
    assert not _gateway_reachable_from(idle, envoy)


def test_exposure_without_the_controllers_peers_is_refused_while_policies_are_on() -> None:
    for values, key in ((INGRESS, "ingressController"), (ROUTE, "gatewayApi")):
        lacking = layered(values, {"global": {"networkPolicy": {key: {"from": []}}}})
        assert f"/global/networkPolicy/{key}/from" in str(render_error(lacking))
        unpoliced = layered(lacking, {"global": {"networkPolicy": {"enabled": False, "disabledAcknowledged": True}}})
        assert render_chart(unpoliced).by_kind("NetworkPolicy") == []


def test_notes_print_the_public_urls(notes_chart) -> None:
    text = notes(notes_chart, BOTH)
    assert f"Ingress    https://{HOST}/  (IngressClass nginx)" in text
    assert f"HTTPRoute  https://{ROUTE_HOST}/  (Gateway gateway-system/public, qmtl/internal)" in text
    assert f"wss://{HOST}/ws/evt, fallback wss://{HOST}/ws" in text
    assert "global.networkPolicy.ingressController.from" in text
    assert "global.networkPolicy.gatewayApi.from" in text
    assert "outside the cluster" not in notes(notes_chart, PROD)
    assert "outside the cluster" not in notes(notes_chart, layered(BOTH, {"gateway": {"enabled": False}}))

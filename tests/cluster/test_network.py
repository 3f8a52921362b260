"""The real node's network: Services route across their ClusterIP (kube-proxy), CoreDNS answers for the
cluster zone and nothing else, nothing leaves the cluster's network namespace, and NetworkPolicies are
enforced (kube-router): a canary denial first, then an allow rule, then a denial from another namespace.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import pytest

from tests.cluster.node import NodeCluster, Probe, cluster_info, local_cluster

pytestmark = [pytest.mark.smoke, pytest.mark.node]


def converge(probe: Callable[[], Probe], want: Callable[[Probe], bool], what: str, timeout: float = 30) -> Probe:
    """Probe until `want` holds (policy changes take the enforcer a moment), then once more: it must hold."""
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if want(result):
            again = probe()
            assert want(again), f"{what}: held once, then not: {again}"
            return again
        assert time.monotonic() < deadline, f"{what}: still {result} after {timeout} s"
        time.sleep(1)


@pytest.fixture(scope="module")
def backends(real_node: NodeCluster) -> tuple[str, list[str], str]:
    """(namespace, backend pod names, client pod): two HTTP backends behind Service `echo`, one client."""
    ns = real_node.namespace("node-net")
    names = ["echo-a", "echo-b"]
    real_node.apply(
        ns,
        *(real_node.netcheck_pod(n, ["serve"], {"app": "echo"}) for n in names),
        real_node.netcheck_pod("client", ["sleep"], {"role": "client"}),
        real_node.service("echo", {"app": "echo"}),
    )
    real_node.wait_ready(ns, *names, "client")
    real_node.wait_endpoints(ns, "echo", 2)
    return ns, names, "client"


def test_service_routes_to_every_backend_over_its_cluster_ip(real_node: NodeCluster, backends) -> None:
    ns, names, client = backends
    cluster_ip = real_node.get("service", "-n", ns, "echo")["spec"]["clusterIP"]
    assert cluster_ip.startswith("10.96."), cluster_ip
    # kube-proxy programs a new Service's rules a moment after its endpoints are ready
    converge(
        lambda: real_node.probe(ns, client, "get", f"http://{cluster_ip}/"),
        lambda r: r.outcome == "ok",
        f"the first answer over {cluster_ip}",
    )
    answered: dict[str, int] = {}
    for _ in range(30):
        probe = real_node.probe(ns, client, "get", f"http://{cluster_ip}/")
        assert probe.outcome == "ok", probe
        backend = probe.output.splitlines()[0].removeprefix("netcheck ")
        answered[backend] = answered.get(backend, 0) + 1
        if set(answered) == set(names):
            break
    assert set(answered) == set(names), f"30 requests to {cluster_ip} reached only {answered}"


def test_coredns_resolves_the_cluster_zone(real_node: NodeCluster, backends) -> None:
    ns, _, client = backends
    info = cluster_info()
    me = real_node.probe(ns, client, "self")
    resolv = json.loads(me.output.splitlines()[0])["resolv"]
    # the cluster's DNS only, the cluster's search path only: no resolver of the host's leaks in
    assert resolv["nameserver"] == [info["DNS_IP"]], resolv
    assert resolv["search"] == [f"{ns}.svc.cluster.local", "svc.cluster.local", "cluster.local"], resolv

    cluster_ip = real_node.get("service", "-n", ns, "echo")["spec"]["clusterIP"]
    found = real_node.probe(ns, client, "dns", f"echo.{ns}.svc.cluster.local")
    assert found.outcome == "ok", found
    assert found.output.endswith(f"rcode=NOERROR answers={cluster_ip}"), found
    api = real_node.probe(ns, client, "dns", "kubernetes.default.svc.cluster.local")
    assert api.outcome == "ok", api
    assert api.output.endswith("answers=10.96.0.1"), api
    # the short name through the search path, as applications resolve it
    short = real_node.probe(ns, client, "get", "http://echo/")
    assert short.outcome == "ok", short

    missing = real_node.probe(ns, client, "dns", f"no-such-service.{ns}.svc.cluster.local")
    assert missing.outcome == "noname", missing
    assert "rcode=NXDOMAIN" in missing.output, missing


@pytest.mark.parametrize("name", ["example.com", "pypi.org", "registry.k8s.io"])
def test_coredns_refuses_names_outside_the_cluster_zone(real_node: NodeCluster, backends, name: str) -> None:
    """No upstream: a name outside cluster.local is refused at once (no forwarding attempt, no timeout)."""
    ns, _, client = backends
    probe = real_node.probe(ns, client, "dns", name)
    assert probe.outcome == "noname", probe
    assert "rcode=REFUSED" in probe.output, probe


def test_nothing_routes_out_of_the_cluster_network(real_node: NodeCluster, backends) -> None:
    ns, _, client = backends
    # an address on the internet and the host's own resolver address: the namespace has no route to either
    # (ICMP "unreachable" answers are rate-limited by the kernel: a quick second attempt may time out)
    for target in ("1.1.1.1:443", "8.8.8.8:53", "192.168.0.1:80"):
        probe = real_node.probe(ns, client, "connect", "-timeout", "3s", target)
        assert probe.denied, probe
    routes = subprocess_run_in_namespace("ip", "-4", "route", "show")
    assert "default" not in routes, routes
    addresses = subprocess_run_in_namespace("ip", "-4", "-o", "addr", "show")
    interfaces = {line.split()[1] for line in addresses.splitlines()}
    assert interfaces <= {"lo", "cni0"}, f"only loopback and the pods' bridge hold addresses: {addresses}"


def subprocess_run_in_namespace(*cmd: str) -> str:
    result = local_cluster("exec", *cmd)
    assert result.returncode == 0, result.stderr
    return result.stdout


def network_policy(name: str, pod_selector: dict, ingress: list | None) -> dict:
    spec: dict = {"podSelector": pod_selector, "policyTypes": ["Ingress"]}
    if ingress is not None:
        spec["ingress"] = ingress
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": name}, "spec": spec}


def test_network_policies_are_enforced(real_node: NodeCluster) -> None:
    """The canary: a server answers two clients of its namespace and one of another; default-deny stops all
    three; an allow rule for role=client on port 8080 admits exactly the labelled client of its namespace;
    the labelled client of the other namespace stays denied. Denied means refused or timed out."""
    ns = real_node.namespace("node-policy")
    other_ns = real_node.namespace("node-policy-other")
    real_node.apply(
        ns,
        real_node.netcheck_pod("server", ["serve"], {"app": "server"}),
        real_node.netcheck_pod("client", ["sleep"], {"role": "client"}),
        real_node.netcheck_pod("stranger", ["sleep"], {"role": "stranger"}),
        real_node.service("server", {"app": "server"}),
    )
    real_node.apply(other_ns, real_node.netcheck_pod("client", ["sleep"], {"role": "client"}))
    real_node.wait_ready(ns, "server", "client", "stranger")
    real_node.wait_ready(other_ns, "client")
    real_node.wait_endpoints(ns, "server", 1)
    url = f"http://server.{ns}.svc.cluster.local/"

    def from_(namespace: str, pod: str) -> Callable[[], Probe]:
        return lambda: real_node.probe(namespace, pod, "get", "-timeout", "3s", url)

    clients = {"client": from_(ns, "client"), "stranger": from_(ns, "stranger"), "other": from_(other_ns, "client")}
    # before any policy every client gets through (once kube-proxy has the new Service): later denials are
    # the policy's doing
    for who, probe in clients.items():
        converge(probe, lambda r: r.outcome == "ok", f"{who} before any policy")

    real_node.apply(ns, network_policy("default-deny", {}, None))
    for who, probe in clients.items():
        converge(probe, lambda r: r.denied, f"{who} under default-deny")

    real_node.apply(
        ns,
        network_policy(
            "allow-clients",
            {"matchLabels": {"app": "server"}},
            [{"from": [{"podSelector": {"matchLabels": {"role": "client"}}}], "ports": [{"port": 8080}]}],
        ),
    )
    converge(clients["client"], lambda r: r.outcome == "ok", "the labelled client of the namespace, allowed")
    stranger, other = clients["stranger"](), clients["other"]()
    assert stranger.denied, f"an unlabelled pod of the namespace must stay denied: {stranger}"
    assert other.denied, f"a role=client pod of another namespace must stay denied: {other}"

    real_node.kubectl("delete", "networkpolicy", "-n", ns, "default-deny", "allow-clients")
    for who, probe in clients.items():
        converge(probe, lambda r: r.outcome == "ok", f"{who} once the policies are gone")


def test_egress_policies_and_the_charts_dns_rule(real_node: NodeCluster) -> None:
    """The chart's shape (templates/networkpolicies.yaml): default-deny both ways, then egress to the cluster
    DNS by namespace kube-system and pod label k8s-app=kube-dns on port 53 (values.yaml
    global.networkPolicy.dns). DNS must still answer; any other egress is denied."""
    ns = real_node.namespace("node-egress")
    real_node.apply(
        ns,
        real_node.netcheck_pod("server", ["serve"], {"app": "server"}),
        real_node.netcheck_pod("client", ["sleep"], {"role": "client"}),
        real_node.service("server", {"app": "server"}),
    )
    real_node.wait_ready(ns, "server", "client")
    real_node.wait_endpoints(ns, "server", 1)
    http = lambda: real_node.probe(ns, "client", "get", "-timeout", "3s", f"http://server.{ns}.svc.cluster.local/")  # noqa: E731
    dns = lambda: real_node.probe(ns, "client", "dns", f"server.{ns}.svc.cluster.local")  # noqa: E731
    converge(http, lambda r: r.outcome == "ok", "HTTP before any policy")

    deny_all = network_policy("default-deny", {}, None)
    deny_all["spec"]["policyTypes"] = ["Ingress", "Egress"]
    allow_dns = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "allow-dns"},
        "spec": {
            "podSelector": {},
            "policyTypes": ["Egress"],
            "egress": [
                {
                    "to": [
                        {
                            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
                            "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
                        }
                    ],
                    "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
                }
            ],
        },
    }
    real_node.apply(ns, deny_all)
    converge(dns, lambda r: r.denied, "DNS under default-deny egress")
    real_node.apply(ns, allow_dns)
    converge(dns, lambda r: r.outcome == "ok", "DNS with the chart's DNS egress rule")
    denied = http()
    assert denied.denied, f"egress other than DNS must stay denied: {denied}"


def test_every_component_writes_the_same_iptables_backend(real_node: NodeCluster, backends) -> None:
    """kube-proxy (KUBE-SERVICES), kube-router (KUBE-ROUTER-*), the kubelet (KUBE-KUBELET-CANARY) and the
    CNI portmap plugin all use iptables' nft backend inside the cluster's namespace; nothing is in the
    legacy tables there, and nothing of the cluster is in the host's."""
    nft = subprocess_run_in_namespace("iptables-nft-save")
    for chain in ("KUBE-SERVICES", "KUBE-ROUTER-FORWARD", "KUBE-KUBELET-CANARY"):
        assert f":{chain} " in nft, f"{chain} missing from the nft backend"
    legacy = subprocess_run_in_namespace("iptables-legacy-save")
    assert "-A " not in legacy, legacy
    assert ":KUBE" not in legacy, legacy

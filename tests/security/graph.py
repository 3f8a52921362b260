"""The DECLARED service graph (files/service-graph.yaml) resolved against a values set, and the
network a render produces, evaluated with NetworkPolicy semantics (tests/security/netpol.py).

`connections(rendered, values)` returns what the rendered policies ALLOW and what the graph DECLARES,
both as sets of (source, target, port, protocol) over every ordered pair of endpoints in which at
least one side is a pod of the release: the rendered workloads (one pod each), plus probes around
them: the cluster DNS, a pod of another namespace, a pod of the release's namespace that is not
part of the release, an address outside the cluster, and one address per CIDR of each managed
dependency. Every port the stack knows (global.ports, containerPorts, external ports, DNS) and a
sentinel port are tried over TCP and UDP.
"""

from __future__ import annotations

import dataclasses
import functools
import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from urllib.parse import urlsplit

import yaml
from qmtl_stack.render import RenderedObject

from tests.harness import Rendered
from tests.harness.objects import chart_values
from tests.harness.paths import CHART_DIR
from tests.security.netpol import Cluster, ContainerPort, Endpoint
from tests.security.workloads import workloads

GRAPH_FILE = CHART_DIR / "files" / "service-graph.yaml"
RELEASE = "qmtl"
NAMESPACE = "qmtl"
INSTANCE = "app.kubernetes.io/instance"
COMPONENT = "app.kubernetes.io/component"
SENTINEL_PORT = 1  # a port nothing declares: must be closed everywhere
POD_NETWORK = ipaddress.ip_network("10.244.0.0/16")

# Endpoint key of qmtl.endpoints -> the values block of that dependency.
DEPENDENCY_BLOCK = {
    "redis": "redis",
    "postgres": "postgres",
    "neo4j": "neo4j",
    "questdb": "questdb",
    "s3": "minio",
    "controlbus": "controlbus",
}
URL_DEFAULT_PORTS = {
    "http": 80,
    "https": 443,
    "bolt": 7687,
    "neo4j": 7687,
    "bolt+s": 7687,
    "neo4j+s": 7687,
    "bolt+ssc": 7687,
    "neo4j+ssc": 7687,
}


@functools.cache
def load_graph(path: Path = GRAPH_FILE) -> dict:
    return yaml.safe_load(path.read_text())


# --- values -----------------------------------------------------------------------------------------
def merged_values(files: Sequence[Path | str] = (), dicts: Sequence[Mapping] = ()) -> dict:
    """The values Helm hands to the chart for these files and layers (tests/harness/objects.chart_values)."""
    return chart_values(*files, extra=list(dicts))


def value_at(values: Mapping, path: str) -> object:
    node: object = values
    for key in path.split("."):
        if not isinstance(node, Mapping) or key not in node:
            return None
        node = node[key]
    return node


def _all_true(values: Mapping, paths: str | Sequence[str] | None) -> bool:
    if not paths:
        return True
    if isinstance(paths, str):
        paths = [paths]
    return all(bool(value_at(values, p)) for p in paths)


def component_on(values: Mapping, name: str, graph: Mapping | None = None) -> bool:
    graph = graph or load_graph()
    return _all_true(values, (graph["components"][name] or {}).get("when"))


# --- managed (external) dependencies -------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class External:
    key: str
    cidrs: tuple[str, ...]
    ports: tuple[int, ...]


def _url_port(url: str) -> int:
    parts = urlsplit(url)
    return parts.port or URL_DEFAULT_PORTS[parts.scheme]


def external_endpoint(values: Mapping, key: str) -> External | None:
    """The managed service behind endpoint `key`, when the values point at one; else None."""
    g = values.get("global") or {}
    if key == "coordinator":
        url = (g.get("seamless") or {}).get("coordinator_url") or ""
        on = bool((values.get("seamless-coordinator") or {}).get("enabled"))
        if on or not url:
            return None
        cidrs = (g.get("networkPolicy") or {}).get("coordinatorCidrs") or []
        return External(key, tuple(cidrs), (_url_port(url),))
    block = g.get(DEPENDENCY_BLOCK[key]) or {}
    if block.get("enabled"):
        return None
    ext = block.get("external") or {}
    cidrs = tuple(ext.get("cidrs") or [])
    if key == "redis" and ext.get("host"):
        return External(key, cidrs, (int(ext.get("port") or 6379),))
    if key == "postgres" and ext.get("host"):
        return External(key, cidrs, (int(ext.get("port") or 5432),))
    if key == "questdb" and ext.get("host"):
        return External(key, cidrs, (int(ext.get("port") or 8812),))
    if key == "neo4j" and ext.get("uri"):
        return External(key, cidrs, (_url_port(ext["uri"]),))
    if key == "s3" and ext.get("endpoint"):
        return External(key, cidrs, (_url_port(ext["endpoint"]),))
    if key == "controlbus" and ext.get("brokers"):
        return External(key, cidrs, tuple(sorted({int(str(b).rsplit(":", 1)[1]) for b in ext["brokers"]})))
    return None


# --- the network --------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Network:
    release_pods: tuple[Endpoint, ...]
    probes: tuple[Endpoint, ...]  # everything around the release
    externals: Mapping[str, tuple[Endpoint, ...]]  # graph component -> addresses of its managed service
    dns: tuple[Endpoint, ...]
    components: Mapping[str, str | None]  # release pod name -> its component label

    @property
    def everything(self) -> tuple[Endpoint, ...]:
        return self.release_pods + self.probes


def _address_in(cidr: str) -> str:
    network = ipaddress.ip_network(cidr, strict=False)
    return str(network.network_address + (1 if network.num_addresses > 2 else 0))


def _outside_address(cidrs: Iterable[str]) -> str:
    nets = [ipaddress.ip_network(c, strict=False) for c in cidrs]
    for candidate in ("198.51.100.7", "203.0.113.9", "192.0.2.33", "100.64.7.7"):
        address = ipaddress.ip_address(candidate)
        if not any(address.version == n.version and address in n for n in nets) and address not in POD_NETWORK:
            return candidate
    raise AssertionError("every candidate outside address is inside a configured CIDR")


def build_network(rendered: Rendered, values: Mapping, graph: Mapping | None = None) -> Network:
    graph = graph or load_graph()
    hosts = POD_NETWORK.hosts()
    pods = []
    components: dict[str, str | None] = {}
    for workload in workloads(rendered):
        ports = tuple(
            ContainerPort(int(p["containerPort"]), p.get("name"), p.get("protocol", "TCP"))
            for c in (workload.spec.get("containers") or []) + (workload.spec.get("initContainers") or [])
            for p in c.get("ports") or []
        )
        namespace = (workload.obj.get("metadata") or {}).get("namespace") or NAMESPACE
        pod = Endpoint(
            name=workload.ref, ip=str(next(hosts)), namespace=namespace, labels=dict(workload.labels), ports=ports
        )
        pods.append(pod)
        components[pod.name] = workload.labels.get(COMPONENT)
    np = (values.get("global") or {}).get("networkPolicy") or {}
    dns_conf = np.get("dns") or {}
    dns = []
    if dns_conf.get("namespace"):
        dns.append(
            Endpoint(
                "probe:cluster-dns",
                str(next(hosts)),
                dns_conf["namespace"],
                dict(dns_conf.get("podLabels") or {}),
                (ContainerPort(53, "dns", "UDP"),),
            )
        )
    externals: dict[str, tuple[Endpoint, ...]] = {}
    all_cidrs: list[str] = []
    for name, component in graph["components"].items():
        key = (component or {}).get("endpoint")
        ext = external_endpoint(values, key) if key else None
        if ext and not component_on(values, name, graph):
            externals[name] = tuple(Endpoint(f"external:{name}@{cidr}", _address_in(cidr)) for cidr in ext.cidrs)
            all_cidrs += ext.cidrs
    for cidr in dns_conf.get("cidrs") or []:
        dns.append(Endpoint(f"probe:dns@{cidr}", _address_in(cidr)))
        all_cidrs.append(cidr)
    probes = [
        *dns,
        Endpoint("probe:pod-in-other-namespace", str(next(hosts)), "elsewhere", {"app": "strategy"}),
        Endpoint("probe:non-release-pod-same-namespace", str(next(hosts)), NAMESPACE, {"app": "stranger"}),
        Endpoint("probe:outside-cluster", _outside_address(all_cidrs)),
        *(e for group in externals.values() for e in group),
    ]
    return Network(tuple(pods), tuple(probes), externals, tuple(dns), components)


def candidate_ports(network: Network, values: Mapping) -> list[tuple[int, str]]:
    numbers = {int(p) for p in ((values.get("global") or {}).get("ports") or {}).values()}
    numbers |= {p.number for e in network.everything for p in e.ports}
    numbers |= {SENTINEL_PORT, 53, 80, 443}
    for name in network.externals:
        key = (load_graph()["components"][name] or {}).get("endpoint")
        ext = external_endpoint(values, key)
        numbers |= set(ext.ports if ext else ())
    return [(n, proto) for n in sorted(numbers) for proto in ("TCP", "UDP")]


Connection = tuple[str, str, int, str]


def allowed_connections(rendered: Rendered, network: Network, values: Mapping) -> set[Connection]:
    cluster = Cluster(rendered.by_kind("NetworkPolicy"), NAMESPACE, {"elsewhere": {}, "kube-system": {}, NAMESPACE: {}})
    release = {p.name for p in network.release_pods}
    ports = candidate_ports(network, values)
    allowed = set()
    for src in network.everything:
        for dst in network.everything:
            if src.name not in release and dst.name not in release:
                continue  # traffic between non-release endpoints is not the chart's business
            allowed |= {(src.name, dst.name, port, proto) for port, proto in cluster.allowed_ports(src, dst, ports)}
    return allowed


def declared_connections(network: Network, values: Mapping, graph: Mapping | None = None) -> set[Connection]:
    """What the graph declares, direction by direction, as the policies must implement it: a connection is
    declared when the source may send it (its declared egress; anything outside the release may) and the
    target may accept it (its declared ingress; anything that is not a pod of the release does)."""
    graph = graph or load_graph()
    g = values.get("global") or {}
    gports = g.get("ports") or {}
    release = {p.name for p in network.release_pods}
    component = network.components
    on = {name: component_on(values, name, graph) for name in graph["components"]}
    # (source component, target component) -> ports, for edges between pods of the release
    pod_edges: dict[tuple[str, str], set[int]] = {}
    # source component -> [(target endpoint names or None for any destination, ports)]
    outbound: dict[str, list[tuple[set[str] | None, set[int]]]] = {}
    for edge in graph["edges"]:
        if not _all_true(values, edge.get("when")) or (edge.get("unless") and on.get(edge["unless"])):
            continue
        if not on[edge["from"]]:
            continue
        if on[edge["to"]]:
            pod_edges.setdefault((edge["from"], edge["to"]), set()).update(int(gports[k]) for k in edge["ports"])
            continue
        key = (graph["components"][edge["to"]] or {}).get("endpoint")
        ext = external_endpoint(values, key) if key else None
        if ext is None:
            continue
        targets = {e.name for e in network.externals.get(edge["to"], ())} if ext.cidrs else None
        outbound.setdefault(edge["from"], []).append((targets, set(ext.ports)))
    cluster = Cluster([], NAMESPACE, {})
    inbound = []  # (target component, peers, ports): traffic from outside the release
    for rule in graph.get("ingress") or []:
        if not _all_true(values, rule.get("when")):
            continue
        peers = value_at(values, rule["from"]) or []
        inbound.append((rule["to"], peers, {int(gports[k]) for k in rule["ports"]}))
    dns_port = int(((g.get("networkPolicy") or {}).get("dns") or {}).get("port") or 53)
    dns = {d.name for d in network.dns}

    def egress(src: Endpoint, dst: Endpoint, port: int, proto: str) -> bool:
        if src.name not in release:
            return True
        if dst.name in dns and port == dns_port:
            return True
        if proto != "TCP":
            return False
        if dst.name in release and port in pod_edges.get((component[src.name], component[dst.name]), ()):
            return True
        return any(
            (targets is None or dst.name in targets) and port in ports
            for targets, ports in outbound.get(component[src.name], ())
        )

    def ingress(src: Endpoint, dst: Endpoint, port: int, proto: str) -> bool:
        if dst.name not in release:
            return True
        if proto != "TCP":
            return False
        if src.name in release and port in pod_edges.get((component[src.name], component[dst.name]), ()):
            return True
        return any(
            to == component[dst.name]
            and port in ports
            and any(cluster._peer_matches(peer, NAMESPACE, src) for peer in peers)
            for to, peers, ports in inbound
        )

    declared: set[Connection] = set()
    ports = candidate_ports(network, values)
    for src in network.everything:
        for dst in network.everything:
            if src.name not in release and dst.name not in release:
                continue
            declared |= {
                (src.name, dst.name, port, proto)
                for port, proto in ports
                if egress(src, dst, port, proto) and ingress(src, dst, port, proto)
            }
    return declared


def with_objects(rendered: Rendered, extra: Sequence[dict]) -> Rendered:
    """The render plus extra objects (e.g. stand-in pods), for evaluating the policies around them."""
    items = rendered.items + tuple(RenderedObject(source="(test stand-in)", obj=o) for o in extra)
    return dataclasses.replace(rendered, items=items)


def describe(connections: Iterable[Connection]) -> str:
    return "\n".join(f"  {s} -> {d} {p}/{proto}" for s, d, p, proto in sorted(connections))

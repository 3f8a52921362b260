"""Kubernetes NetworkPolicy semantics (networking.k8s.io/v1), evaluated offline.

Written from the API reference, independent of the chart: policies select pods in their own namespace
(spec.podSelector); a pod selected by a policy whose policyTypes include Ingress (Egress) is isolated
for that direction and accepts only what some rule of some such policy allows; the two directions are
independent, and a connection needs the source's egress AND the target's ingress. Details honoured:

- policyTypes absent: Ingress, plus Egress when spec.egress is present;
- a rule with `from`/`to` absent or empty matches every peer; with `ports` absent or empty, every port;
- a peer with only podSelector selects pods of the policy's namespace; with namespaceSelector (and an
  optional podSelector) pods of the matching namespaces; ipBlock an address range minus `except`.
  ipBlock is treated as able to match pod addresses too (what most CNIs do), the conservative reading;
- selectors: matchLabels plus matchExpressions (In, NotIn, Exists, DoesNotExist); {} matches all;
- ports: protocol (default TCP), numeric or named (resolved on the destination pod's containerPorts),
  port absent = every port of that protocol, endPort for ranges.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Iterable, Mapping, Sequence


@dataclasses.dataclass(frozen=True)
class ContainerPort:
    number: int
    name: str | None = None
    protocol: str = "TCP"


@dataclasses.dataclass(frozen=True)
class Endpoint:
    """A pod (namespace set) or an address outside the cluster (namespace None)."""

    name: str
    ip: str
    namespace: str | None = None
    labels: Mapping[str, str] = dataclasses.field(default_factory=dict)
    ports: tuple[ContainerPort, ...] = ()

    @property
    def is_pod(self) -> bool:
        return self.namespace is not None


def selector_matches(selector: Mapping | None, labels: Mapping[str, str]) -> bool:
    """A LabelSelector; None means "no selector given" and is handled by the caller."""
    selector = selector or {}
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != str(value):
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], [str(v) for v in expr.get("values") or []]
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and key in labels and labels[key] in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
        if op not in ("In", "NotIn", "Exists", "DoesNotExist"):
            raise ValueError(f"unknown label selector operator {op!r}")
    return True


def policy_types(policy: Mapping) -> set[str]:
    spec = policy.get("spec") or {}
    declared = spec.get("policyTypes")
    if declared:
        return set(declared)
    return {"Ingress", "Egress"} if "egress" in spec else {"Ingress"}


class Cluster:
    """Namespaces (with labels), policies, and the question: is this connection allowed?"""

    def __init__(
        self, policies: Iterable[Mapping], default_namespace: str, namespace_labels: Mapping[str, Mapping[str, str]]
    ):
        self.default_namespace = default_namespace
        self.namespace_labels = {
            ns: {"kubernetes.io/metadata.name": ns, **labels} for ns, labels in namespace_labels.items()
        }
        self.policies = []
        for policy in policies:
            if policy.get("kind") != "NetworkPolicy":
                continue
            ns = (policy.get("metadata") or {}).get("namespace") or default_namespace
            self.policies.append((ns, policy))
        self._selecting_cache: dict[tuple[str, str], list] = {}

    def _selecting(self, pod: Endpoint, direction: str) -> list[tuple[str, Mapping]]:
        if not pod.is_pod:
            return []
        return [
            (ns, p)
            for ns, p in self.policies
            if ns == pod.namespace
            and direction in policy_types(p)
            and selector_matches((p.get("spec") or {}).get("podSelector"), pod.labels)
        ]

    def _peer_matches(self, peer: Mapping, policy_ns: str, other: Endpoint) -> bool:
        if "ipBlock" in peer:
            block = peer["ipBlock"]
            address = ipaddress.ip_address(other.ip)
            network = ipaddress.ip_network(block["cidr"], strict=False)
            if address.version != network.version or address not in network:
                return False
            return not any(
                address in ipaddress.ip_network(e, strict=False)
                for e in block.get("except") or []
                if ipaddress.ip_network(e, strict=False).version == address.version
            )
        if not other.is_pod:
            return False  # pod and namespace selectors only select pods
        if "namespaceSelector" in peer:
            ns_labels = self.namespace_labels.get(other.namespace, {"kubernetes.io/metadata.name": other.namespace})
            if not selector_matches(peer["namespaceSelector"], ns_labels):
                return False
        elif other.namespace != policy_ns:
            return False
        if "podSelector" in peer:
            return selector_matches(peer["podSelector"], other.labels)
        return True

    @staticmethod
    def _port_matches(entries: Sequence[Mapping] | None, dst: Endpoint, port: int, protocol: str) -> bool:
        if not entries:
            return True
        for entry in entries:
            if entry.get("protocol", "TCP") != protocol:
                continue
            spec = entry.get("port")
            if spec is None:
                return True
            if isinstance(spec, str) and not spec.isdigit():
                numbers = [p.number for p in dst.ports if p.name == spec and p.protocol == protocol]
                if port in numbers:
                    return True
                continue
            low = int(spec)
            high = int(entry.get("endPort", low))
            if low <= port <= high:
                return True
        return False

    def _port_rules(self, pod: Endpoint, direction: str, other: Endpoint) -> list | None:
        """The `ports` lists of pod's rules (direction) whose peers match `other`; None: not isolated."""
        key = (pod.name, direction)
        if key not in self._selecting_cache:
            self._selecting_cache[key] = self._selecting(pod, direction)
        selecting = self._selecting_cache[key]
        if not selecting:
            return None
        rules_key, peers_key = ("ingress", "from") if direction == "Ingress" else ("egress", "to")
        matching = []
        for ns, policy in selecting:
            for rule in (policy.get("spec") or {}).get(rules_key) or []:
                peers = rule.get(peers_key)
                if peers and not any(self._peer_matches(peer, ns, other) for peer in peers):
                    continue
                matching.append(rule.get("ports"))
        return matching

    def allowed_ports(self, src: Endpoint, dst: Endpoint, candidates: Iterable[tuple[int, str]]) -> set:
        """The (port, protocol) candidates on which src may open a connection to dst."""
        egress = self._port_rules(src, "Egress", dst)
        ingress = self._port_rules(dst, "Ingress", src)
        allowed = set()
        for port, protocol in candidates:
            if egress is not None and not any(self._port_matches(p, dst, port, protocol) for p in egress):
                continue
            if ingress is not None and not any(self._port_matches(p, dst, port, protocol) for p in ingress):
                continue
            allowed.add((port, protocol))
        return allowed

    def allowed(self, src: Endpoint, dst: Endpoint, port: int, protocol: str = "TCP") -> bool:
        """Traffic from src to dst:port/protocol passes src's egress and dst's ingress policies."""
        return bool(self.allowed_ports(src, dst, [(port, protocol)]))

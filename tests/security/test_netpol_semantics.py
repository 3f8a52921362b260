"""The NetworkPolicy evaluator the graph tests rely on, checked against the semantics of the
Kubernetes API reference (networking.k8s.io/v1 NetworkPolicySpec) on small hand-made cases."""

from __future__ import annotations

import pytest

from tests.security.netpol import Cluster, ContainerPort, Endpoint

NS = "app"
WEB = Endpoint("web", "10.1.0.1", NS, {"role": "web"}, (ContainerPort(8080, "http"), ContainerPort(53, "dns", "UDP")))
DB = Endpoint("db", "10.1.0.2", NS, {"role": "db", "tier": "data"}, (ContainerPort(5432, "pg"),))
OTHER_NS_WEB = Endpoint("other-web", "10.1.0.3", "other", {"role": "web"})
OUTSIDE = Endpoint("outside", "192.0.2.10")
NAMESPACES = {NS: {"team": "a"}, "other": {"team": "b"}}


def policy(spec: dict, name: str = "p", namespace: str | None = None) -> dict:
    meta = {"name": name, **({"namespace": namespace} if namespace else {})}
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": meta, "spec": spec}


def cluster(*policies: dict) -> Cluster:
    return Cluster(policies, NS, NAMESPACES)


def test_no_policy_allows_everything() -> None:
    c = cluster()
    assert c.allowed(WEB, DB, 5432)
    assert c.allowed(OUTSIDE, DB, 1)


def test_selected_pod_with_no_rules_is_isolated_for_ingress_only() -> None:
    c = cluster(policy({"podSelector": {"matchLabels": {"role": "db"}}}))  # policyTypes default: Ingress
    assert not c.allowed(WEB, DB, 5432)
    assert c.allowed(DB, WEB, 8080)  # egress of db is not isolated


def test_policy_types_default_includes_egress_when_egress_rules_exist() -> None:
    c = cluster(
        policy(
            {
                "podSelector": {"matchLabels": {"role": "web"}},
                "egress": [{"to": [{"podSelector": {"matchLabels": {"role": "db"}}}]}],
            }
        )
    )
    assert c.allowed(WEB, DB, 5432)
    assert not c.allowed(WEB, OUTSIDE, 443)
    assert not c.allowed(OUTSIDE, WEB, 8080)  # and Ingress (always) with no ingress rules


def test_pod_selector_peer_selects_only_the_policy_namespace() -> None:
    c = cluster(
        policy(
            {
                "podSelector": {"matchLabels": {"role": "db"}},
                "ingress": [{"from": [{"podSelector": {"matchLabels": {"role": "web"}}}]}],
            }
        )
    )
    assert c.allowed(WEB, DB, 5432)
    assert not c.allowed(OTHER_NS_WEB, DB, 5432)


def test_namespace_and_pod_selector_in_one_peer_is_and_in_two_peers_is_or() -> None:
    both = cluster(
        policy(
            {
                "podSelector": {"matchLabels": {"role": "db"}},
                "ingress": [
                    {
                        "from": [
                            {
                                "namespaceSelector": {"matchLabels": {"team": "b"}},
                                "podSelector": {"matchLabels": {"role": "web"}},
                            }
                        ]
                    }
                ],
            }
        )
    )
    assert both.allowed(OTHER_NS_WEB, DB, 5432)
    assert not both.allowed(WEB, DB, 5432)
    either = cluster(
        policy(
            {
                "podSelector": {"matchLabels": {"role": "db"}},
                "ingress": [
                    {
                        "from": [
                            {"namespaceSelector": {"matchLabels": {"team": "b"}}},
                            {"podSelector": {"matchLabels": {"role": "web"}}},
                        ]
                    }
                ],
            }
        )
    )
    assert either.allowed(OTHER_NS_WEB, DB, 5432)
    assert either.allowed(WEB, DB, 5432)


def test_empty_from_admits_everyone_and_empty_ports_every_port() -> None:
    c = cluster(policy({"podSelector": {"matchLabels": {"role": "db"}}, "ingress": [{}]}))
    assert c.allowed(OUTSIDE, DB, 1)
    assert c.allowed(OTHER_NS_WEB, DB, 65535, "UDP")


def test_ip_block_with_except() -> None:
    c = cluster(
        policy(
            {
                "podSelector": {},
                "policyTypes": ["Egress"],
                "egress": [{"to": [{"ipBlock": {"cidr": "192.0.2.0/24", "except": ["192.0.2.128/25"]}}]}],
            }
        )
    )
    assert c.allowed(WEB, OUTSIDE, 443)
    assert not c.allowed(WEB, Endpoint("x", "192.0.2.200"), 443)
    assert not c.allowed(WEB, Endpoint("y", "198.51.100.1"), 443)


def test_ports_protocol_named_ports_and_ranges() -> None:
    c = cluster(
        policy(
            {
                "podSelector": {},
                "ingress": [
                    {"ports": [{"port": "pg"}, {"protocol": "UDP", "port": 53}, {"port": 9000, "endPort": 9002}]}
                ],
            }
        )
    )
    assert c.allowed(WEB, DB, 5432)  # named port "pg" of db
    assert not c.allowed(DB, WEB, 5432)  # web has no port named pg
    assert c.allowed(DB, WEB, 53, "UDP")
    assert not c.allowed(DB, WEB, 53, "TCP")  # protocol defaults to TCP; this entry is UDP
    assert c.allowed(DB, WEB, 9001)
    assert not c.allowed(DB, WEB, 9003)


@pytest.mark.parametrize(
    ("expression", "matches_db"),
    [
        ({"key": "tier", "operator": "In", "values": ["data"]}, True),
        ({"key": "tier", "operator": "NotIn", "values": ["data"]}, False),
        ({"key": "tier", "operator": "Exists"}, True),
        ({"key": "tier", "operator": "DoesNotExist"}, False),
    ],
)
def test_match_expressions(expression: dict, matches_db: bool) -> None:
    c = cluster(policy({"podSelector": {"matchExpressions": [expression]}}))
    assert c.allowed(OUTSIDE, DB, 5432) is not matches_db
    assert c.allowed(OUTSIDE, WEB, 8080) is matches_db  # web has no tier label


def test_connection_needs_egress_of_source_and_ingress_of_target() -> None:
    egress_only = cluster(
        policy(
            {
                "podSelector": {"matchLabels": {"role": "web"}},
                "policyTypes": ["Egress"],
                "egress": [{"to": [{"podSelector": {"matchLabels": {"role": "db"}}}]}],
            },
            "web",
        ),
        policy({"podSelector": {"matchLabels": {"role": "db"}}}, "db"),
    )
    assert not egress_only.allowed(WEB, DB, 5432)
    both = cluster(
        policy(
            {
                "podSelector": {"matchLabels": {"role": "web"}},
                "policyTypes": ["Egress"],
                "egress": [{"to": [{"podSelector": {"matchLabels": {"role": "db"}}}]}],
            },
            "web",
        ),
        policy({"podSelector": {"matchLabels": {"role": "db"}}, "ingress": [{"from": [{"podSelector": {}}]}]}, "db"),
    )
    assert both.allowed(WEB, DB, 5432)


def test_policies_apply_only_in_their_namespace() -> None:
    c = cluster(policy({"podSelector": {}}, namespace="other"))
    assert c.allowed(OUTSIDE, WEB, 8080)
    assert not c.allowed(OUTSIDE, OTHER_NS_WEB, 8080)

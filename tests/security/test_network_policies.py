"""NetworkPolicies, evaluated as a graph: for every ordered pair of endpoints (rendered workloads and
probes around them) and every port, the rendered policies allow exactly the edges files/service-graph.yaml
declares, for every shipped values set and for the scenarios below. Plus the design's own rules, stated
here independently of the graph file, and the refusals of values the policies cannot honour."""

from __future__ import annotations

import copy

import pytest

from tests.harness import render_chart, render_error
from tests.security.graph import (
    COMPONENT,
    INSTANCE,
    NAMESPACE,
    RELEASE,
    allowed_connections,
    build_network,
    component_on,
    declared_connections,
    describe,
    load_graph,
    merged_values,
    with_objects,
)
from tests.security.netpol import Cluster, Endpoint
from tests.security.workloads import workloads

SECRET = "managed-credentials"
# Every dependency managed, each at its own address range; coordinator bundled.
ALL_MANAGED = {
    "seamless-coordinator": {"enabled": True},
    "global": {
        "seamless": {"coordinator_url": "http://seamless-coordinator:8080"},
        "redis": {
            "enabled": False,
            "external": {
                "host": "redis.example.internal",
                "port": 6380,
                "tls": True,
                "existingSecret": SECRET,
                "cidrs": ["10.10.1.0/24"],
            },
        },
        "postgres": {
            "enabled": False,
            "external": {
                "host": "pg.example.internal",
                "existingSecret": SECRET,
                "cidrs": ["10.10.2.0/24", "10.10.3.8/32"],
            },
        },
        "neo4j": {
            "enabled": False,
            "external": {
                "uri": "neo4j+s://graph.example.internal",
                "existingSecret": SECRET,
                "cidrs": ["10.10.4.0/24"],
            },
        },
        "questdb": {
            "enabled": False,
            "external": {
                "host": "qdb.example.internal",
                "port": 18812,
                "existingSecret": SECRET,
                "cidrs": ["10.10.5.0/24"],
            },
        },
        "minio": {
            "enabled": False,
            "external": {
                "endpoint": "https://s3.example.internal",
                "existingSecret": SECRET,
                "cidrs": ["10.10.6.0/24"],
            },
        },
        "controlbus": {
            "enabled": False,
            "external": {
                "brokers": ["k0.example.internal:9092", "k1.example.internal:19092"],
                "cidrs": ["10.10.7.0/24"],
            },
        },
    },
}
# Bundled everything, coordinator with its own Redis and reachable from a namespace of workers.
COORDINATOR_WORKERS = {
    "seamless-coordinator": {"enabled": True},
    "global": {
        "seamless": {"coordinator_url": "http://seamless-coordinator:8080"},
        "redis": {"dedicatedCoordinator": True},
        "networkPolicy": {
            "gateway": {
                "from": [
                    {
                        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "elsewhere"}},
                        "podSelector": {"matchLabels": {"app": "strategy"}},
                    }
                ]
            },
            "coordinator": {
                "from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "elsewhere"}}}]
            },
            "dns": {"cidrs": ["169.254.20.10/32"]},
        },
    },
}
# A coordinator outside the release; the gateway admits nobody from outside; some services off.
EXTERNAL_COORDINATOR = {
    "seamless-coordinator": {"enabled": False},
    "worldservice": {"enabled": False},
    "global": {
        "seamless": {"coordinator_url": "https://coordinator.example.internal:8443"},
        "networkPolicy": {"coordinatorCidrs": ["10.20.0.0/28"], "gateway": {"from": []}},
        "neo4j": {"enabled": False},
    },
}
# A coordinator elsewhere (e.g. another namespace) with no address range given: its port, anywhere.
COORDINATOR_ANYWHERE = {
    "global": {
        "profile": "prod",
        "seamless": {"coordinator_url": "http://coordinator.shared.svc:8080"},
        "networkPolicy": {"coordinatorCidrs": []},
    },
}
# The gateway exposed through an Ingress and an HTTPRoute: only their controllers' pods get in from outside
# (the ingress controller as pods of another namespace, the Gateway API proxies by address).
EXPOSED = {
    "global": {
        "gatewayIngress": {"enabled": True, "host": "qmtl.example.com"},
        "gatewayHttpRoute": {"enabled": True, "parentRefs": [{"name": "public"}], "hostnames": ["qmtl.example.org"]},
        "networkPolicy": {
            "gateway": {"from": []},
            "ingressController": {
                "from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "elsewhere"}}}]
            },
            "gatewayApi": {"from": [{"ipBlock": {"cidr": "198.51.100.0/24"}}]},
        },
    },
}
SCENARIOS = {
    "defaults": {},
    "exposed": EXPOSED,
    "all-managed": ALL_MANAGED,
    "coordinator-workers": COORDINATOR_WORKERS,
    "external-coordinator": EXTERNAL_COORDINATOR,
    "coordinator-anywhere": COORDINATOR_ANYWHERE,
}


def _check_graph(rendered, values) -> None:
    network = build_network(rendered, values)
    allowed = allowed_connections(rendered, network, values)
    declared = declared_connections(network, values)
    extra, missing = allowed - declared, declared - allowed
    differs = bool(extra or missing)
    assert not differs, (
        f"rendered NetworkPolicies differ from files/service-graph.yaml\n"
        f"allowed but not declared:\n{describe(extra) or '  (none)'}\n"
        f"declared but not allowed:\n{describe(missing) or '  (none)'}"
    )


def test_shipped_values_set_allows_exactly_the_declared_graph(value_set) -> None:
    rendered = render_chart(values_files=value_set.files)
    values = merged_values(files=value_set.files)
    assert values["global"]["networkPolicy"]["enabled"], f"{value_set.name} ships with NetworkPolicies off"
    _check_graph(rendered, values)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_scenario_allows_exactly_the_declared_graph(scenario: str) -> None:
    data = SCENARIOS[scenario]
    _check_graph(render_chart(data), merged_values(dicts=[data]))


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_policies_match_the_graph_over_every_declared_component(scenario: str) -> None:
    """The generator, before every workload exists: one pod per component that the values switch on,
    labelled as qmtl.selectorLabels labels it, plus the rendered workloads of other components."""
    data = SCENARIOS[scenario]
    rendered = render_chart(data)
    values = merged_values(dicts=[data])
    graph = load_graph()
    rendered_components = {w.labels.get(COMPONENT) for w in workloads(rendered)}
    synthetic = [
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": f"synthetic-{name}",
                "labels": {"app.kubernetes.io/name": name, INSTANCE: RELEASE, COMPONENT: name},
            },
            "spec": {"containers": [{"name": "main", "image": "example:1"}]},
        }
        for name in graph["components"]
        if name not in rendered_components and component_on(values, name, graph)
    ]
    _check_graph(with_objects(rendered, synthetic), values)


# --- the design's rules, independent of the graph file ------------------------------------------------
def _cluster_and_pods(data: dict):
    """The rendered policies, one stand-in pod per component the graph declares, and pods around them."""
    rendered = render_chart(data)
    cluster = Cluster(rendered.by_kind("NetworkPolicy"), NAMESPACE, {"elsewhere": {}})
    pods = {
        name: Endpoint(name, f"10.244.9.{index + 1}", NAMESPACE, {INSTANCE: RELEASE, COMPONENT: name})
        for index, name in enumerate(load_graph()["components"])
    }
    outsiders = {
        "stranger": Endpoint("stranger", "10.244.8.1", NAMESPACE, {"app": "stranger"}),
        "other-namespace": Endpoint("other-namespace", "10.244.8.2", "elsewhere", {"app": "strategy"}),
        "outside": Endpoint("outside", "198.51.100.7"),
        # a pod of ANOTHER release of the chart in the same namespace must not pass as ours
        "other-release": Endpoint("other-release", "10.244.8.3", NAMESPACE, {INSTANCE: "other", COMPONENT: "gateway"}),
    }
    return rendered, cluster, pods, outsiders


def test_neo4j_is_reachable_only_from_dagmanager() -> None:
    _, cluster, pods, outsiders = _cluster_and_pods(COORDINATOR_WORKERS)
    ports = set(merged_values()["global"]["ports"].values())
    reach = {
        name
        for name, src in {**pods, **outsiders}.items()
        if any(cluster.allowed(src, pods["neo4j"], p) for p in ports)
    }
    # the design's rule, plus the chart's own schema Job and its helm test
    assert reach == {"dagmanager", "neo4j-schema", "helm-test-neo4j"}


def test_controlbus_kafka_listener_is_reachable_only_from_qmtl_pods() -> None:
    _, cluster, pods, outsiders = _cluster_and_pods(COORDINATOR_WORKERS)
    kafka = merged_values()["global"]["ports"]["kafka"]
    reach = {name for name, src in {**pods, **outsiders}.items() if cluster.allowed(src, pods["controlbus"], kafka)}
    # QMTL's services, the other brokers, and the helm test that checks this listener as QMTL's clients see it
    assert reach == {"gateway", "dagmanager", "worldservice", "controlbus", "helm-test-controlbus"}


def test_nothing_outside_the_release_reaches_a_dependency() -> None:
    _, cluster, pods, outsiders = _cluster_and_pods(COORDINATOR_WORKERS)
    ports = set(merged_values()["global"]["ports"].values())
    for dep in ("controlbus", "redis", "postgres", "neo4j", "questdb", "minio"):
        for name, src in outsiders.items():
            open_ports = {p for p in ports if cluster.allowed(src, pods[dep], p)}
            assert not open_ports, f"{name} reaches {dep} on {sorted(open_ports)}"


def test_gateway_ingress_source_is_configurable() -> None:
    _, cluster, pods, outsiders = _cluster_and_pods(COORDINATOR_WORKERS)
    port = merged_values()["global"]["ports"]["gateway"]
    assert cluster.allowed(outsiders["other-namespace"], pods["gateway"], port)
    assert not cluster.allowed(outsiders["stranger"], pods["gateway"], port)
    assert not cluster.allowed(outsiders["outside"], pods["gateway"], port)
    _, closed, pods, outsiders = _cluster_and_pods(EXTERNAL_COORDINATOR)
    assert not any(closed.allowed(src, pods["gateway"], port) for src in outsiders.values())


def test_metrics_scrapers_reach_only_the_metrics_ports_and_only_when_admitted() -> None:
    ports = merged_values()["global"]["ports"]
    metrics = {"gateway": ports["gateway"], "worldservice": ports["worldservice"]}
    metrics["seamless-coordinator"] = ports["coordinatorMetrics"]
    prometheus = Endpoint("prometheus", "10.244.8.9", "monitoring", {"app": "prometheus"})
    admitted = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
    scraped = copy.deepcopy(COORDINATOR_WORKERS)
    scraped["global"]["networkPolicy"]["metrics"] = {"from": [admitted]}
    for values, expected in ((COORDINATOR_WORKERS, set()), (scraped, set(metrics))):
        rendered = render_chart(values)
        cluster = Cluster(rendered.by_kind("NetworkPolicy"), NAMESPACE, {"monitoring": {}})
        pods = {
            name: Endpoint(name, f"10.244.9.{index + 1}", NAMESPACE, {INSTANCE: RELEASE, COMPONENT: name})
            for index, name in enumerate(load_graph()["components"])
        }
        reached = {name for name, port in metrics.items() if cluster.allowed(prometheus, pods[name], port)}
        assert reached == expected
        # nothing else of the stack: not the coordinator's API, not dagmanager, not a dependency
        others = {(n, p) for n in pods for p in set(ports.values())} - set(metrics.items())
        assert not [(n, p) for n, p in others if cluster.allowed(prometheus, pods[n], p)]


def test_every_pod_may_resolve_names_and_nothing_else_leaves_by_default() -> None:
    _, cluster, pods, _ = _cluster_and_pods({})
    dns = Endpoint("coredns", "10.244.7.1", "kube-system", {"k8s-app": "kube-dns"})
    internet = Endpoint("internet", "198.51.100.7")
    for name, pod in pods.items():
        assert cluster.allowed(pod, dns, 53, "UDP"), name
        assert cluster.allowed(pod, dns, 53, "TCP"), name
        assert not cluster.allowed(pod, dns, 80), name
        assert not any(cluster.allowed(pod, internet, p) for p in (53, 80, 443)), name


def test_managed_dependency_is_reached_only_at_its_cidr_and_port() -> None:
    _, cluster, pods, _ = _cluster_and_pods(ALL_MANAGED)
    inside = Endpoint("managed-redis", "10.10.1.20")
    elsewhere = Endpoint("elsewhere", "10.10.9.20")
    assert cluster.allowed(pods["gateway"], inside, 6380)
    assert not cluster.allowed(pods["gateway"], inside, 6379)
    assert not cluster.allowed(pods["gateway"], elsewhere, 6380)
    assert not cluster.allowed(pods["dagmanager"], inside, 6380)
    kafka_b = Endpoint("broker", "10.10.7.5")
    assert cluster.allowed(pods["dagmanager"], kafka_b, 19092)
    assert cluster.allowed(pods["dagmanager"], kafka_b, 9092)
    neo = Endpoint("graph", "10.10.4.9")
    assert cluster.allowed(pods["dagmanager"], neo, 7687)
    assert not cluster.allowed(pods["gateway"], neo, 7687)
    s3 = Endpoint("s3", "10.10.6.9")  # nothing in the release talks to S3 (the coordinator uses none)
    assert not cluster.allowed(pods["seamless-coordinator"], s3, 443)
    assert not cluster.allowed(pods["gateway"], s3, 443)


def test_policies_are_off_when_disabled() -> None:
    rendered = render_chart({"global": {"networkPolicy": {"enabled": False}}})
    assert not rendered.by_kind("NetworkPolicy")


def test_every_rendered_pod_is_covered_and_declared(value_set) -> None:
    """Default deny covers a pod only if it carries the release's instance label; a pod whose component
    the graph does not declare gets no edge at all."""
    rendered = render_chart(values_files=value_set.files)
    graph = load_graph()
    seen: dict[str, str] = {}
    for workload in workloads(rendered):
        labels = workload.labels
        assert labels.get(INSTANCE) == RELEASE, f"{workload.ref}: pod lacks {INSTANCE}={RELEASE}"
        component = labels.get(COMPONENT)
        assert component in graph["components"], (
            f"{workload.ref}: component {component!r} is not declared in files/service-graph.yaml "
            "(add it with its edges)"
        )
        assert component not in seen, (
            f"{workload.ref} and {seen.get(component)} share component {component!r}: the policies cannot "
            "tell them apart; give each workload its own component"
        )
        seen[component] = workload.ref


def test_every_policy_selects_rendered_pods(value_set) -> None:
    """A component the graph switches on is really rendered: no policy guards nothing, and the graph's
    `when` conditions agree with the subcharts' own."""
    rendered = render_chart(values_files=value_set.files)
    labels = [w.labels for w in workloads(rendered)]
    for policy in rendered.by_kind("NetworkPolicy"):
        selector = policy["spec"]["podSelector"].get("matchLabels") or {}
        matched = [lab for lab in labels if all(lab.get(k) == v for k, v in selector.items())]
        assert matched, f"NetworkPolicy/{policy['metadata']['name']} selects no rendered pod ({selector})"


# --- values the policies cannot honour ----------------------------------------------------------------
# Shapes values.schema.json refuses first (tests/validation covers that) are tested here with the schema
# skipped: the templates keep their own second line for installs that skip it.
SKIP_SCHEMA = ("--skip-schema-validation",)


# (a managed S3 has no consumer pod in the release, so no egress rule needs its CIDRs)
@pytest.mark.parametrize("dep", ["redis", "postgres", "neo4j", "questdb", "controlbus"])
def test_managed_dependency_without_cidrs_is_refused(dep: str) -> None:
    error = render_error([ALL_MANAGED, {"global": {dep: {"external": {"cidrs": []}}}}])
    assert f"global.{dep}.external.cidrs" in str(error)


def test_bad_cidr_is_refused() -> None:
    # values.schema.json refuses it first (tests/validation); this is the template's own second line
    error = render_error(
        [ALL_MANAGED, {"global": {"postgres": {"external": {"cidrs": ["pg.example.internal"]}}}}],
        extra_args=SKIP_SCHEMA,
    )
    assert "global.postgres.external.cidrs" in str(error)
    assert "not a CIDR" in str(error)


def test_external_coordinator_is_reached_at_its_cidrs_or_on_its_port_only() -> None:
    _, narrow, pods, outsiders = _cluster_and_pods(EXTERNAL_COORDINATOR)
    inside, elsewhere = Endpoint("coordinator", "10.20.0.5"), Endpoint("elsewhere", "10.30.0.5")
    assert narrow.allowed(pods["gateway"], inside, 8443)
    assert not narrow.allowed(pods["gateway"], elsewhere, 8443)
    assert not narrow.allowed(pods["dagmanager"], inside, 8443)
    _, anywhere, pods, outsiders = _cluster_and_pods(COORDINATOR_ANYWHERE)
    other_ns = Endpoint("shared-coordinator", "10.244.8.9", "shared", {"app": "coordinator"})
    assert anywhere.allowed(pods["gateway"], other_ns, 8080)
    assert anywhere.allowed(pods["gateway"], outsiders["outside"], 8080)
    assert not anywhere.allowed(pods["gateway"], other_ns, 8081)
    assert not anywhere.allowed(pods["gateway"], pods["redis"], 8080)  # the release's pods stay closed
    assert not anywhere.allowed(pods["worldservice"], other_ns, 8080)


def test_ingress_source_must_be_a_list_of_peers() -> None:
    error = render_error({"global": {"networkPolicy": {"gateway": {"from": "0.0.0.0/0"}}}}, extra_args=SKIP_SCHEMA)
    assert "global.networkPolicy.gateway.from" in str(error)
    error = render_error({"global": {"networkPolicy": {"gateway": {"from": [{}]}}}}, extra_args=SKIP_SCHEMA)
    assert "global.networkPolicy.gateway.from" in str(error)


def test_dns_target_is_required() -> None:
    error = render_error({"global": {"networkPolicy": {"dns": {"namespace": "", "cidrs": []}}}}, extra_args=SKIP_SCHEMA)
    assert "global.networkPolicy.dns" in str(error)

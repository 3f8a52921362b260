"""The optional Prometheus Operator ServiceMonitors (global.serviceMonitor, values/prometheus.yaml).

What a ServiceMonitor scrapes is checked against the other declaration of the same fact: the metrics
edges of files/service-graph.yaml (ingress from global.networkPolicy.metrics.from), which say which
component serves /metrics on which port. Each ServiceMonitor must select exactly one rendered Service of
its component and name a port of it whose number is that edge's port.
"""

from __future__ import annotations

import pytest
from qmtl_stack.render import Rendered

from tests.harness import render_chart
from tests.harness.paths import VALUES_DIR
from tests.security.graph import component_on, load_graph, merged_values

PROMETHEUS = (VALUES_DIR / "prod.yaml", VALUES_DIR / "prometheus.yaml")
METRICS_FROM = "global.networkPolicy.metrics.from"


def monitors(rendered: Rendered) -> dict[str, dict]:
    return {o["metadata"]["name"]: o for o in rendered.objects if o["kind"] == "ServiceMonitor"}


def metrics_edges(values: dict) -> dict[str, list[int]]:
    """component -> the port numbers its /metrics is scraped on, for the components that run."""
    graph = load_graph()
    ports = values["global"]["ports"]
    return {
        edge["to"]: [int(ports[key]) for key in edge["ports"]]
        for edge in graph["ingress"]
        if edge.get("from") == METRICS_FROM and component_on(values, edge["to"], graph)
    }


def test_service_monitors_exist_exactly_when_enabled(value_set) -> None:
    values = merged_values(files=value_set.files)
    found = monitors(render_chart(values_files=value_set.files))
    if values["global"]["serviceMonitor"]["enabled"]:
        assert set(found) == set(metrics_edges(values))
    else:
        assert found == {}


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"seamless-coordinator": {"enabled": False}, "global": {"seamless": {"coordinator_url": "http://c.x:8080"}}},
        {"worldservice": {"enabled": False}, "gateway": {"enabled": False}},
    ],
    ids=["all", "external-coordinator", "coordinator-only"],
)
def test_each_monitor_scrapes_the_port_its_metrics_edge_declares(overrides: dict) -> None:
    values = merged_values(files=PROMETHEUS, dicts=[overrides])
    rendered = render_chart(overrides, values_files=PROMETHEUS)
    found = monitors(rendered)
    expected = metrics_edges(values)
    assert set(found) == set(expected), "ServiceMonitors differ from the service graph's metrics edges"
    services = [o for o in rendered.objects if o["kind"] == "Service"]
    for name, monitor in found.items():
        selector = monitor["spec"]["selector"]["matchLabels"]
        selected = [s for s in services if selector.items() <= (s["metadata"].get("labels") or {}).items()]
        assert [s["metadata"]["name"] for s in selected] == [name], f"{name}: selects {selected}"
        (endpoint,) = monitor["spec"]["endpoints"]
        by_name = {p["name"]: p for p in selected[0]["spec"]["ports"]}
        assert endpoint["port"] in by_name, f"{name}: the Service has no port named {endpoint['port']}"
        assert [by_name[endpoint["port"]]["port"]] == expected[name]
        assert endpoint["path"] == "/metrics"
        assert endpoint["scheme"] == "http"


def test_interval_timeout_and_labels_come_from_values() -> None:
    chosen = {"interval": "1m", "scrapeTimeout": "45s", "labels": {"release": "prom", "app.kubernetes.io/part-of": "x"}}
    rendered = render_chart({"global": {"serviceMonitor": chosen}}, values_files=PROMETHEUS)
    found = monitors(rendered)
    assert found
    for name, monitor in found.items():
        (endpoint,) = monitor["spec"]["endpoints"]
        assert (endpoint["interval"], endpoint["scrapeTimeout"]) == ("1m", "45s")
        labels = monitor["metadata"]["labels"]
        assert labels["release"] == "prom"
        # the chart's own labels are not overridden by global.serviceMonitor.labels
        service = rendered.get("Service", name)
        assert labels["app.kubernetes.io/part-of"] == service["metadata"]["labels"]["app.kubernetes.io/part-of"]
        assert labels["app.kubernetes.io/part-of"] != "x"

"""The unified QMTL config, parsed: only keys QMTL knows, everything QMTL's prod start-up checks need,
every endpoint pointing at a Service of the same release or at an external endpoint declared in values,
and no endpoint at all when dev runs without dependencies."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from tests.core.common import (
    DEFAULTS,
    DEPENDENCIES,
    DEV_LOCAL,
    PROD,
    PROD_EXTERNAL_COORDINATOR,
    PROD_MANAGED,
    SERVICES,
    checksum,
    container,
    effective,
    endpoints_in,
    pod_spec,
    render,
    service_ports,
    write_script,
)
from tests.harness import render_chart
from tests.harness.objects import qmtl_config

# The keys QMTL's config dataclasses define (hyophyop/qmtl: GatewayConfig, GatewayEventsConfig,
# DagManagerConfig, WorldServiceConfig + the inline/server keys of WorldServiceServerConfig,
# SeamlessConfig, ConnectorsConfig; CONFIG_SECTION_NAMES + profile). Each section is built with
# Cls(**section): any other key makes the service exit.
QMTL_KEYS = {
    "": {
        "profile",
        "worldservice",
        "gateway",
        "dagmanager",
        "seamless",
        "connectors",
        "telemetry",
        "cache",
        "runtime",
        "test",
        "project",
        "risk_hub",
    },
    "gateway": {
        "host",
        "port",
        "redis_dsn",
        "database_backend",
        "database_dsn",
        "insert_sentinel",
        "controlbus_brokers",
        "controlbus_dsn",
        "controlbus_topics",
        "controlbus_group",
        "controlbus_ack_topic",
        "commitlog_bootstrap",
        "commitlog_topic",
        "commitlog_group",
        "commitlog_transactional_id",
        "worldservice_url",
        "worldservice_timeout",
        "worldservice_retries",
        "enable_worldservice_proxy",
        "enforce_live_guard",
        "rebalance_schema_version",
        "alpha_metrics_capable",
        "compute_context_contract",
        "events",
        "websocket",
        "shared_account_policy",
        "ownership",
    },
    "gateway.events": {"secret", "keys", "active_kid", "ttl", "stream_url", "fallback_url"},
    "dagmanager": {
        "neo4j_dsn",
        "neo4j_user",
        "neo4j_password",
        "memory_repo_path",
        "kafka_dsn",
        "grpc_host",
        "grpc_port",
        "http_host",
        "http_port",
        "controlbus_dsn",
        "controlbus_queue_topic",
        "enable_topic_namespace",
    },
    "worldservice": {
        "url",
        "timeout",
        "retries",
        "enable_proxy",
        "enforce_live_guard",
        "cache_ttl_seconds",
        "cache_max_entries",
        "server",
    },
    "worldservice.server": {
        "dsn",
        "redis",
        "controlbus_brokers",
        "controlbus_topic",
        "bind",
        "auth",
        "compat_rebalance_v2",
        "alpha_metrics_required",
    },
    "seamless": {
        "coordinator_url",
        "redis_dsn",
        "questdb_dsn",
        "artifact_endpoint",
        "artifact_bucket",
        "artifacts_enabled",
        "artifact_dir",
        "fingerprint_mode",
        "publish_fingerprint",
        "preview_fingerprint",
        "early_fingerprint",
        "sla_preset",
        "conformance_preset",
        "presets_file",
    },
    "connectors": {
        "ccxt_rate_limiter_redis",
        "schema_registry_url",
        "worker_id",
        "seamless_worker_id",
        "strategy_id",
        "execution_domain",
        "broker_url",
        "trade_max_retries",
        "trade_backoff",
        "ws_url",
    },
}

# What QMTL's prod start-up checks (and `config validate --target seamless`) require, per section.
PROD_REQUIRED = {
    "gateway": [
        "redis_dsn",
        "database_dsn",
        "controlbus_brokers",
        "controlbus_topics",
        "commitlog_bootstrap",
        "commitlog_topic",
    ],
    "dagmanager": ["neo4j_dsn", "kafka_dsn", "controlbus_dsn", "controlbus_queue_topic"],
    "worldservice.server": ["dsn", "redis", "controlbus_brokers", "controlbus_topic"],
    "seamless": ["coordinator_url", "redis_dsn", "questdb_dsn", "artifact_endpoint", "artifact_bucket"],
}

ALL_SETS = {
    "dev": DEFAULTS,
    "dev-local": DEV_LOCAL,
    "prod": PROD,
    "prod-managed": PROD_MANAGED,
    "prod-external-coordinator": PROD_EXTERNAL_COORDINATOR,
}
PROD_SETS = {"prod": PROD, "prod-managed": PROD_MANAGED, "prod-external-coordinator": PROD_EXTERNAL_COORDINATOR}


def _at(config: dict, path: str) -> dict:
    node = config
    for part in filter(None, path.split(".")):
        node = node[part]
    return node


@pytest.mark.parametrize("name", ALL_SETS)
def test_config_holds_only_keys_qmtl_knows(name: str) -> None:
    config = qmtl_config(render(ALL_SETS[name]))
    for path, allowed in QMTL_KEYS.items():
        try:
            section = _at(config, path)
        except KeyError:
            continue
        unknown = set(section) - allowed
        assert not unknown, f"{path or '<top>'}: keys QMTL would reject: {sorted(unknown)}"
    assert config["profile"] == ("prod" if name.startswith("prod") else "dev")


@pytest.mark.parametrize("name", PROD_SETS)
def test_prod_config_has_everything_qmtl_prod_checks_need(name: str) -> None:
    config = qmtl_config(render(PROD_SETS[name]))
    for path, keys in PROD_REQUIRED.items():
        section = _at(config, path)
        for key in keys:
            assert section.get(key) not in (None, "", []), f"{path}.{key} is missing or empty"
    assert config["gateway"]["database_backend"] == "postgres"
    assert config["seamless"]["artifacts_enabled"] is True
    # the gateway routes ControlBus messages by these exact names (no prefix by default)
    assert set(config["gateway"]["controlbus_topics"]) >= {"activation", "policy", "queue"}


def _declared_externals(values: dict) -> set[tuple[str, int]]:
    """host:port of every external endpoint the values declare."""
    g = values.get("global", {})
    found: set[tuple[str, int]] = set()
    for dep in DEPENDENCIES:
        ext = g.get(dep, {}).get("external", {})
        if "host" in ext:
            found.add((ext["host"], int(ext["port"])))
        for key in ("uri", "endpoint"):
            if key in ext:
                found |= {(h, p) for _, _, h, p in endpoints_in(ext[key])}
        for broker in ext.get("brokers", []):
            found |= {(h, p) for _, _, h, p in endpoints_in(broker)}
    url = g.get("seamless", {}).get("coordinator_url")
    if url:
        found |= {(h, p) for _, _, h, p in endpoints_in(url)}
    return found


@pytest.mark.parametrize("name", ["dev", "prod", "prod-managed", "prod-external-coordinator"])
def test_every_endpoint_points_at_a_service_of_the_release_or_a_declared_external(name: str) -> None:
    values = ALL_SETS[name]
    rendered = render(values)
    config = qmtl_config(rendered)
    services = service_ports(rendered)
    externals = _declared_externals(effective(values))
    endpoints = endpoints_in(config)
    assert endpoints, "the config names no endpoint at all"
    for path, _scheme, host, port in endpoints:
        assert (host, port) in services or (host, port) in externals, (
            f"{path} -> {host}:{port} is neither a Service of this release "
            f"({sorted(services)}) nor an external endpoint declared in values ({sorted(externals)})"
        )
    # the managed endpoints are really used (not silently replaced by bundled ones)
    used = {(h, p) for _, _, h, p in endpoints}
    assert externals <= used


def test_dev_without_dependencies_runs_local_modes_and_points_nowhere() -> None:
    rendered = render(DEV_LOCAL)
    config = qmtl_config(rendered)
    gw, dm, ws, sl = config["gateway"], config["dagmanager"], config["worldservice"], config["seamless"]
    # no dependency is rendered, and no DSN or broker list names one
    assert not (
        service_ports(rendered) and {n for n, _ in service_ports(rendered)} - {"gateway", "dagmanager", "worldservice"}
    )
    for path, _scheme, host, _port in endpoints_in(config):
        # only the core services' own URLs remain (gateway -> worldservice, the gateway's event stream)
        assert host in {"worldservice", "gateway"}, f"{path} points at {host}"
    for key in ("redis_dsn", "controlbus_brokers", "controlbus_topics", "commitlog_bootstrap"):
        assert key not in gw
    assert gw["database_backend"] == "sqlite"
    assert gw["database_dsn"].startswith("sqlite:///")
    for key in ("neo4j_dsn", "kafka_dsn", "controlbus_dsn"):
        assert key not in dm
    assert "memory_repo_path" in dm
    # WorldService refuses to start without server.dsn even in dev; without redis it keeps state in memory
    assert set(ws["server"]) == {"dsn"}
    assert ws["server"]["dsn"].startswith("sqlite:///")
    assert set(sl) <= {"artifact_bucket", "artifacts_enabled", "artifact_dir"}
    assert sl["artifacts_enabled"] is False
    assert "coordinator_url" not in sl
    assert "connectors" not in config
    # every local file QMTL writes sits in a writable emptyDir of that service's pod
    files = {
        "gateway": gw["database_dsn"].removeprefix("sqlite:///"),
        "dagmanager": dm["memory_repo_path"],
        "worldservice": ws["server"]["dsn"].removeprefix("sqlite:///"),
    }
    for service, file in files.items():
        spec = pod_spec(rendered, service)
        volumes = {v["name"]: v for v in spec["volumes"]}
        mounts = [m for m in container(spec, service)["volumeMounts"] if not m.get("readOnly")]
        holder = [m for m in mounts if Path(file).is_relative_to(m["mountPath"])]
        assert holder, f"{service}: {file} is on the read-only root filesystem"
        assert "emptyDir" in volumes[holder[0]["name"]], f"{service}: {file} is not on an emptyDir"
    # and the pods need no Secret but the gateway's own event key
    for service in SERVICES:
        init = container(pod_spec(rendered, service), "qmtl-config", init=True)
        refs = {e["valueFrom"]["secretKeyRef"]["name"] for e in init["env"] if "secretKeyRef" in e.get("valueFrom", {})}
        assert refs <= {"qmtl-gateway-events"}, (service, refs)


@pytest.mark.parametrize("name", PROD_SETS)
def test_each_prod_pod_assembles_a_complete_config_with_only_its_sections(name: str, tmp_path: Path) -> None:
    rendered = render(PROD_SETS[name])
    assembler = write_script(rendered, "assemble_config.py", tmp_path)
    template = tmp_path / "qmtl.json"
    template.write_text(rendered.get("ConfigMap", "qmtl-config")["data"]["qmtl.json"])
    for service in SERVICES:
        init = container(pod_spec(rendered, service), "qmtl-config", init=True)
        env = {e["name"]: f"secret-of-{e['name'].lower()}" for e in init["env"] if "valueFrom" in e}
        # the pod's own name, where its config has a per-replica value (the gateway's Kafka client ids)
        assert {e["name"] for e in init["env"] if "fieldRef" in e.get("valueFrom", {})} <= {"QMTL_POD_NAME"}
        out = tmp_path / f"{service}.yml"
        args = [sys.executable, str(assembler), str(template), init["command"][3], str(out)]
        done = subprocess.run(args, env={"PATH": "/usr/bin:/bin", **env}, capture_output=True, text=True, timeout=30)
        assert done.returncode == 0, done.stderr
        config = yaml.safe_load(out.read_text())
        assert set(config) == {"profile", service}
        assert config["profile"] == "prod"
        assert "${" not in out.read_text()
        wanted = {k: v for k, v in PROD_REQUIRED.items() if k.split(".")[0] == service}
        for path, keys in wanted.items():
            for key in keys:
                assert _at(config, path).get(key) not in (None, "", [])
        # every credential the pod gets is used in its file, and it gets no one else's
        for value in env.values():
            assert value in out.read_text()


def test_dsn_credentials_come_from_each_services_own_secret_keys() -> None:
    rendered = render(PROD)
    by_service = {}
    for service in SERVICES:
        init = container(pod_spec(rendered, service), "qmtl-config", init=True)
        by_service[service] = {
            (e["valueFrom"]["secretKeyRef"]["name"], e["valueFrom"]["secretKeyRef"]["key"])
            for e in init["env"]
            if "secretKeyRef" in e.get("valueFrom", {})
        }
    # no two services share a credential
    for a in SERVICES:
        for b in SERVICES:
            if a < b:
                assert not (by_service[a] & by_service[b]), (a, b)
    # and every referenced Secret is rendered by the release, with that key
    for refs in by_service.values():
        for name, key in refs:
            secret = rendered.get("Secret", name)
            assert key in {**secret.get("data", {}), **secret.get("stringData", {})}, (name, key)
    # usernames in the DSNs are the services' own
    config = qmtl_config(rendered)
    assert urlsplit(config["gateway"]["redis_dsn"]).username == "gateway"
    assert urlsplit(config["worldservice"]["server"]["redis"]).username == "worldservice"
    assert urlsplit(config["gateway"]["database_dsn"]).username == "gateway"
    assert urlsplit(config["worldservice"]["server"]["dsn"]).username == "worldservice"


def test_the_gateway_event_key_can_come_from_the_users_own_secret() -> None:
    own = {"global": {"gatewayEvents": {"existingSecret": "my-gateway-events", "key": "signing-key"}}}
    default, bring = render(PROD), render_chart([PROD, own])

    def events_ref(rendered) -> dict:
        init = container(pod_spec(rendered, "gateway"), "qmtl-config", init=True)
        (entry,) = [e for e in init["env"] if e["name"] == "QMTL_SECRET_GATEWAY_EVENTS"]
        return entry["valueFrom"]["secretKeyRef"]

    assert events_ref(default) == {"name": "qmtl-gateway-events", "key": "secret"}
    assert default.find("Secret", "qmtl-gateway-events") is not None
    assert events_ref(bring) == {"name": "my-gateway-events", "key": "signing-key"}
    assert bring.find("Secret", "qmtl-gateway-events") is None  # nothing generated for it any more
    # the file still takes it from that env var, and only the gateway's pod rolls
    assert qmtl_config(bring)["gateway"]["events"]["secret"] == "${QMTL_SECRET_GATEWAY_EVENTS}"
    rolled = {s for s in SERVICES if checksum(default, s) != checksum(bring, s)}
    assert rolled == {"gateway"}

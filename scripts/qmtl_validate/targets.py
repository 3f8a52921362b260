"""Per-service checks on the QMTL config the chart renders, in the spirit of `qmtl config validate`:
what each service's prod start-up (and Seamless' own validation) requires, read from the rendered config
(qmtl.config), with a hint naming the chart values to set. In dev a missing piece is a warning (the
service runs its local mode); in prod an error (QMTL refuses to start, or Seamless has no fallback).
"""

from __future__ import annotations

from typing import Any

from qmtl_validate.report import ERROR, OK, WARN, Check

SERVICES = ("seamless", "gateway", "dagmanager", "worldservice")

HOW = {
    "redis": "global.redis.enabled: true, or global.redis.external.host + existingSecret",
    "postgres": "global.postgres.enabled: true, or global.postgres.external.host + existingSecret",
    "neo4j": "global.neo4j.enabled: true, or global.neo4j.external.uri + existingSecret",
    "questdb": "global.questdb.enabled: true, or global.questdb.external.host + existingSecret",
    "minio": "global.minio.enabled: true, or global.minio.external.endpoint + existingSecret",
    "controlbus": "global.controlbus.enabled: true, or global.controlbus.external.brokers",
}


def _need(
    checks: list[Check], name: str, value: Any, prod: bool, shown: str, missing: str, how: str, path: str = ""
) -> None:
    if value:
        checks.append(Check(name, OK, shown, path))
    elif prod:
        checks.append(Check(name, ERROR, f"{missing}; prod requires it: set {how}", path))
    else:
        checks.append(Check(name, WARN, f"{missing}: local mode (dev only); prod requires {how}", path))


def seamless(config: dict, endpoints: dict, values: dict, prod: bool) -> list[Check]:
    s = config.get("seamless") or {}
    checks: list[Check] = []
    url = s.get("coordinator_url") or ""
    coordinator = values.get("seamless-coordinator") or {}
    if url:
        where = "the bundled coordinator" if coordinator.get("enabled") else "an external coordinator"
        checks.append(Check("coordinator_url", OK, f"{url} ({where})", "global.seamless.coordinator_url"))
    elif prod:
        checks.append(
            Check(
                "coordinator_url",
                ERROR,
                "global.seamless.coordinator_url is empty, which the schema's prod rules refuse (--target "
                "schema): e.g. http://seamless-coordinator:<global.ports.coordinator> with "
                "seamless-coordinator.enabled: true",
                "global.seamless.coordinator_url",
            )
        )
    else:
        checks.append(
            Check(
                "coordinator_url",
                WARN,
                "global.seamless.coordinator_url is empty: the SDK uses its "
                "in-memory stub (dev only); prod requires global.seamless.coordinator_url",
                "global.seamless.coordinator_url",
            )
        )
    _need(
        checks,
        "redis_dsn",
        s.get("redis_dsn"),
        prod,
        f"{s.get('redis_dsn')} (user "
        f"{(endpoints.get('redis', {}).get('users', {}).get('seamless') or {}).get('username', '?')})",
        "no Redis for Seamless",
        HOW["redis"],
        "global.redis",
    )
    _need(
        checks,
        "questdb_dsn",
        s.get("questdb_dsn"),
        prod,
        str(s.get("questdb_dsn")),
        "no QuestDB for Seamless",
        HOW["questdb"],
        "global.questdb",
    )
    _need(
        checks,
        "artifact_endpoint",
        s.get("artifact_endpoint"),
        prod,
        str(s.get("artifact_endpoint")),
        "no S3/MinIO for the Seamless artifacts",
        HOW["minio"],
        "global.minio",
    )
    bucket = s.get("artifact_bucket") or ""
    prefix = (endpoints.get("s3") or {}).get("prefix", "")
    _need(
        checks,
        "artifact_bucket",
        bucket,
        prod,
        f"s3://{bucket}/{prefix}",
        "no artifact bucket",
        "global.seamless.artifact_bucket",
        "global.seamless.artifact_bucket",
    )
    guard = (values.get("global") or {}).get("guard") or {}
    if prod:
        checks.append(
            Check(
                "runtime_guard",
                OK,
                f"QMTL pods wait for {url or '<coordinator_url>'}/healthz: "
                f"{guard.get('attempts')} attempts, {guard.get('intervalSeconds')} s apart, "
                f"{guard.get('timeoutSeconds')} s timeout each",
                "global.guard",
            )
        )
    else:
        checks.append(Check("runtime_guard", OK, "not used in dev (prod only)", "global.guard"))
    return checks


def gateway(config: dict, endpoints: dict, values: dict, prod: bool) -> list[Check]:
    g = config.get("gateway") or {}
    checks: list[Check] = []
    _need(
        checks,
        "redis_dsn",
        g.get("redis_dsn"),
        prod,
        _hide(g.get("redis_dsn")),
        "no Redis: in-memory store",
        HOW["redis"],
        "global.redis",
    )
    backend = g.get("database_backend") or ""
    if backend == "postgres":
        checks.append(Check("database", OK, f"postgres {_hide(g.get('database_dsn'))}", "global.postgres"))
    elif prod:
        checks.append(
            Check(
                "database",
                ERROR,
                f"database_backend is {backend or 'unset'}; prod requires postgres: set {HOW['postgres']}",
                "global.postgres",
            )
        )
    else:
        checks.append(
            Check(
                "database",
                WARN,
                f"{backend or 'no'} database (dev only); prod requires postgres: {HOW['postgres']}",
                "global.postgres",
            )
        )
    brokers, topics = g.get("controlbus_brokers") or [], g.get("controlbus_topics") or []
    _need(
        checks,
        "controlbus",
        brokers and topics,
        prod,
        f"{', '.join(brokers)} topics {', '.join(topics)}",
        "ControlBus disabled",
        HOW["controlbus"],
        "global.controlbus",
    )
    _need(
        checks,
        "commitlog",
        g.get("commitlog_bootstrap") and g.get("commitlog_topic"),
        prod,
        f"{g.get('commitlog_topic')} on {g.get('commitlog_bootstrap')}",
        "commit-log writer disabled",
        HOW["controlbus"],
        "global.controlbus",
    )
    checks.append(
        Check(
            "worldservice_url",
            OK if g.get("worldservice_url") else WARN,
            str(g.get("worldservice_url") or "no WorldService proxy"),
        )
    )
    return checks


def dagmanager(config: dict, endpoints: dict, values: dict, prod: bool) -> list[Check]:
    d = config.get("dagmanager") or {}
    checks: list[Check] = []
    _need(
        checks,
        "neo4j",
        d.get("neo4j_dsn"),
        prod,
        f"{d.get('neo4j_dsn')} as {d.get('neo4j_user')}",
        "no Neo4j: in-memory graph",
        HOW["neo4j"],
        "global.neo4j",
    )
    _need(
        checks,
        "kafka",
        d.get("kafka_dsn"),
        prod,
        str(d.get("kafka_dsn")),
        "no Kafka: in-memory queues",
        HOW["controlbus"],
        "global.controlbus",
    )
    _need(
        checks,
        "controlbus",
        d.get("controlbus_dsn") and d.get("controlbus_queue_topic"),
        prod,
        f"{d.get('controlbus_dsn')} topic {d.get('controlbus_queue_topic')}",
        "ControlBus disabled",
        HOW["controlbus"],
        "global.controlbus",
    )
    return checks


def worldservice(config: dict, endpoints: dict, values: dict, prod: bool) -> list[Check]:
    server = (config.get("worldservice") or {}).get("server") or {}
    checks: list[Check] = []
    _need(
        checks,
        "database",
        server.get("dsn"),
        prod,
        _hide(server.get("dsn")),
        "no database: in-memory storage",
        HOW["postgres"],
        "global.postgres",
    )
    _need(
        checks,
        "redis",
        server.get("redis"),
        prod,
        _hide(server.get("redis")),
        "no Redis: in-memory activation store",
        HOW["redis"],
        "global.redis",
    )
    _need(
        checks,
        "controlbus",
        server.get("controlbus_brokers") and server.get("controlbus_topic"),
        prod,
        f"{', '.join(server.get('controlbus_brokers') or [])} topic {server.get('controlbus_topic')}",
        "ControlBus disabled",
        HOW["controlbus"],
        "global.controlbus",
    )
    return checks


CHECKS = {"seamless": seamless, "gateway": gateway, "dagmanager": dagmanager, "worldservice": worldservice}

# The chart's switch of each service (None: Seamless is configuration, not a workload of its own).
SWITCH = {"seamless": None, "gateway": "gateway", "dagmanager": "dagmanager", "worldservice": "worldservice"}


def run(target: str, model: dict, values: dict, prod: bool) -> list[Check]:
    config = (model.get("config") or {}).get("config") or {}
    endpoints = model.get("endpoints") or {}
    switch = SWITCH[target]
    if switch and not (values.get(switch) or {}).get("enabled"):
        return [
            Check("deployed", WARN if prod else OK, f"not deployed ({switch}.enabled is false)", f"{switch}.enabled")
        ]
    checks = CHECKS[target](config, endpoints, values, prod)
    if target == "seamless":
        checks += [c for c in open_ranges(model) if c.path == COORDINATOR_CIDRS]
    return checks


COORDINATOR_CIDRS = "global.networkPolicy.coordinatorCidrs"


def open_ranges(model: dict) -> list[Check]:
    """A warning for every NetworkPolicy egress rule that opens a port towards any address (the chart's
    qmtl.network.openRanges: an external coordinator without coordinatorCidrs, or a range of everything,
    /0, among the ranges of the coordinator or of a managed dependency)."""
    checks = []
    for item in (model.get("network") or {}).get("open") or []:
        path, what = item["path"], item["what"]
        why = "is empty" if item.get("empty") else "holds a range of every address (/0)"
        name = "coordinator_network" if path == COORDINATOR_CIDRS else f"{path.split('.')[1]}_network"
        checks.append(
            Check(
                name,
                WARN,
                f"{path} {why}: to reach {what} the NetworkPolicies open its port towards any address; "
                "set its address range(s)",
                path,
            )
        )
    return checks


def _hide(dsn: Any) -> str:
    """A DSN for display: the password placeholder stays a placeholder (no secret is ever known here)."""
    return str(dsn) if dsn else ""

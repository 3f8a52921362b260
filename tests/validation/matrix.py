"""The table of bad values: each case, the values key path the refusal must name, and which layer refuses
it (the schema, or the aggregated check in templates/_validate.tpl). Shared by the matrix tests."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from tests.validation.conftest import DEV, PROD

SCHEMA, CHECK = "schema", "check"

# A valid external Redis / S3 for cases that need one.
EXTERNAL_REDIS = {"enabled": False, "external": {"host": "redis.example.internal", "existingSecret": "managed-redis"}}


@dataclasses.dataclass(frozen=True)
class Case:
    id: str
    values: dict
    path: str  # the values key path the refusal names
    layer: str = SCHEMA
    base: Path = PROD
    lint: bool = False  # also run helm lint (a representative subset: lint runs the same schema/templates)

    @property
    def files(self) -> tuple[Path, ...]:
        return (self.base,)


def g(**kwargs) -> dict:
    return {"global": kwargs}


def _res(container: str, requests: dict, limits: dict) -> dict:
    return g(resources={"prod": {container: {"requests": requests, "limits": limits}}})


CASES: tuple[Case, ...] = (
    # --- the coordinator URL in prod
    Case("prod-url-null", g(seamless={"coordinator_url": None}), "global.seamless.coordinator_url"),
    Case("prod-url-empty", g(seamless={"coordinator_url": ""}), "global.seamless.coordinator_url", lint=True),
    Case("prod-url-no-scheme", g(seamless={"coordinator_url": "seamless-coordinator:8080"}),
         "global.seamless.coordinator_url"),
    Case("prod-url-ftp", g(seamless={"coordinator_url": "ftp://seamless-coordinator:8080"}),
         "global.seamless.coordinator_url"),
    Case("prod-url-space", g(seamless={"coordinator_url": "http://seamless coordinator:8080"}),
         "global.seamless.coordinator_url"),
    Case("prod-url-number", g(seamless={"coordinator_url": 8080}), "global.seamless.coordinator_url"),
    # --- the profile
    Case("profile-typo", g(profile="prd"), "global.profile", lint=True),
    Case("profile-null", g(profile=None), "global.profile"),
    Case("profile-uppercase", g(profile="PROD"), "global.profile"),
    # --- dependencies: external without endpoint or without credentials
    Case("prod-redis-external-no-host", g(redis={"enabled": False, "external": {"existingSecret": "managed-redis"}}),
         "global.redis.external.host"),
    Case("prod-redis-external-no-secret", g(redis={"enabled": False, "external": {"host": "redis.example.internal"}}),
         "global.redis.external.existingSecret"),
    Case("dev-redis-external-no-secret", g(redis={"enabled": False, "external": {"host": "redis.example.internal"}}),
         "global.redis.external.existingSecret", base=DEV),
    Case("prod-questdb-off-no-external", g(questdb={"enabled": False}), "global.questdb.external.host"),
    Case("prod-minio-external-no-endpoint", g(minio={"enabled": False, "external": {"existingSecret": "s3-keys"}}),
         "global.minio.external.endpoint"),
    Case("prod-minio-endpoint-not-url", g(minio={"enabled": False, "external": {
        "endpoint": "minio.example.internal:9000", "existingSecret": "s3-keys"}}), "global.minio.external.endpoint"),
    Case("prod-minio-secret-empty", g(minio={"enabled": False, "external": {
        "endpoint": "https://s3.example.internal", "existingSecret": ""}}), "global.minio.external.existingSecret"),
    Case("prod-neo4j-uri-http", g(neo4j={"enabled": False, "external": {
        "uri": "http://neo4j.example.internal:7474", "existingSecret": "neo4j"}}), "global.neo4j.external.uri"),
    Case("prod-controlbus-off-no-brokers", g(controlbus={"enabled": False}), "global.controlbus.external.brokers"),
    Case("prod-controlbus-broker-no-port", g(controlbus={"enabled": False, "external": {"brokers": ["kafka"]}}),
         "global.controlbus.external.brokers.0"),
    # --- ControlBus brokers in prod
    Case("prod-controlbus-1-broker", g(replicas={"prod": {"controlbus": 1}}), "global.replicas.prod.controlbus"),
    Case("prod-controlbus-override-2", {"controlbus": {"replicas": 2}}, "controlbus.replicas"),
    # --- latest tags in prod
    Case("prod-latest-qmtl-image", g(qmtlImage={"tag": "latest"}), "global.qmtlImage.tag"),
    Case("prod-latest-redis-image", {"redis": {"image": {"tag": "latest"}}}, "redis.image.tag"),
    Case("prod-latest-gateway-image", {"gateway": {"image": {"repository": "registry.example/qmtl", "tag": "Latest"}}},
         "gateway.image.tag"),
    # --- resources: negative, malformed, zero, incomplete
    Case("cpu-negative-string", _res("redis", {"cpu": "-100m", "memory": "1Gi"}, {"cpu": "1", "memory": "1Gi"}),
         "global.resources.prod.redis.requests.cpu"),
    Case("cpu-negative-number", _res("redis", {"cpu": -1, "memory": "1Gi"}, {"cpu": "1", "memory": "1Gi"}),
         "global.resources.prod.redis.requests.cpu"),
    Case("memory-malformed", _res("redis", {"cpu": "250m", "memory": "lots"}, {"cpu": "1", "memory": "1Gi"}),
         "global.resources.prod.redis.requests.memory"),
    Case("memory-zero-limit", _res("redis", {"cpu": "250m", "memory": "1Gi"}, {"cpu": "1", "memory": "0"}),
         "global.resources.prod.redis.limits.memory"),
    Case("resources-no-limits", g(resources={"prod": {"extra-sidecar": {"requests": {"cpu": "10m", "memory": "8Mi"}}}}),
         "global.resources.prod.extra-sidecar.limits"),
    Case("resources-bad-container-name", g(resources={"prod": {"Redis_Main": {
        "requests": {"cpu": "10m", "memory": "8Mi"}, "limits": {"cpu": "10m", "memory": "8Mi"}}}}),
         "global.resources.prod.Redis_Main"),
    # --- unknown keys
    Case("unknown-root-key", {"gatway": {"enabled": True}}, "gatway", lint=True),
    Case("unknown-global-key", g(coordinatorUrl="http://seamless-coordinator:8080"), "global.coordinatorUrl"),
    Case("unknown-seamless-key", g(seamless={"coordinator": "http://seamless-coordinator:8080"}),
         "global.seamless.coordinator"),
    Case("unknown-external-key", g(questdb={"enabled": False, "external": {
        "hostname": "questdb.example.internal", "host": "questdb.example.internal", "existingSecret": "qdb"}}),
         "global.questdb.external.hostname"),
    # --- the runtime guard: no switch, bounded
    Case("guard-switch-off", g(guard={"enabled": False}), "global.guard.enabled", lint=True),
    Case("guard-attempts-zero", g(guard={"attempts": 0}), "global.guard.attempts"),
    Case("guard-interval-huge", g(guard={"intervalSeconds": 3600}), "global.guard.intervalSeconds"),
    Case("guard-timeout-string", g(guard={"timeoutSeconds": "5s"}), "global.guard.timeoutSeconds"),
    # --- wrong types and ranges
    Case("port-out-of-range", g(ports={"redis": 70000}), "global.ports.redis"),
    Case("port-string", g(ports={"postgres": "5432"}), "global.ports.postgres"),
    Case("enabled-not-bool", g(redis={"enabled": "yes"}), "global.redis.enabled"),
    Case("dependency-section-switch", {"redis": {"enabled": False}}, "redis.enabled"),
    Case("redis-db-out-of-range", g(redis={"databases": {"seamless": 16}}), "global.redis.databases.seamless"),
    Case("bucket-invalid", g(seamless={"artifact_bucket": "Qmtl_Seamless"}), "global.seamless.artifact_bucket"),
    Case("prefix-without-slash", g(seamless={"artifact_prefix": "artifacts"}), "global.seamless.artifact_prefix"),
    Case("replicas-zero", g(replicas={"prod": {"gateway": 0}}), "global.replicas.prod.gateway"),
    Case("topic-name-invalid", g(controlbus={"topics": {"bad topic": {"partitions": 1, "retentionMs": 1}}}),
         "global.controlbus.topics.bad topic"),
    Case("pull-secrets-not-a-list", g(imagePullSecrets="regcred"), "global.imagePullSecrets"),
    Case("prod-persistence-off", {"questdb": {"persistence": {"enabled": False}}}, "questdb.persistence.enabled"),
    # --- cross-key rules: the aggregated check
    Case("url-bundled-coordinator-disabled", {"seamless-coordinator": {"enabled": False}},
         "global.seamless.coordinator_url", CHECK, lint=True),
    Case("url-bundled-wrong-port", g(seamless={"coordinator_url": "http://seamless-coordinator:9090"}),
         "global.seamless.coordinator_url", CHECK, lint=True),
    Case("topic-prefix-unacknowledged", g(controlbus={"topicPrefix": "qmtl.controlbus."}),
         "global.controlbus.topicPrefix", CHECK, lint=True),
    Case("redis-db-shared", g(redis={"databases": {"gateway": 3}}), "global.redis.databases.seamless", CHECK,
         lint=True),
    Case("ports-collide-in-a-pod", g(ports={"minioConsole": 9000}), "global.ports.minioConsole", CHECK, lint=True),
    Case("limit-below-request", _res("redis", {"cpu": "250m", "memory": "1Gi"}, {"cpu": "1", "memory": "512Mi"}),
         "global.resources.prod.redis.limits.memory", CHECK, lint=True),
    Case("bundled-and-external", g(questdb={"external": {"host": "questdb.example.internal", "existingSecret": "q"}}),
         "global.questdb.external", CHECK, lint=True),
    Case("dev-coordinator-without-deps", {"global": {"seamless": {"coordinator_url": "http://seamless-coordinator:8080"}},
                                          "seamless-coordinator": {"enabled": True}},
         "seamless-coordinator.enabled", CHECK, base=DEV, lint=True),
    Case("external-url-with-bundled-coordinator", g(seamless={"coordinator_url": "https://coordinator.example.internal"}),
         "global.seamless.coordinator_url", CHECK),
)

CASE_IDS = [c.id for c in CASES]
assert len(set(CASE_IDS)) == len(CASE_IDS), "duplicate case id"

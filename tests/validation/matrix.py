"""The table of bad values: each case, the values key path the refusal must name, and which layer refuses
it (the schema, or the aggregated check in templates/_validate.tpl). Shared by the matrix tests.

The cases cover the prod rules of the design (coordinator_url, the endpoints Seamless and each service
need, the guard, ControlBus brokers, `latest` images, persistence), and every section of the values: wrong
types, unknown keys (also in sections of disabled subcharts, which Helm merges no defaults into),
malformed or negative sizes in the sizing table and in each component's override, ports, CIDRs, images,
NetworkPolicy peers, and the rules between values that only the aggregated check can state."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from tests.validation.conftest import DEV_FILE, PROD_FILE

SCHEMA, CHECK = "schema", "check"

DIGEST = "sha256:" + "0123456789abcdef" * 4
MANAGED_REDIS = {
    "enabled": False,
    "external": {"host": "redis.example.internal", "existingSecret": "managed-redis", "cidrs": ["10.0.0.0/24"]},
}


@dataclasses.dataclass(frozen=True)
class Case:
    id: str
    values: dict
    path: str  # the values key path the refusal names
    layer: str = SCHEMA
    base: Path = PROD_FILE
    lint: bool = False  # also run helm lint (where it adds something: lint runs the same schema and templates)
    cls: str = ""  # the class of weakness of issue 16 the case belongs to (CLASSES), if any

    @property
    def files(self) -> tuple[Path, ...]:
        return (self.base,)


def g(**kwargs) -> dict:
    return {"global": kwargs}


def res(requests: dict, limits: dict) -> dict:
    return {"requests": requests, "limits": limits}


OK_RES = res({"cpu": "100m", "memory": "128Mi"}, {"cpu": "1", "memory": "256Mi"})


def table_of_umbrella(container: str, resources: dict | str, profile: str = "prod") -> dict:
    """An override of one entry of the umbrella's own sizing table (its helm test pods)."""
    return {"resources": {profile: {container: resources}}}


def table(section: str, container: str, resources: dict | str, profile: str = "prod") -> dict:
    """An override of one entry of a section's sizing table, <section>.resources.<profile>.<container>."""
    return {section: {"resources": {profile: {container: resources}}}}


CASES: tuple[Case, ...] = (
    # --- prod: the coordinator URL (required, non-empty, an http(s) URL) --------------------------------------
    Case("prod-url-null", g(seamless={"coordinator_url": None}), "global.seamless.coordinator_url"),
    Case("prod-url-empty", g(seamless={"coordinator_url": ""}), "global.seamless.coordinator_url", lint=True),
    Case(
        "prod-url-no-scheme",
        g(seamless={"coordinator_url": "seamless-coordinator:8080"}),
        "global.seamless.coordinator_url",
    ),
    Case(
        "prod-url-ftp",
        g(seamless={"coordinator_url": "ftp://seamless-coordinator:8080"}),
        "global.seamless.coordinator_url",
    ),
    Case(
        "prod-url-space",
        g(seamless={"coordinator_url": "http://seamless coordinator:8080"}),
        "global.seamless.coordinator_url",
    ),
    Case("prod-url-no-host", g(seamless={"coordinator_url": "http://"}), "global.seamless.coordinator_url"),
    Case("prod-url-number", g(seamless={"coordinator_url": 8080}), "global.seamless.coordinator_url"),
    Case(
        "dev-url-not-a-url",
        g(seamless={"coordinator_url": "coordinator"}),
        "global.seamless.coordinator_url",
        base=DEV_FILE,
    ),
    Case(
        "gateway-events-secret-not-a-name",
        g(gatewayEvents={"existingSecret": "My_Events", "key": "secret"}),
        "global.gatewayEvents.existingSecret",
    ),
    Case(
        "gateway-events-key-empty", g(gatewayEvents={"existingSecret": "events", "key": ""}), "global.gatewayEvents.key"
    ),
    # --- the profile ---------------------------------------------------------------------------------------------
    Case("profile-typo", g(profile="prd"), "global.profile", lint=True),
    Case("profile-null", g(profile=None), "global.profile"),
    Case("profile-uppercase", g(profile="PROD"), "global.profile"),
    # --- prod: what Seamless and each service need, bundled or external with endpoint AND credentials ------------
    Case(
        "prod-redis-external-no-host",
        g(redis={"enabled": False, "external": {"existingSecret": "managed-redis"}}),
        "global.redis.external.host",
    ),
    Case(
        "prod-redis-external-no-secret",
        g(redis={"enabled": False, "external": {"host": "redis.example.internal"}}),
        "global.redis.external.existingSecret",
    ),
    Case("prod-redis-off", g(redis={"enabled": False}), "global.redis.external.host", lint=True),
    Case("prod-questdb-off", g(questdb={"enabled": False}), "global.questdb.external.host"),
    Case(
        "prod-questdb-external-no-secret",
        g(questdb={"enabled": False, "external": {"host": "q.example.internal"}}),
        "global.questdb.external.existingSecret",
    ),
    Case("prod-minio-off", g(minio={"enabled": False}), "global.minio.external.endpoint"),
    Case(
        "prod-minio-external-no-endpoint",
        g(minio={"enabled": False, "external": {"existingSecret": "s3-keys"}}),
        "global.minio.external.endpoint",
    ),
    Case(
        "prod-minio-secret-empty",
        g(minio={"enabled": False, "external": {"endpoint": "https://s3.example.internal", "existingSecret": ""}}),
        "global.minio.external.existingSecret",
    ),
    Case("prod-postgres-off", g(postgres={"enabled": False}), "global.postgres.external.existingSecret"),
    Case("prod-neo4j-off", g(neo4j={"enabled": False}), "global.neo4j.external.uri"),
    Case("prod-controlbus-off", g(controlbus={"enabled": False}), "global.controlbus.external.brokers"),
    Case(
        "dev-controlbus-no-brokers",
        g(controlbus={"enabled": False, "external": {"brokers": []}}),
        "global.controlbus.external.brokers",
        base=DEV_FILE,
    ),
    Case(
        "dev-redis-external-no-secret",
        g(redis={"enabled": False, "external": {"host": "redis.example.internal"}}),
        "global.redis.external.existingSecret",
        base=DEV_FILE,
    ),
    Case(
        "dev-neo4j-external-no-uri",
        g(neo4j={"enabled": False, "external": {"existingSecret": "neo4j"}}),
        "global.neo4j.external.uri",
        base=DEV_FILE,
    ),
    # --- external blocks: shapes -----------------------------------------------------------------------------------
    Case(
        "minio-endpoint-not-url",
        g(
            minio={
                "enabled": False,
                "external": {"endpoint": "minio.example.internal:9000", "existingSecret": "s3-keys"},
            }
        ),
        "global.minio.external.endpoint",
    ),
    Case(
        "minio-endpoint-with-path",
        g(
            minio={
                "enabled": False,
                "external": {"endpoint": "https://s3.example.internal/qmtl-seamless", "existingSecret": "s3-keys"},
            }
        ),
        "global.minio.external.endpoint",
    ),
    Case(
        "neo4j-uri-http",
        g(
            neo4j={
                "enabled": False,
                "external": {"uri": "http://neo4j.example.internal:7474", "existingSecret": "neo4j"},
            }
        ),
        "global.neo4j.external.uri",
    ),
    Case(
        "controlbus-broker-no-port",
        g(controlbus={"enabled": False, "external": {"brokers": ["kafka"]}}),
        "global.controlbus.external.brokers.0",
    ),
    Case(
        "postgres-sslmode",
        g(
            postgres={
                "enabled": False,
                "external": {"host": "pg.example.internal", "existingSecret": "pg", "sslmode": "on"},
            }
        ),
        "global.postgres.external.sslmode",
    ),
    Case(
        "redis-external-port",
        g(redis={**MANAGED_REDIS, "external": {**MANAGED_REDIS["external"], "port": 0}}),
        "global.redis.external.port",
    ),
    Case(
        "redis-external-unknown-user",
        g(
            redis={
                **MANAGED_REDIS,
                "external": {**MANAGED_REDIS["external"], "users": {"dagmanager": {"username": "dm"}}},
            }
        ),
        "global.redis.external.users.dagmanager",
    ),
    Case(
        "external-secret-name",
        g(questdb={"enabled": False, "external": {"host": "q.example.internal", "existingSecret": "QuestDB_Secret"}}),
        "global.questdb.external.existingSecret",
    ),
    Case(
        "bundled-and-external",
        g(questdb={"external": {"host": "questdb.example.internal", "existingSecret": "q"}}),
        "global.questdb.external",
        lint=True,
    ),
    # --- prod: ControlBus brokers ----------------------------------------------------------------------------------
    Case(
        "prod-controlbus-1-broker",
        g(replicas={"prod": {"controlbus": 1}}),
        "global.replicas.prod.controlbus",
        lint=True,
    ),
    Case("prod-controlbus-override-2", {"controlbus": {"replicas": 2}}, "controlbus.replicas"),
    Case("dev-controlbus-override-0", {"controlbus": {"replicas": 0}}, "controlbus.replicas", base=DEV_FILE),
    # --- prod: no `latest` anywhere an image is set ----------------------------------------------------------------
    Case("prod-latest-qmtl-image", g(qmtlImage={"tag": "latest"}), "global.qmtlImage.tag", lint=True),
    *(
        Case(f"prod-latest-{section}-{key}", {section: {key: {"tag": tag}}}, f"{section}.{key}.tag")
        for section, key, tag in (
            ("gateway", "image", "Latest"),
            ("dagmanager", "image", "latest"),
            ("worldservice", "image", "LATEST"),
            ("seamless-coordinator", "image", "latest"),
            ("controlbus", "image", "latest"),
            ("redis", "image", "latest"),
            ("postgres", "image", "latest"),
            ("neo4j", "image", "latest"),
            ("questdb", "image", "latest"),
            ("minio", "image", "latest"),
            ("minio", "mcImage", "latest"),
        )
    ),
    # --- images: shapes --------------------------------------------------------------------------------------------
    Case("digest-not-hex", {"gateway": {"image": {"digest": "sha256:not-hex"}}}, "gateway.image.digest"),
    Case("digest-uppercase", {"redis": {"image": {"digest": DIGEST.upper()}}}, "redis.image.digest"),
    Case("digest-wrong-algorithm", g(qmtlImage={"digest": "md5:" + "ab" * 16}), "global.qmtlImage.digest"),
    Case("tag-with-space", {"postgres": {"image": {"tag": "18 4"}}}, "postgres.image.tag"),
    Case("tag-not-quoted", {"postgres": {"image": {"tag": 18.4}}}, "postgres.image.tag"),
    Case("tag-too-long", {"postgres": {"image": {"tag": "a" * 129}}}, "postgres.image.tag"),
    Case(
        "repository-uppercase",
        {"neo4j": {"image": {"repository": "docker.io/Library/Neo4j"}}},
        "neo4j.image.repository",
    ),
    Case("image-no-tag-no-digest", {"redis": {"image": {"tag": ""}}}, "redis.image"),
    Case("qmtl-image-no-tag-no-digest", g(qmtlImage={"tag": "", "digest": ""}), "global.qmtlImage"),
    Case("pull-policy", {"questdb": {"image": {"pullPolicy": "Sometimes"}}}, "questdb.image.pullPolicy"),
    Case("qmtl-image-pull-policy-key", g(qmtlImage={"pullPolicy": "Always"}), "global.qmtlImage.pullPolicy"),
    # --- resources: each chart's sizing table, overridden per section -------------------------------------------------
    Case(
        "cpu-negative-string",
        table("redis", "redis", res({"cpu": "-100m", "memory": "1Gi"}, {"cpu": "1", "memory": "1Gi"})),
        "redis.resources.prod.redis.requests.cpu",
    ),
    Case(
        "cpu-negative-number",
        table("redis", "redis", res({"cpu": -1, "memory": "1Gi"}, {"cpu": "1", "memory": "1Gi"})),
        "redis.resources.prod.redis.requests.cpu",
    ),
    Case(
        "cpu-with-unit-word",
        table("gateway", "gateway", res({"cpu": "1 core", "memory": "1Gi"}, {"cpu": "2", "memory": "2Gi"})),
        "gateway.resources.prod.gateway.requests.cpu",
    ),
    Case(
        "memory-malformed",
        table("redis", "redis", res({"cpu": "250m", "memory": "lots"}, {"cpu": "1", "memory": "1Gi"})),
        "redis.resources.prod.redis.requests.memory",
    ),
    Case(
        "memory-zero-limit",
        table("redis", "redis", res({"cpu": "250m", "memory": "1Gi"}, {"cpu": "1", "memory": "0"})),
        "redis.resources.prod.redis.limits.memory",
    ),
    Case(
        "memory-lowercase-unit",
        table("neo4j", "neo4j", res({"cpu": "1", "memory": "4gi"}, {"cpu": "2", "memory": "4Gi"})),
        "neo4j.resources.prod.neo4j.requests.memory",
        lint=True,
    ),
    Case(
        "no-limits",
        table("dagmanager", "qmtl-init", {"limits": None}),
        "dagmanager.resources.prod.qmtl-init.limits",
        CHECK,
    ),
    Case(
        "no-request-memory",
        table("redis", "redis", {"requests": {"memory": None}}),
        "redis.resources.prod.redis.requests.memory",
        CHECK,
    ),
    Case("resources-unknown-container", table("redis", "extra-sidecar", OK_RES), "redis.resources.prod.extra-sidecar"),
    Case(
        "dev-table-entry-not-a-map",
        table("gateway", "qmtl-init", "small", "dev"),
        "gateway.resources.dev.qmtl-init",
        base=DEV_FILE,
    ),
    Case(
        "override-cpu-negative",
        table("postgres", "postgres", res({"cpu": "-1", "memory": "1Gi"}, {"cpu": "1", "memory": "1Gi"})),
        "postgres.resources.prod.postgres.requests.cpu",
    ),
    Case(
        "override-memory-malformed",
        table(
            "gateway", "gateway-forwarder", res({"cpu": "10m", "memory": "32 MB"}, {"cpu": "100m", "memory": "64Mi"})
        ),
        "gateway.resources.prod.gateway-forwarder.requests.memory",
    ),
    Case(
        "no-requests",
        table("seamless-coordinator", "seamless-coordinator", {"requests": None}),
        "seamless-coordinator.resources.prod.seamless-coordinator.requests",
        CHECK,
    ),
    Case("other-components-container", table("redis", "gateway", OK_RES), "redis.resources.prod.gateway"),
    Case(
        "override-in-disabled-section",
        table("neo4j", "neo4j", res({"cpu": "0", "memory": "1Gi"}, {"cpu": "1", "memory": "1Gi"}), "dev"),
        "neo4j.resources.dev.neo4j.requests.cpu",
        base=DEV_FILE,
    ),
    # --- unknown keys: the root, global, and every component section -----------------------------------------------
    Case("unknown-root-key", {"gatway": {"enabled": True}}, "gatway", lint=True),
    Case("unknown-global-key", g(coordinatorUrl="http://seamless-coordinator:8080"), "global.coordinatorUrl"),
    # the sizing table moved from global to the chart that runs each container: the old key is refused
    Case("unknown-global-resources", g(resources={"prod": {"redis": OK_RES}}), "global.resources"),
    Case("unknown-resources-profile", {"resources": {"staging": {"helm-test-redis": OK_RES}}}, "resources.staging"),
    Case("unknown-helm-test-container", table_of_umbrella("helm-test-kafka", OK_RES), "resources.prod.helm-test-kafka"),
    Case(
        "unknown-seamless-key",
        g(seamless={"coordinator": "http://seamless-coordinator:8080"}),
        "global.seamless.coordinator",
    ),
    Case(
        "unknown-external-key",
        g(
            questdb={
                "enabled": False,
                "external": {
                    "hostname": "questdb.example.internal",
                    "host": "questdb.example.internal",
                    "existingSecret": "qdb",
                },
            }
        ),
        "global.questdb.external.hostname",
    ),
    *(
        Case(f"unknown-key-{section}", {section: {"replica": 2}}, f"{section}.replica")
        for section in (
            "gateway",
            "dagmanager",
            "worldservice",
            "seamless-coordinator",
            "controlbus",
            "redis",
            "postgres",
            "neo4j",
            "questdb",
            "minio",
            "qmtl-lib",
        )
    ),
    Case(
        "unknown-key-in-disabled-section",
        {"redis": {"persistance": {"size": "1Gi"}}},
        "redis.persistance",
        base=DEV_FILE,
        lint=True,
    ),
    Case("replicas-of-a-dependency-without-them", {"postgres": {"replicas": 2}}, "postgres.replicas"),
    Case(
        "unknown-nested-key",
        {"controlbus": {"provisioning": {"timeoutSeconds": 60}}},
        "controlbus.provisioning.timeoutSeconds",
    ),
    Case("unknown-forwarder-key", {"gateway": {"forwarder": {"port": 50051}}}, "gateway.forwarder.port"),
    Case("unknown-redis-user-rules", {"redis": {"extraRules": {"dagmanager": "+get"}}}, "redis.extraRules.dagmanager"),
    Case("prod-neo4j-memory-removed", {"neo4j": {"memory": {"prod": None}}}, "neo4j.memory.prod"),
    Case(
        "unknown-neo4j-memory-key",
        {"neo4j": {"memory": {"prod": {"heap": "2g", "pagecache": "1g", "offheap": "1g"}}}},
        "neo4j.memory.prod.offheap",
    ),
    # --- prod: persistence on (data always on a PVC; positive size for the profile; no switch to turn it off) -------
    Case("prod-persistence-switch", {"questdb": {"persistence": {"enabled": False}}}, "questdb.persistence.enabled"),
    Case("prod-persistence-size-zero", {"redis": {"persistence": {"size": "0Gi"}}}, "redis.persistence.size"),
    Case(
        "prod-persistence-no-prod-size",
        {"postgres": {"persistence": {"size": {"prod": None}}}},
        "postgres.persistence.size.prod",
    ),
    Case(
        "persistence-size-malformed",
        {"minio": {"persistence": {"size": {"dev": "5Gi", "prod": "lots"}}}},
        "minio.persistence.size.prod",
    ),
    Case(
        "persistence-retention",
        {"neo4j": {"persistence": {"retentionPolicy": {"whenDeleted": "Keep"}}}},
        "neo4j.persistence.retentionPolicy.whenDeleted",
    ),
    Case(
        "persistence-access-mode",
        {"questdb": {"persistence": {"accessModes": ["ReadWriteSometimes"]}}},
        "questdb.persistence.accessModes.0",
    ),
    Case(
        "persistence-storage-class",
        {"controlbus": {"persistence": {"storageClass": "Fast_SSD"}}},
        "controlbus.persistence.storageClass",
    ),
    # --- the runtime guard: no switch, bounded ---------------------------------------------------------------------
    Case("guard-switch-off", g(guard={"enabled": False}), "global.guard.enabled", lint=True),
    Case("guard-attempts-zero", g(guard={"attempts": 0}), "global.guard.attempts"),
    Case("guard-interval-huge", g(guard={"intervalSeconds": 3600}), "global.guard.intervalSeconds"),
    Case("guard-timeout-string", g(guard={"timeoutSeconds": "5s"}), "global.guard.timeoutSeconds"),
    # --- ports -----------------------------------------------------------------------------------------------------
    Case("port-out-of-range", g(ports={"redis": 70000}), "global.ports.redis"),
    Case("port-zero", g(ports={"gateway": 0}), "global.ports.gateway"),
    Case("port-string", g(ports={"postgres": "5432"}), "global.ports.postgres"),
    Case("port-fraction", g(ports={"kafka": 9092.5}), "global.ports.kafka"),
    Case("port-unknown", g(ports={"grafana": 3000}), "global.ports.grafana"),
    Case(
        "forwarder-port-out-of-range", {"gateway": {"forwarder": {"healthPort": 65536}}}, "gateway.forwarder.healthPort"
    ),
    # --- other global keys: types and ranges ------------------------------------------------------------------------
    Case("enabled-not-bool", g(redis={"enabled": "yes"}), "global.redis.enabled"),
    Case("dependency-section-switch", {"redis": {"enabled": False}}, "redis.enabled"),
    Case("redis-db-out-of-range", g(redis={"databases": {"seamless": 16}}), "global.redis.databases.seamless"),
    Case("bucket-invalid", g(seamless={"artifact_bucket": "Qmtl_Seamless"}), "global.seamless.artifact_bucket"),
    Case("bucket-too-short", g(seamless={"artifact_bucket": "qm"}), "global.seamless.artifact_bucket"),
    Case("bucket-too-long", g(seamless={"artifact_bucket": "q" * 64}), "global.seamless.artifact_bucket"),
    Case("topic-prefix-too-long", g(controlbus={"topicPrefix": "p" * 201}), "global.controlbus.topicPrefix"),
    Case(
        "scrape-timeout-over-interval",
        g(serviceMonitor={"enabled": True, "interval": "30s", "scrapeTimeout": "1m"}),
        "global.serviceMonitor.scrapeTimeout",
        CHECK,
    ),
    Case("scrape-interval-malformed", g(serviceMonitor={"interval": "30 seconds"}), "global.serviceMonitor.interval"),
    Case("scrape-interval-zero", g(serviceMonitor={"interval": "0s"}), "global.serviceMonitor.interval"),
    Case(
        "monitor-label-invalid",
        g(serviceMonitor={"labels": {"release": "not a label value"}}),
        "global.serviceMonitor.labels.release",
    ),
    Case("prefix-without-slash", g(seamless={"artifact_prefix": "artifacts"}), "global.seamless.artifact_prefix"),
    Case("prefix-wildcard", g(seamless={"artifact_prefix": "art*/"}), "global.seamless.artifact_prefix"),
    Case("replicas-zero", g(replicas={"prod": {"gateway": 0}}), "global.replicas.prod.gateway"),
    Case("replicas-override-string", {"dagmanager": {"replicas": "2"}}, "dagmanager.replicas"),
    Case(
        "topic-name-invalid",
        g(controlbus={"topics": {"bad topic": {"partitions": 1, "retentionMs": 1}}}),
        "global.controlbus.topics.bad topic",
    ),
    Case(
        "topic-name-too-long",
        g(controlbus={"topics": {"t" * 250: {"partitions": 1, "retentionMs": 1}}}),
        "global.controlbus.topics." + "t" * 250,
        CHECK,
    ),
    Case(
        "topic-name-too-long-with-prefix",
        g(
            controlbus={
                "topicPrefix": "p" * 200,
                "topicPrefixAcknowledged": True,
                "topics": {"t" * 50: {"partitions": 1, "retentionMs": 1}},
            }
        ),
        "global.controlbus.topics." + "t" * 50,
        CHECK,
    ),
    Case(
        "topic-partitions-zero",
        g(controlbus={"topics": {"policy": {"partitions": 0}}}),
        "global.controlbus.topics.policy.partitions",
    ),
    Case(
        "topic-retention-zero",
        g(controlbus={"topics": {"queue": {"retentionMs": 0}}}),
        "global.controlbus.topics.queue.retentionMs",
    ),
    Case("topics-removed", g(controlbus={"topics": None}), "global.controlbus.topics"),
    Case(
        "topic-prefix-unacknowledged",
        g(controlbus={"topicPrefix": "qmtl.controlbus."}),
        "global.controlbus.topicPrefixAcknowledged",
        lint=True,
    ),
    Case("pull-secrets-not-a-list", g(imagePullSecrets="regcred"), "global.imagePullSecrets"),
    Case("pull-secret-name", g(imagePullSecrets=["Reg_Cred"]), "global.imagePullSecrets.0"),
    # --- component keys: types and ranges ---------------------------------------------------------------------------
    Case("controlbus-memory-percent", {"controlbus": {"memoryPercent": 5}}, "controlbus.memoryPercent"),
    Case("controlbus-anti-affinity", {"controlbus": {"antiAffinity": "sometimes"}}, "controlbus.antiAffinity"),
    Case("controlbus-zone-spread", {"controlbus": {"zoneSpread": "yes"}}, "controlbus.zoneSpread"),
    Case("controlbus-superuser", {"controlbus": {"superuser": "Admin User"}}, "controlbus.superuser"),
    Case(
        "controlbus-pdb",
        {"controlbus": {"podDisruptionBudget": {"maxUnavailable": "one"}}},
        "controlbus.podDisruptionBudget.maxUnavailable",
    ),
    Case("redis-maxmemory-percent", {"redis": {"maxmemoryPercent": 99}}, "redis.maxmemoryPercent"),
    Case("redis-extra-rules-type", {"redis": {"extraRules": {"gateway": 5}}}, "redis.extraRules.gateway"),
    Case("postgres-parameters-type", {"postgres": {"parameters": "max_connections=200"}}, "postgres.parameters"),
    Case("postgres-shm-zero", {"postgres": {"shmSize": "0Mi"}}, "postgres.shmSize"),
    Case(
        "postgres-backoff-negative",
        {"postgres": {"provision": {"backoffLimit": -1}}},
        "postgres.provision.backoffLimit",
    ),
    Case(
        "neo4j-heap-format",
        {"neo4j": {"memory": {"prod": {"heap": "2 GB", "pagecache": "1g"}}}},
        "neo4j.memory.prod.heap",
    ),
    Case(
        "neo4j-config-value",
        {"neo4j": {"config": {"db.transaction.timeout": ["60s"]}}},
        "neo4j.config.db.transaction.timeout",
    ),
    Case("neo4j-schema-wait-string", {"neo4j": {"schema": {"waitSeconds": "300"}}}, "neo4j.schema.waitSeconds"),
    Case("questdb-username", {"questdb": {"username": "seamless coordinator"}}, "questdb.username"),
    Case("questdb-ilp-string", {"questdb": {"ilpTcp": "false"}}, "questdb.ilpTcp"),
    Case("minio-coordinator-user", {"minio": {"coordinatorUser": "ab"}}, "minio.coordinatorUser"),
    Case("minio-console-type", {"minio": {"console": {"enabled": 1}}}, "minio.console.enabled"),
    Case("minio-node-selector-value", {"minio": {"nodeSelector": {"disktype": 1}}}, "minio.nodeSelector.disktype"),
    Case("minio-tolerations-map", {"minio": {"tolerations": {"key": "dedicated"}}}, "minio.tolerations"),
    Case("minio-affinity-key", {"minio": {"affinity": {"nodeAfinity": {}}}}, "minio.affinity.nodeAfinity"),
    Case(
        "postgres-annotation-value",
        {"postgres": {"podAnnotations": {"backup": True}}},
        "postgres.podAnnotations.backup",
    ),
    Case(
        "coordinator-lease-max-zero",
        {"seamless-coordinator": {"leases": {"maxMs": 0}}},
        "seamless-coordinator.leases.maxMs",
    ),
    Case(
        "coordinator-log-level",
        {"seamless-coordinator": {"logLevel": "verbose"}},
        "seamless-coordinator.logLevel",
    ),
    # --- network policies: peers, CIDRs, DNS -------------------------------------------------------------------------
    Case(
        "peers-not-a-list",
        g(networkPolicy={"gateway": {"from": "0.0.0.0/0"}}),
        "global.networkPolicy.gateway.from",
        lint=True,
    ),
    Case("peer-empty", g(networkPolicy={"gateway": {"from": [{}]}}), "global.networkPolicy.gateway.from.0"),
    Case(
        "peer-unknown-key",
        g(networkPolicy={"coordinator": {"from": [{"serviceAccount": "workers"}]}}),
        "global.networkPolicy.coordinator.from.0.serviceAccount",
    ),
    Case(
        "peer-ipblock-and-selector",
        g(networkPolicy={"coordinator": {"from": [{"ipBlock": {"cidr": "10.0.0.0/8"}, "namespaceSelector": {}}]}}),
        "global.networkPolicy.coordinator.from.0.namespaceSelector",
    ),
    Case(
        "peer-ipblock-cidr",
        g(networkPolicy={"gateway": {"from": [{"ipBlock": {"cidr": "10.0.0.0"}}]}}),
        "global.networkPolicy.gateway.from.0.ipBlock.cidr",
    ),
    Case(
        "peer-label-value",
        g(networkPolicy={"gateway": {"from": [{"namespaceSelector": {"matchLabels": {"team": "a b"}}}]}}),
        "global.networkPolicy.gateway.from.0.namespaceSelector.matchLabels.team",
    ),
    Case(
        "peer-operator",
        g(
            networkPolicy={
                "gateway": {"from": [{"podSelector": {"matchExpressions": [{"key": "app", "operator": "Equals"}]}}]}
            }
        ),
        "global.networkPolicy.gateway.from.0.podSelector.matchExpressions.0.operator",
    ),
    Case(
        "cidr-hostname",
        g(
            postgres={
                "enabled": False,
                "external": {"host": "pg.example.internal", "existingSecret": "pg", "cidrs": ["pg.example.internal"]},
            }
        ),
        "global.postgres.external.cidrs.0",
    ),
    Case(
        "cidr-octet",
        g(networkPolicy={"coordinatorCidrs": ["10.0.0.256/24"]}),
        "global.networkPolicy.coordinatorCidrs.0",
    ),
    Case(
        "cidr-prefix-length",
        g(networkPolicy={"dns": {"cidrs": ["169.254.20.10/33"]}}),
        "global.networkPolicy.dns.cidrs.0",
    ),
    Case("dns-nothing", g(networkPolicy={"dns": {"namespace": "", "cidrs": []}}), "global.networkPolicy.dns"),
    Case("dns-namespace", g(networkPolicy={"dns": {"namespace": "Kube-System"}}), "global.networkPolicy.dns.namespace"),
    # --- rules between values: the aggregated check ------------------------------------------------------------------
    Case(
        "url-bundled-coordinator-disabled",
        {"seamless-coordinator": {"enabled": False}},
        "global.seamless.coordinator_url",
        CHECK,
        lint=True,
    ),
    Case(
        "url-bundled-wrong-port",
        g(seamless={"coordinator_url": "http://seamless-coordinator:9090"}),
        "global.seamless.coordinator_url",
        CHECK,
        lint=True,
    ),
    Case(
        "url-bundled-https",
        g(seamless={"coordinator_url": "https://seamless-coordinator:8080"}),
        "global.seamless.coordinator_url",
        CHECK,
    ),
    Case(
        "url-bundled-fqdn-wrong-port",
        g(seamless={"coordinator_url": "http://seamless-coordinator.qmtl.svc:80"}),
        "global.seamless.coordinator_url",
        CHECK,
    ),
    Case(
        "external-url-with-bundled-coordinator",
        g(seamless={"coordinator_url": "https://coordinator.example.internal"}),
        "global.seamless.coordinator_url",
        CHECK,
    ),
    Case(
        "dev-url-bundled-but-disabled",
        g(seamless={"coordinator_url": "http://seamless-coordinator:8080"}),
        "global.seamless.coordinator_url",
        CHECK,
        base=DEV_FILE,
    ),
    Case(
        "dev-coordinator-without-deps",
        {
            "global": {"seamless": {"coordinator_url": "http://seamless-coordinator:8080"}},
            "seamless-coordinator": {"enabled": True},
        },
        "global.questdb",
        CHECK,
        base=DEV_FILE,
        lint=True,
    ),
    Case(
        "coordinator-record-outlived-by-lease",
        {"seamless-coordinator": {"leases": {"maxMs": 600000, "recordTtlSeconds": 600}}},
        "seamless-coordinator.leases.recordTtlSeconds",
        CHECK,
    ),
    Case(
        "redis-db-shared", g(redis={"databases": {"gateway": 3}}), "global.redis.databases.seamless", CHECK, lint=True
    ),
    Case("ports-collide-minio", g(ports={"minioConsole": 9000}), "global.ports.minioConsole", CHECK, lint=True),
    Case("ports-collide-dagmanager", g(ports={"dagmanagerGrpc": 8101}), "global.ports.dagmanagerGrpc", CHECK),
    Case(
        "forwarder-port-is-the-gateways",
        {"gateway": {"forwarder": {"healthPort": 8080}}},
        "gateway.forwarder.healthPort",
        CHECK,
    ),
    Case("gateway-port-is-the-dagmanager-dial", g(ports={"gateway": 50051}), "global.ports.gateway", CHECK),
    Case(
        "limit-below-request",
        table("redis", "redis", res({"cpu": "250m", "memory": "1Gi"}, {"cpu": "1", "memory": "512Mi"})),
        "redis.resources.prod.redis.limits.memory",
        CHECK,
        lint=True,
    ),
    Case(
        "override-limit-below-request",
        table("questdb", "questdb", res({"cpu": "2", "memory": "4Gi"}, {"cpu": "1500m", "memory": "4Gi"})),
        "questdb.resources.prod.questdb.limits.cpu",
        CHECK,
    ),
    Case(
        "ephemeral-limit-below-request",
        table(
            "minio",
            "minio",
            res(
                {"cpu": "250m", "memory": "1Gi", "ephemeral-storage": "2Gi"},
                {"cpu": "2", "memory": "2Gi", "ephemeral-storage": "1Gi"},
            ),
        ),
        "minio.resources.prod.minio.limits.ephemeral-storage",
        CHECK,
    ),
)

# --- production knobs: exposure, autoscaling, image registry, placement (issue 18) --------------------------------
NGINX_PEERS = [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}}]
INGRESS_ON = {"enabled": True, "host": "qmtl.example.com"}
ROUTE_ON = {"enabled": True, "parentRefs": [{"name": "public"}], "hostnames": ["qmtl.example.com"]}


def ingress(**kwargs) -> dict:
    return g(gatewayIngress={**INGRESS_ON, **kwargs}, networkPolicy={"ingressController": {"from": NGINX_PEERS}})


def route(**kwargs) -> dict:
    return g(gatewayHttpRoute={**ROUTE_ON, **kwargs}, networkPolicy={"gatewayApi": {"from": NGINX_PEERS}})


def autoscaling(section: str, **kwargs) -> dict:
    return {section: {"autoscaling": {"enabled": True, **kwargs}}}


KNOB_CASES: tuple[Case, ...] = (
    # exposure: what an enabled Ingress or HTTPRoute needs, and nothing that loosens the controller's config
    Case("ingress-no-host", ingress(host=""), "global.gatewayIngress.host", lint=True),
    Case("ingress-wildcard-host", ingress(host="*.example.com"), "global.gatewayIngress.host"),
    Case("ingress-unknown-key", ingress(hosts=["qmtl.example.com"]), "global.gatewayIngress.hosts"),
    Case("ingress-class-name", ingress(className="NGINX"), "global.gatewayIngress.className"),
    Case(
        "ingress-path-type",
        ingress(paths=[{"path": "/", "pathType": "ImplementationSpecific"}]),
        "global.gatewayIngress.paths.0.pathType",
    ),
    Case(
        "ingress-path-relative",
        ingress(paths=[{"path": "ws", "pathType": "Prefix"}]),
        "global.gatewayIngress.paths.0.path",
    ),
    Case("ingress-paths-empty", ingress(paths=[]), "global.gatewayIngress.paths"),
    Case(
        "ingress-paths-miss-the-websockets",
        ingress(paths=[{"path": "/strategies", "pathType": "Prefix"}]),
        "global.gatewayIngress.paths",
        CHECK,
        lint=True,
    ),
    Case(
        "ingress-tls-no-secret",
        ingress(tls={"enabled": True, "secretName": ""}),
        "global.gatewayIngress.tls.secretName",
    ),
    Case(
        "ingress-two-issuers",
        ingress(tls={"enabled": True, "certManager": {"issuer": "a", "clusterIssuer": "b"}}),
        "global.gatewayIngress.tls.certManager",
    ),
    Case(
        "ingress-issuer-without-tls",
        ingress(tls={"enabled": False, "certManager": {"clusterIssuer": "acme"}}),
        "global.gatewayIngress.tls.enabled",
    ),
    Case(
        "ingress-snippet-annotation",
        ingress(annotations={"nginx.ingress.kubernetes.io/configuration-snippet": "more_set_headers x;"}),
        "global.gatewayIngress.annotations.nginx.ingress.kubernetes.io/configuration-snippet",
    ),
    Case(
        "ingress-issuer-annotation",
        ingress(annotations={"cert-manager.io/cluster-issuer": "acme"}),
        "global.gatewayIngress.annotations.cert-manager.io/cluster-issuer",
    ),
    Case(
        "ingress-controller-not-admitted",
        g(gatewayIngress=INGRESS_ON),
        "global.networkPolicy.ingressController.from",
        lint=True,
    ),
    Case("route-no-parent", route(parentRefs=[]), "global.gatewayHttpRoute.parentRefs"),
    Case("route-no-hostname", route(hostnames=[]), "global.gatewayHttpRoute.hostnames"),
    Case("route-parent-no-name", route(parentRefs=[{"namespace": "gw"}]), "global.gatewayHttpRoute.parentRefs.0.name"),
    Case(
        "route-parent-port", route(parentRefs=[{"name": "gw", "port": 0}]), "global.gatewayHttpRoute.parentRefs.0.port"
    ),
    Case("route-scheme", route(scheme="wss"), "global.gatewayHttpRoute.scheme"),
    Case(
        "route-paths-miss-the-event-stream",
        route(paths=[{"path": "/ws", "pathType": "Exact"}]),
        "global.gatewayHttpRoute.paths",
        CHECK,
    ),
    Case("route-proxies-not-admitted", g(gatewayHttpRoute=ROUTE_ON), "global.networkPolicy.gatewayApi.from"),
    Case(
        "ingress-controller-peer",
        ingress() | g(networkPolicy={"ingressController": {"from": [{"podSelecter": {}}]}}),
        "global.networkPolicy.ingressController.from.0.podSelecter",
    ),
    # autoscaling: a range the PodDisruptionBudget stays coherent with, for services that share their state
    Case("autoscaling-max-zero", autoscaling("gateway", maxReplicas=0), "gateway.autoscaling.maxReplicas"),
    Case("autoscaling-min-zero", autoscaling("worldservice", minReplicas=0), "worldservice.autoscaling.minReplicas"),
    Case(
        "autoscaling-no-target",
        autoscaling("dagmanager", targetCPUUtilizationPercentage=None),
        "dagmanager.autoscaling",
    ),
    Case(
        "autoscaling-target-string",
        autoscaling("seamless-coordinator", targetCPUUtilizationPercentage="75%"),
        "seamless-coordinator.autoscaling.targetCPUUtilizationPercentage",
    ),
    Case("autoscaling-unknown-key", autoscaling("gateway", minPods=2), "gateway.autoscaling.minPods"),
    Case(
        "autoscaling-max-below-min",
        autoscaling("worldservice", minReplicas=4, maxReplicas=3),
        "worldservice.autoscaling.maxReplicas",
        CHECK,
        lint=True,
    ),
    Case(
        "autoscaling-prod-min-one",
        autoscaling("seamless-coordinator", minReplicas=1),
        "seamless-coordinator.autoscaling.minReplicas",
        CHECK,
    ),
    Case("autoscaling-local-mode", autoscaling("dagmanager"), "dagmanager.autoscaling.enabled", CHECK, base=DEV_FILE),
    # images: the registry mirror is a registry, not a URL
    Case("image-registry-scheme", g(imageRegistry="https://registry.example.com"), "global.imageRegistry"),
    Case("image-registry-trailing-slash", g(imageRegistry="registry.example.com/"), "global.imageRegistry"),
    # placement: typed Kubernetes shapes, and no label or annotation of the chart, Helm or Kubernetes
    Case(
        "pod-label-impersonates-a-component",
        g(podLabels={"app.kubernetes.io/component": "redis"}),
        "global.podLabels.app.kubernetes.io/component",
        lint=True,
    ),
    Case(
        "pod-label-release",
        {"gateway": {"podLabels": {"app.kubernetes.io/instance": "other"}}},
        "gateway.podLabels.app.kubernetes.io/instance",
    ),
    Case("pod-label-chart", {"redis": {"podLabels": {"helm.sh/chart": "x"}}}, "redis.podLabels.helm.sh/chart"),
    Case("pod-label-value", g(podLabels={"team": "quant team"}), "global.podLabels.team"),
    Case("pod-label-key", g(podLabels={"team name": "quant"}), "global.podLabels.team name"),
    Case(
        "pod-annotation-apparmor",
        {"questdb": {"podAnnotations": {"container.apparmor.security.beta.kubernetes.io/questdb": "unconfined"}}},
        "questdb.podAnnotations.container.apparmor.security.beta.kubernetes.io/questdb",
    ),
    Case(
        "pod-annotation-seccomp",
        g(podAnnotations={"seccomp.security.alpha.kubernetes.io/pod": "unconfined"}),
        "global.podAnnotations.seccomp.security.alpha.kubernetes.io/pod",
    ),
    Case(
        "pod-annotation-hook",
        g(podAnnotations={"helm.sh/hook": "pre-install"}),
        "global.podAnnotations.helm.sh/hook",
    ),
    Case(
        "pod-annotation-checksum",
        {"dagmanager": {"podAnnotations": {"checksum/qmtl-config": "0"}}},
        "dagmanager.podAnnotations.checksum/qmtl-config",
    ),
    Case(
        "pod-annotation-kubernetes",
        {"minio": {"podAnnotations": {"kubernetes.io/psp": "privileged"}}},
        "minio.podAnnotations.kubernetes.io/psp",
    ),
    Case("priority-class-name", g(priorityClassName="High_Priority"), "global.priorityClassName"),
    Case(
        "spread-without-when",
        {"controlbus": {"topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "kubernetes.io/hostname"}]}},
        "controlbus.topologySpreadConstraints.0.whenUnsatisfiable",
    ),
    Case(
        "spread-skew-zero",
        g(topologySpreadConstraints=[{"maxSkew": 0, "topologyKey": "x", "whenUnsatisfiable": "DoNotSchedule"}]),
        "global.topologySpreadConstraints.0.maxSkew",
    ),
    Case(
        "affinity-term-without-topology",
        {"worldservice": {"affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [{}]}}}},
        "worldservice.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution.0.topologyKey",
    ),
    Case(
        "node-affinity-operator",
        g(
            affinity={
                "nodeAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": {
                        "nodeSelectorTerms": [{"matchExpressions": [{"key": "zone", "operator": "Within"}]}]
                    }
                }
            }
        ),
        "global.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms.0"
        ".matchExpressions.0.operator",
    ),
    Case(
        "toleration-operator",
        {"seamless-coordinator": {"tolerations": [{"key": "x", "operator": "Maybe"}]}},
        "seamless-coordinator.tolerations.0.operator",
    ),
    Case("node-selector-value", {"dagmanager": {"nodeSelector": {"pool": ["a"]}}}, "dagmanager.nodeSelector.pool"),
    Case("global-node-selector-list", g(nodeSelector=["pool=qmtl"]), "global.nodeSelector"),
    Case("global-toleration-effect", g(tolerations=[{"key": "x", "effect": "NoRun"}]), "global.tolerations.0.effect"),
    Case("ingress-enabled-string", g(gatewayIngress={"enabled": "yes"}), "global.gatewayIngress.enabled"),
    Case("route-enabled-string", g(gatewayHttpRoute={"enabled": "true"}), "global.gatewayHttpRoute.enabled"),
    Case(
        "ingress-issuer-name",
        ingress(tls={"enabled": True, "certManager": {"issuer": "Lets Encrypt"}}),
        "global.gatewayIngress.tls.certManager.issuer",
    ),
    Case("autoscaling-enabled-string", {"gateway": {"autoscaling": {"enabled": "on"}}}, "gateway.autoscaling.enabled"),
    Case(
        "autoscaling-memory-zero",
        autoscaling("worldservice", targetMemoryUtilizationPercentage=0),
        "worldservice.autoscaling.targetMemoryUtilizationPercentage",
    ),
)
CASES += KNOB_CASES

# --- issue 16: what a careless or hostile operator types to weaken auth or isolation, by class -----------------
# (tests/security/adversarial.py is the review's own list; each class here has at least 5 cases.)

CLASSES = {
    "redis-acl": "Redis extraRules outside the allowlist (passwords, key/channel patterns, grants, selectors)",
    "config-env": "dependency settings passed through as env vars / arguments outside the allowlists",
    "secret-ref": "Secret references naming another component's chart Secret or a Helm release record",
    "dsn": "user and database names that would change a DSN (host, path, parameters)",
    "coordinator-url": "coordinator URLs in odd forms, with credentials or a path, or on loopback in prod",
    "network": "NetworkPolicies off in prod without the acknowledgement",
    "quantity": "quantities and integers that would overflow what the chart computes",
    "script": "values that would be code in a provisioning script, ACL file or plan",
}


def rules(who: str, text: str) -> dict:
    return {"redis": {"extraRules": {who: text}}}


def ext(dep: str, **keys) -> dict:
    return g(**{dep: {"enabled": False, "external": {"cidrs": ["10.9.0.0/24"], **keys}}})


def coordinator(url: str, bundled: bool = False) -> dict:
    return {"global": {"seamless": {"coordinator_url": url}}, "seamless-coordinator": {"enabled": bundled}}


ISSUE16: tuple[Case, ...] = (
    # redis-acl: the allowlist names the key, whatever the spelling
    *(
        Case(f"redis-rule-{i}", rules(who, rule), f"redis.extraRules.{who}", cls="redis-acl")
        for i, (who, rule) in enumerate(
            (
                ("gateway", "+@ALL"),
                ("gateway", "NOPASS"),
                ("seamless", "+get\tallkeys"),
                ("seamless", "%R~world:*"),
                ("worldservice", "+@connection"),
                ("ratelimiter", ">hunter2"),
                ("gateway", "(~* +@all)"),
                ("gateway", '"allkeys"'),
                ("gateway", "+get\nuser evil on nopass ~* +@all"),
                ("worldservice", "+select"),
            )
        )
    ),
    # config-env: names outside the allowlists, values with control characters
    Case("neo4j-auth-env", {"neo4j": {"config": {"AUTH": "none"}}}, "neo4j.config.AUTH", lint=True, cls="config-env"),
    Case(
        "neo4j-auth-setting",
        {"neo4j": {"config": {"dbms.security.auth_enabled": False}}},
        "neo4j.config.dbms.security.auth_enabled",
        cls="config-env",
    ),
    Case(
        "neo4j-newline-value",
        {"neo4j": {"config": {"db.transaction.timeout": "60s\ndbms.security.auth_enabled=false"}}},
        "neo4j.config.db.transaction.timeout",
        cls="config-env",
    ),
    Case("questdb-pg-user", {"questdb": {"config": {"pg_user": "admin"}}}, "questdb.config.pg_user", cls="config-env"),
    Case(
        "questdb-udp-case",
        {"questdb": {"config": {"Line.Udp.Enabled": True}}},
        "questdb.config.Line.Udp.Enabled",
        cls="config-env",
    ),
    Case(
        "questdb-copy-root",
        {"questdb": {"config": {"cairo.sql.copy.root": "/"}}},
        "questdb.config.cairo.sql.copy.root",
        cls="config-env",
    ),
    Case(
        "postgres-archive-command",
        {"postgres": {"parameters": {"archive_command": "id"}}},
        "postgres.parameters.archive_command",
        cls="config-env",
    ),
    Case(
        "annotation-apparmor-unconfined",
        {"postgres": {"podAnnotations": {"container.apparmor.security.beta.kubernetes.io/postgres": "unconfined"}}},
        "postgres.podAnnotations.container.apparmor.security.beta.kubernetes.io/postgres",
        cls="config-env",
    ),
    Case(
        "postgres-log-statement",
        {"postgres": {"parameters": {"LOG_STATEMENT": "all"}}},
        "postgres.parameters.LOG_STATEMENT",
        cls="config-env",
    ),
    # secret-ref: the aggregated check compares with the chart's own Secret names
    Case(
        "questdb-secret-postgres-superuser",
        ext("questdb", host="q.example.internal", existingSecret="qmtl-postgres-superuser"),
        "global.questdb.external.existingSecret",
        CHECK,
        cls="secret-ref",
    ),
    Case(
        "events-secret-neo4j",
        g(gatewayEvents={"existingSecret": "qmtl-neo4j", "key": "password"}),
        "global.gatewayEvents.existingSecret",
        CHECK,
        lint=True,
        cls="secret-ref",
    ),
    Case(
        "s3-secret-minio-root",
        ext("minio", endpoint="https://s3.example.internal", existingSecret="qmtl-minio-root"),
        "global.minio.external.existingSecret",
        CHECK,
        cls="secret-ref",
    ),
    Case(
        "redis-secret-controlbus",
        ext("redis", host="r.example.internal", existingSecret="qmtl-controlbus-superuser"),
        "global.redis.external.existingSecret",
        CHECK,
        cls="secret-ref",
    ),
    Case(
        "postgres-secret-helm-release",
        ext("postgres", host="pg.example.internal", existingSecret="sh.helm.release.v1.qmtl.v1"),
        "global.postgres.external.existingSecret",
        CHECK,
        cls="secret-ref",
    ),
    Case(
        "neo4j-secret-redis-users",
        ext("neo4j", uri="neo4j+s://graph.example.internal:7687", existingSecret="qmtl-redis-users"),
        "global.neo4j.external.existingSecret",
        CHECK,
        cls="secret-ref",
    ),
    # dsn: typed names
    Case(
        "postgres-database-query",
        ext(
            "postgres",
            host="pg.example.internal",
            existingSecret="pg",
            databases={"gateway": {"database": "gw?sslmode=disable"}},
        ),
        "global.postgres.external.databases.gateway.database",
        cls="dsn",
    ),
    Case(
        "postgres-username-host",
        ext(
            "postgres",
            host="pg.example.internal",
            existingSecret="pg",
            databases={"worldservice": {"username": "ws:x@evil/"}},
        ),
        "global.postgres.external.databases.worldservice.username",
        cls="dsn",
    ),
    Case(
        "questdb-database-query", g(questdb={"database": "qmtl?sslmode=disable"}), "global.questdb.database", cls="dsn"
    ),
    Case(
        "questdb-external-database-path",
        ext("questdb", host="q.example.internal", existingSecret="q", database="qmtl/../x"),
        "global.questdb.external.database",
        cls="dsn",
    ),
    Case(
        "redis-username-redirect",
        ext("redis", host="r.example.internal", existingSecret="r", users={"gateway": {"username": "gw@evil:6379/0#"}}),
        "global.redis.external.users.gateway.username",
        cls="dsn",
    ),
    Case(
        "neo4j-username-space",
        ext("neo4j", uri="neo4j+s://graph.example.internal:7687", existingSecret="neo4j-creds", username="neo4j admin"),
        "global.neo4j.external.username",
        cls="dsn",
    ),
    # coordinator-url: forms (schema), the bundled host exactly (check), loopback in prod (schema)
    Case(
        "url-decimal-ip",
        coordinator("http://2130706433:8080"),
        "global.seamless.coordinator_url",
        cls="coordinator-url",
    ),
    Case(
        "url-octal-ip", coordinator("http://0177.0.0.1:8080"), "global.seamless.coordinator_url", cls="coordinator-url"
    ),
    Case(
        "url-userinfo",
        coordinator("http://u:p@c.example.internal"),
        "global.seamless.coordinator_url",
        cls="coordinator-url",
    ),
    Case(
        "url-loopback-v4",
        coordinator("http://127.0.0.1:8080"),
        "global.seamless.coordinator_url",
        cls="coordinator-url",
    ),
    Case("url-loopback-v6", coordinator("http://[::1]:8080"), "global.seamless.coordinator_url", cls="coordinator-url"),
    Case(
        "url-localhost", coordinator("http://LocalHost:8080"), "global.seamless.coordinator_url", cls="coordinator-url"
    ),
    Case(
        "url-mapped-v6",
        coordinator("http://[::ffff:7f00:1]:8080"),
        "global.seamless.coordinator_url",
        cls="coordinator-url",
    ),
    Case(
        "url-prefix-of-bundled",
        coordinator("http://seamless-coordinator.evil.example:8080", bundled=True),
        "global.seamless.coordinator_url",
        CHECK,
        cls="coordinator-url",
    ),
    Case(
        "url-bundled-path",
        coordinator("http://seamless-coordinator:8080/x", bundled=True),
        "global.seamless.coordinator_url",
        CHECK,
        cls="coordinator-url",
    ),
    Case(
        "url-ipv6-with-bundled",
        coordinator("http://[fd00::1]:8080", bundled=True),
        "global.seamless.coordinator_url",
        CHECK,
        cls="coordinator-url",
    ),
    # network: prod without NetworkPolicies needs the acknowledgement, exactly true
    Case(
        "netpol-off",
        g(networkPolicy={"enabled": False}),
        "global.networkPolicy.disabledAcknowledged",
        lint=True,
        cls="network",
    ),
    Case(
        "netpol-off-ack-false",
        g(networkPolicy={"enabled": False, "disabledAcknowledged": False}),
        "global.networkPolicy.disabledAcknowledged",
        cls="network",
    ),
    Case(
        "netpol-off-ack-string",
        g(networkPolicy={"enabled": False, "disabledAcknowledged": "true"}),
        "global.networkPolicy.disabledAcknowledged",
        cls="network",
    ),
    Case(
        "netpol-off-ack-null",
        g(networkPolicy={"enabled": False, "disabledAcknowledged": None}),
        "global.networkPolicy.disabledAcknowledged",
        cls="network",
    ),
    Case(
        "netpol-off-ack-number",
        g(networkPolicy={"enabled": False, "disabledAcknowledged": 1}),
        "global.networkPolicy.disabledAcknowledged",
        cls="network",
    ),
    Case("netpol-enabled-string", g(networkPolicy={"enabled": "false"}), "global.networkPolicy.enabled", cls="network"),
    # quantity: bounded
    Case(
        "memory-8Ei",
        table("redis", "redis", res({"cpu": "1", "memory": "1Gi"}, {"cpu": "2", "memory": "8Ei"})),
        "redis.resources.prod.redis.limits.memory",
        CHECK,
        cls="quantity",
    ),
    Case(
        "memory-number-huge",
        table("controlbus", "controlbus-provision", res({"cpu": "1", "memory": "1Gi"}, {"cpu": "2", "memory": 1e30})),
        "controlbus.resources.prod.controlbus-provision.limits.memory",
        CHECK,
        cls="quantity",
    ),
    Case(
        "cpu-million-cores",
        table("redis", "redis", res({"cpu": "1", "memory": "1Gi"}, {"cpu": "1000000", "memory": "1Gi"})),
        "redis.resources.prod.redis.limits.cpu",
        CHECK,
        cls="quantity",
    ),
    Case(
        "retention-overflow",
        g(controlbus={"topics": {"policy": {"retentionMs": 10**30}}}),
        "global.controlbus.topics.policy.retentionMs",
        cls="quantity",
    ),
    Case("replicas-huge", g(replicas={"prod": {"gateway": 10**10}}), "global.replicas.prod.gateway", cls="quantity"),
    Case(
        "wait-seconds-huge",
        {"postgres": {"provision": {"waitSeconds": 10**12}}},
        "postgres.provision.waitSeconds",
        cls="quantity",
    ),
    # script: values that would be code in a script, an ACL file or a plan
    Case(
        "minio-policy-substitution", {"minio": {"coordinatorPolicy": "x$(id)"}}, "minio.coordinatorPolicy", cls="script"
    ),
    Case("minio-user-quote", {"minio": {"coordinatorUser": "coord'; id"}}, "minio.coordinatorUser", cls="script"),
    Case(
        "topic-record-injection",
        g(controlbus={"topics": {"x\tacl\tallow\tUser:evil": {"partitions": 1, "retentionMs": 1}}}),
        "global.controlbus.topics.x\tacl\tallow\tUser:evil",
        cls="script",
    ),
    Case(
        "topic-prefix-newline",
        g(controlbus={"topicPrefix": "p\nacl", "topicPrefixAcknowledged": True}),
        "global.controlbus.topicPrefix",
        cls="script",
    ),
    Case("superuser-quote", {"controlbus": {"superuser": 'admin"]'}}, "controlbus.superuser", cls="script"),
    Case("questdb-username-newline", {"questdb": {"username": "qdb\nx"}}, "questdb.username", cls="script"),
)

CASES = (*CASES, *ISSUE16)
CASE_IDS = [c.id for c in CASES]
assert len(set(CASE_IDS)) == len(CASE_IDS), "duplicate case id"


def counts() -> dict[str, int]:
    """Cases per class of issue 16."""
    out = dict.fromkeys(CLASSES, 0)
    for case in CASES:
        if case.cls:
            out[case.cls] += 1
    return out


if __name__ == "__main__":
    for cls, n in counts().items():
        print(f"{cls:16} {n:3} cases  {CLASSES[cls]}")

"""The source of values.schema.json: every key of the chart's values (the umbrella's AND every subchart's
section), typed and described, unknown keys refused everywhere, and the profile rules a JSON Schema can
express.

Generated file: values.schema.json at the chart root (`python -m schemas.build`; `--check` reports
drift). What lives where:
  - here: types, shapes, bounds, patterns, unknown keys, rules between keys that a schema can state
    (if/then), and the prod rules ("if global.profile is prod then ..."): coordinator_url, what each
    enabled service needs, ControlBus brokers, no `latest`, persistence;
  - `default`s: NOT written here. schemas/build.py copies them from values.yaml and from each subchart's
    values.yaml (the places a default lives) and fails when one of them holds a key this file does not
    declare;
  - facts of the chart that this file must agree with are read from the chart, not restated: the
    containers of the sizing table and the workloads of the replica table (values.yaml), the ControlBus
    topics the services use (values.yaml), the subcharts (Chart.yaml). `Chart` below carries them;
  - rules that compare two values, or a value with the chart's own derived facts (service names,
    ports, the gateway's hard-coded DAG Manager address): the aggregated check, templates/_validate.tpl.

Dialect: JSON Schema draft-07, self-contained (local `$ref` only, shared types under `definitions`).
Helm compiles the whole schema on every install, upgrade, template and lint: the draft-07 meta-schema is
cheaper to check the schema against than 2020-12's (about 7 ms of a 25 ms compile for this file), it is
the dialect every Helm 3 and 4 validator reads, and nothing here needs a later keyword. In draft-07 a
`$ref` ignores its sibling keywords, so a `$ref` node carries only annotations (description, default; a test checks).
Patterns use the syntax common to Go's RE2 (Helm >= 3.18.5 and Helm 4 validate with
santhosh-tekuri/jsonschema) and Python's `re` (scripts/validate uses python-jsonschema): anchors, classes,
groups, alternation, no look-arounds, no \\d or \\s, and no long length ranges such as `{1,249}` (RE2
expands a range into that many states: a few of them cost milliseconds per compile); a length bound is a
minLength/maxLength beside the pattern.
"""

from __future__ import annotations

import dataclasses
from typing import Any

SCHEMA_DIALECT = "http://json-schema.org/draft-07/schema#"
DEFINITIONS = "definitions"  # where shared types live; `$ref`s point at #/definitions/<name>

Schema = dict[str, Any]

# --- small builders -------------------------------------------------------------------------------


def obj(
    description: str,
    properties: dict[str, Schema] | None = None,
    *,
    required: tuple[str, ...] = (),
    additional: bool | Schema = False,
    **extra: Any,
) -> Schema:
    """An object. `additional=False` (the default) refuses unknown keys."""
    schema: Schema = {"type": "object", "description": description}
    if properties:
        schema["properties"] = properties
    if required:
        schema["required"] = list(required)
    schema["additionalProperties"] = additional
    schema.update(extra)
    return schema


def string(description: str, **extra: Any) -> Schema:
    return {"type": "string", "description": description, **extra}


def integer(description: str, minimum: int | None = None, maximum: int | None = None, **extra: Any) -> Schema:
    schema: Schema = {"type": "integer", "description": description}
    if minimum is not None:
        schema["minimum"] = minimum
    if maximum is not None:
        schema["maximum"] = maximum
    schema.update(extra)
    return schema


def boolean(description: str) -> Schema:
    return {"type": "boolean", "description": description}


def array(description: str, items: Schema, **extra: Any) -> Schema:
    return {"type": "array", "description": description, "items": items, **extra}


def ref(name: str, description: str | None = None) -> Schema:
    """A shared type by name (DEFS), with the description of this use of it."""
    schema: Schema = {"$ref": f"#/{DEFINITIONS}/{name}"}
    if description is not None:
        schema["description"] = description
    return schema


def nonempty(pattern: str | None = None, **extra: Any) -> Schema:
    """A constraint (no description): a non-empty string, optionally matching `pattern`."""
    schema: Schema = {"type": "string", "minLength": 1, **extra}
    if pattern:
        schema["pattern"] = pattern
    return schema


def one_of_keys_set(description: str, *keys: str) -> Schema:
    """At least one of `keys` is set (a non-empty string or list). Written as "not (all of them empty or
    absent)", so that a refusal names the object itself, once, in Helm and in python-jsonschema alike."""
    empty = {key: {"maxLength": 0, "maxItems": 0} for key in keys}
    return {"not": {"properties": empty}, "description": description}


def prop(path: str, schema: Schema) -> Schema:
    """`schema` applied at the dotted `path` below the current object (for rule fragments)."""
    for part in reversed(path.split(".")):
        schema = {"properties": {part: schema}}
    return schema


def present(path: str, schema: Schema) -> Schema:
    """Like prop(), and every key on the way is required (an `if` that must not hold vacuously)."""
    for part in reversed(path.split(".")):
        schema = {"properties": {part: schema}, "required": [part]}
    return schema


# --- patterns (RE2 and Python `re` alike) -------------------------------------------------------------

HOSTNAME = r"[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?"
IPV6 = r"\[[0-9A-Fa-f:.]+\]"
HOST = rf"^({HOSTNAME}|{IPV6})$"
PORT_SUFFIX = r"(:[0-9]{1,5})?"
HTTP_URL = rf"^https?://({HOSTNAME}|{IPV6}){PORT_SUFFIX}(/[^ \t\n?#]*)?$"
HTTP_URL_OR_EMPTY = rf"^(https?://({HOSTNAME}|{IPV6}){PORT_SUFFIX}(/[^ \t\n?#]*)?)?$"
S3_ENDPOINT = rf"^https?://({HOSTNAME}|{IPV6}){PORT_SUFFIX}/?$"
NEO4J_URI = rf"^(bolt|neo4j)(\+s|\+ssc)?://({HOSTNAME}|{IPV6}){PORT_SUFFIX}$"
BROKER = rf"^({HOSTNAME}|{IPV6}):[0-9]{{1,5}}$"
DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
DNS_LABEL_OR_EMPTY = r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?)?$"
DNS_SUBDOMAIN_OR_EMPTY = r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*)?$"
SECRET_KEY = r"^[-._a-zA-Z0-9]+$"
_OCTET = r"(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
CIDR = (
    rf"^({_OCTET}\.){{3}}{_OCTET}/([0-9]|[12][0-9]|3[0-2])$"
    r"|^[0-9A-Fa-f]{0,4}(:[0-9A-Fa-f]{0,4}){2,7}/([0-9]|[1-9][0-9]|1[01][0-9]|12[0-8])$"
)
# Lengths go beside these patterns as minLength/maxLength (no long length ranges: the module's docstring).
KAFKA_TOPIC = r"^[A-Za-z0-9._-]+$"  # Kafka's length limit (prefix + name) is the aggregated check's
KAFKA_TOPIC_PREFIX = r"^[A-Za-z0-9._-]*$"
KAFKA_TOPIC_PREFIX_MAX = 200  # leaves room for the topic names after it
S3_BUCKET = r"^[a-z0-9][a-z0-9.-]*[a-z0-9]$"  # 3 to 63 characters
# No `*` or `?`: the prefix is written into the coordinator's S3 policy, where they are wildcards.
S3_PREFIX = r"^[A-Za-z0-9!_.'()-]+(/[A-Za-z0-9!_.'()-]+)*/$"
LATEST = r"^[Ll][Aa][Tt][Ee][Ss][Tt]$"
PROMETHEUS_DURATION = r"^[1-9][0-9]*(ms|s|m|h)$"  # one number and unit (the aggregated check compares two)
LABEL_VALUE = r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$"
# Image references (the distribution/reference grammar, simplified): [registry[:port]/]path, a tag, a digest.
_IMAGE_COMPONENT = r"[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*"
IMAGE_REPOSITORY = rf"^({HOSTNAME}(:[0-9]{{1,5}})?/)?{_IMAGE_COMPONENT}(/{_IMAGE_COMPONENT})*$"
IMAGE_TAG = r"^([A-Za-z0-9_][A-Za-z0-9_.-]*)?$"  # at most 128 characters
IMAGE_DIGEST = r"^(sha256:[a-f0-9]{64})?$"
CPU = r"^([0-9]+m|[0-9]+(\.[0-9]+)?|\.[0-9]+)$"
CPU_ZERO = r"^0*(\.0*)?m?$"
MEMORY = r"^([0-9]+(\.[0-9]+)?|\.[0-9]+)([EPTGMK]i|[EPTGMk])?$"
MEMORY_ZERO = r"^0*(\.0*)?([EPTGMK]i|[EPTGMk])?$"
NEO4J_BYTES = r"^[0-9]+[kKmMgG]?$"
SETTING_NAME = r"^[A-Za-z][A-Za-z0-9_.-]*$"
LABEL_KEY = (
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"
)
LABEL_VALUE = r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$"
STORAGE_CLASS = r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?)?$"
STORAGE_CLASS_OR_NONE = r"^(-|[a-z0-9]([-a-z0-9.]*[a-z0-9])?)?$"
SSL_MODES = ["disable", "allow", "prefer", "require", "verify-ca", "verify-full"]
PULL_POLICIES = ["Always", "IfNotPresent", "Never"]


# --- the chart facts this schema builds on ------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Chart:
    """What schemas/build.py reads from the chart so that nothing here restates it.

    subcharts:  name -> "core" | "dependency" | "library" (Chart.yaml)
    containers: every container of the sizing table (values.yaml global.resources.<profile>)
    workloads:  every workload of the replica table (values.yaml global.replicas.<profile>)
    topics:     the ControlBus topics the services use (values.yaml global.controlbus.topics)
    """

    subcharts: dict[str, str]
    containers: tuple[str, ...]
    workloads: tuple[str, ...]
    topics: tuple[str, ...]


# Which sizing-table containers each component's own `resources` may override (qmtl.resources is called
# with that component's values). The helm test pods (helm-test-*) are the umbrella's: no override.
# schemas/build.py checks this against the sizing table; tests/validation renders every override.
SECTION_CONTAINERS: dict[str, tuple[str, ...]] = {
    "gateway": ("gateway", "gateway-forwarder", "qmtl-init"),
    "dagmanager": ("dagmanager", "qmtl-init"),
    "worldservice": ("worldservice", "qmtl-init"),
    "seamless-coordinator": ("seamless-coordinator",),
    "controlbus": ("redpanda", "redpanda-init", "controlbus-provision"),
    "redis": ("redis",),
    "postgres": ("postgres", "postgres-provision"),
    "neo4j": ("neo4j", "neo4j-conf", "neo4j-schema"),
    "questdb": ("questdb",),
    "minio": ("minio", "minio-provision"),
}
UMBRELLA_CONTAINER_PREFIX = "helm-test-"


# --- shared definitions (DEFS) --------------------------------------------------------------------------


def _quantity(kind: str) -> Schema:
    pattern, zero = (CPU, CPU_ZERO) if kind == "cpu" else (MEMORY, MEMORY_ZERO)
    example = "250m or 1" if kind == "cpu" else "256Mi or 1Gi"
    return {
        "description": f"A positive Kubernetes {kind} quantity, e.g. {example}.",
        "type": ["string", "number"],
        "pattern": pattern,
        "exclusiveMinimum": 0,
        "not": {"type": "string", "pattern": zero},
    }


def _resource_list(which: str) -> Schema:
    return obj(
        f"Resource {which}: cpu and memory (ephemeral-storage optional).",
        {
            "cpu": ref("cpu", f"CPU {which}."),
            "memory": ref("memory", f"Memory {which}."),
            "ephemeral-storage": ref("memory", f"Ephemeral storage {which}."),
        },
        required=("cpu", "memory"),
    )


def _image(description: str, *, pull_policy: bool = True, override: bool = False) -> Schema:
    tag = (
        "Image tag; empty: the tag of global.qmtlImage."
        if override
        else 'Image tag (empty only with a digest). Quote it in YAML ("7.2" is not 7.2). Never `latest` in prod.'
    )
    props: dict[str, Schema] = {
        "repository": string(
            "Image repository, [registry[:port]/]path, e.g. docker.io/library/redis"
            + ("; empty: global.qmtlImage's." if override else "."),
            pattern=IMAGE_REPOSITORY if not override else f"^$|{IMAGE_REPOSITORY}",
        ),
        "tag": string(tag, pattern=IMAGE_TAG, maxLength=128),
        "digest": string(
            "Digest sha256:<64 hex>, or empty; when set the image is pulled by digest (repository:tag@sha256:...).",
            pattern=IMAGE_DIGEST,
        ),
    }
    if pull_policy:
        props["pullPolicy"] = string("imagePullPolicy of the containers using this image.", enum=PULL_POLICIES)
    return obj(description, props)


def _storage_size(description: str) -> Schema:
    return {
        "description": description,
        "type": "string",
        "pattern": r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$",
        "not": {"type": "string", "pattern": MEMORY_ZERO},
    }


def _label_selector() -> Schema:
    return obj(
        "A Kubernetes label selector; {} selects everything.",
        {
            "matchLabels": obj(
                "Labels that must all match.", patternProperties={LABEL_KEY: {"type": "string", "pattern": LABEL_VALUE}}
            ),
            "matchExpressions": array(
                "Set-based requirements.",
                obj(
                    "One requirement.",
                    {
                        "key": string("Label key.", pattern=LABEL_KEY),
                        "operator": string("How the values apply.", enum=["In", "NotIn", "Exists", "DoesNotExist"]),
                        "values": array("Values (In, NotIn).", {"type": "string", "pattern": LABEL_VALUE}),
                    },
                    required=("key", "operator"),
                ),
            ),
        },
    )


DEFS: dict[str, Schema] = {
    "cpu": _quantity("cpu"),
    "memory": _quantity("memory"),
    "resources": obj(
        "Requests and limits of one container. Both are required: every container of the stack is sized.",
        {"requests": _resource_list("requests"), "limits": _resource_list("limits")},
        required=("requests", "limits"),
    ),
    "image": _image("A container image: repository plus a tag and/or a digest (the digest pins it)."),
    "qmtlImage": _image(
        "The image of gateway, dagmanager and worldservice (their pull policy is global.imagePullPolicy).",
        pull_policy=False,
    ),
    "imageOverride": _image(
        "A core service's own image: each field set here replaces the one of "
        "global.qmtlImage; empty fields are taken from it.",
        override=True,
    ),
    "secretName": string("Name of a Secret in the release namespace.", pattern=DNS_SUBDOMAIN, maxLength=253),
    "secretKey": string("A key inside that Secret.", pattern=SECRET_KEY, maxLength=253),
    "cidr": string("An address range: IPv4 a.b.c.d/n or IPv6 x:y::/n.", pattern=CIDR),
    "cidrs": array(
        "Address ranges (CIDR) where an external endpoint lives: the NetworkPolicy egress rules of "
        "its consumers allow exactly these.",
        ref("cidr"),
    ),
    "port": integer("A TCP port.", 1, 65535),
    "labelSelector": _label_selector(),
    "networkPolicyPeers": array(
        "NetworkPolicy peers, as in a NetworkPolicy's `from`: each one podSelector and/or namespaceSelector, "
        "or ipBlock. [] admits nobody from outside the release.",
        obj(
            "One peer.",
            {
                "podSelector": ref(
                    "labelSelector",
                    "Pods (in the release's namespace, or in the namespaces namespaceSelector selects).",
                ),
                "namespaceSelector": ref("labelSelector", "Namespaces; {} is every namespace."),
                "ipBlock": obj(
                    "An address range (cannot be combined with the selectors).",
                    {
                        "cidr": ref("cidr", "The range."),
                        "except": array("Ranges inside it that are not admitted.", ref("cidr")),
                    },
                    required=("cidr",),
                ),
            },
            minProperties=1,
            dependencies={
                "ipBlock": {
                    # `not: {}` rather than `false`: python-jsonschema reports a `false` schema without the key path
                    "properties": {
                        key: {"not": {}, "description": "A peer is selectors or an ipBlock, not both."}
                        for key in ("podSelector", "namespaceSelector")
                    }
                }
            },
        ),
    ),
    "storageSize": _storage_size("A positive volume size (Kubernetes quantity), e.g. 8Gi."),
    "retentionPolicy": obj(
        "What happens to the data PVCs (StatefulSet persistentVolumeClaimRetentionPolicy).",
        {
            "whenDeleted": string(
                "When the StatefulSet is deleted (helm uninstall): Retain keeps the data.", enum=["Retain", "Delete"]
            ),
            "whenScaled": string("When the StatefulSet is scaled down.", enum=["Retain", "Delete"]),
        },
    ),
    "podAnnotations": obj("Annotations of the pods.", additional={"type": "string"}),
    "nodeSelector": obj(
        "nodeSelector of the pods.", patternProperties={LABEL_KEY: {"type": "string", "pattern": LABEL_VALUE}}
    ),
    "tolerations": array(
        "Tolerations of the pods.",
        obj(
            "A toleration.",
            {
                "key": string("Taint key (empty with Exists: every taint)."),
                "operator": string("Exists or Equal.", enum=["Exists", "Equal"]),
                "value": string("Taint value (Equal)."),
                "effect": string(
                    "Taint effect (empty: every effect).", enum=["", "NoSchedule", "PreferNoSchedule", "NoExecute"]
                ),
                "tolerationSeconds": integer("How long a NoExecute taint is tolerated.", 0),
            },
        ),
    ),
    "affinity": obj(
        "Affinity of the pods (Kubernetes Affinity).",
        {
            "nodeAffinity": obj("Node affinity.", additional=True),
            "podAffinity": obj("Pod affinity.", additional=True),
            "podAntiAffinity": obj("Pod anti-affinity.", additional=True),
        },
    ),
    "settings": obj(
        "Extra settings of the server: name -> value.",
        patternProperties={SETTING_NAME: {"type": ["string", "number", "boolean"]}},
    ),
    "topic": obj(
        "One ControlBus topic.",
        {
            "partitions": integer("Partitions.", 1, 1000),
            "retentionMs": integer("retention.ms: milliseconds > 0, or -1 (forever).", -1, **{"not": {"const": 0}}),
        },
        required=("partitions", "retentionMs"),
    ),
    "jobTiming": obj(
        "The hook Job's bounds.",
        {
            "waitSeconds": integer("How long it waits for the server before it gives up.", 1),
            "backoffLimit": integer(
                "Retries of the Job (backoffLimit; the Job template reads 0 as its default, 4).", 1
            ),
            "activeDeadlineSeconds": integer("Deadline of the whole Job (activeDeadlineSeconds).", 1),
        },
    ),
}

IMAGE_DEFS = ("image", "qmtlImage", "imageOverride")


# --- global ---------------------------------------------------------------------------------------------

PORTS: dict[str, str] = {
    "gateway": "gateway HTTP API and /metrics.",
    "dagmanagerHttp": "dagmanager HTTP (/status).",
    "dagmanagerGrpc": "dagmanager gRPC (insecure). QMTL's gateway dials 127.0.0.1:50051 through a sidecar.",
    "worldservice": "worldservice HTTP.",
    "coordinator": "Seamless coordinator API (/healthz).",
    "coordinatorMetrics": "Seamless coordinator Prometheus metrics.",
    "kafka": "Redpanda Kafka API (the ControlBus brokers).",
    "kafkaSasl": "Redpanda Kafka API with SASL (provisioning and admin clients).",
    "redpandaAdmin": "Redpanda admin API.",
    "redpandaRpc": "Redpanda internal RPC between brokers.",
    "redis": "Redis.",
    "postgres": "PostgreSQL.",
    "neo4jBolt": "Neo4j Bolt.",
    "neo4jHttp": "Neo4j HTTP.",
    "questdbPg": "QuestDB PostgreSQL wire protocol.",
    "questdbHttp": "QuestDB HTTP/console.",
    "questdbHealth": "QuestDB min-HTTP health endpoint.",
    "minio": "MinIO S3 API (health at /minio/health/live).",
    "minioConsole": "MinIO console.",
}


def _external_secret() -> Schema:
    return ref(
        "secretName", "Existing Secret in the release namespace holding the credentials (never a password in values)."
    )


def _dependency(
    name: str, description: str, external: dict[str, Schema], extra: dict[str, Schema] | None = None
) -> Schema:
    props: dict[str, Schema] = {
        "enabled": boolean(
            f"Deploy the bundled {name}. false: use `external` (a managed service), or, in dev "
            "only, nothing (the services run in their local modes)."
        ),
        **(extra or {}),
        "external": obj(
            f"A managed {name}, used when enabled is false (must stay empty while enabled).",
            {
                **external,
                "cidrs": ref("cidrs", f"Address ranges of the managed {name} (NetworkPolicy egress)."),
            },
        ),
    }
    return obj(description, props, required=("enabled", *(("topics",) if "topics" in props else ())))


REDIS_USERS = ("gateway", "worldservice", "seamless", "ratelimiter")
POSTGRES_USERS = ("gateway", "worldservice")


def _global(chart: Chart) -> Schema:
    redis = _dependency(
        "Redis",
        "Redis: one ACL user, key pattern and DB index per QMTL service.",
        {
            "host": string("Host of the managed Redis.", pattern=HOST),
            "port": ref("port", "Port of the managed Redis."),
            "tls": boolean("Connect with TLS (rediss://)."),
            "existingSecret": _external_secret(),
            "users": obj(
                "Per service: its Redis username and the key of its password in existingSecret.",
                {
                    who: obj(
                        f"The {who} user.",
                        {
                            "username": string("Username.", minLength=1),
                            "passwordKey": ref("secretKey", "Key of the password in existingSecret."),
                        },
                    )
                    for who in REDIS_USERS
                },
            ),
        },
        {
            "databases": obj(
                "Logical Redis database per user (QMTL's prod sample: 0, 2, 3, 4); each distinct.",
                {who: integer(f"DB index of the {who} user.", 0, 15) for who in REDIS_USERS},
                required=REDIS_USERS,
            ),
            "dedicatedCoordinator": boolean(
                "A second bundled Redis (Service redis-seamless) only the coordinator uses. Recommended in prod."
            ),
        },
    )
    postgres = _dependency(
        "PostgreSQL",
        "PostgreSQL: a role and a database per service (gateway, worldservice).",
        {
            "host": string("Host of the managed PostgreSQL.", pattern=HOST),
            "port": ref("port", "Port of the managed PostgreSQL."),
            "sslmode": string("libpq sslmode.", enum=SSL_MODES),
            "existingSecret": _external_secret(),
            "databases": obj(
                "Per service: database, role and the key of its password in existingSecret.",
                {
                    who: obj(
                        f"The {who} database.",
                        {
                            "database": string("Database name.", minLength=1),
                            "username": string("Role name.", minLength=1),
                            "passwordKey": ref("secretKey", "Key of the password in existingSecret."),
                        },
                    )
                    for who in POSTGRES_USERS
                },
            ),
        },
    )
    neo4j = _dependency(
        "Neo4j",
        "Neo4j: reachable only from dagmanager.",
        {
            "uri": string(
                "Bolt URI of the managed Neo4j, e.g. neo4j+s://graph.example.com:7687 (no path).", pattern=NEO4J_URI
            ),
            "username": string("Username.", minLength=1),
            "existingSecret": _external_secret(),
            "passwordKey": ref("secretKey", "Key of the password in existingSecret."),
        },
    )
    questdb = _dependency(
        "QuestDB",
        "QuestDB: the coordinator's own credentials, PG wire.",
        {
            "host": string("Host of the managed QuestDB (PG wire).", pattern=HOST),
            "port": ref("port", "PG-wire port of the managed QuestDB."),
            "sslmode": string("libpq sslmode.", enum=SSL_MODES),
            "database": string("Database name.", minLength=1),
            "existingSecret": _external_secret(),
            "usernameKey": ref("secretKey", "Key of the username in existingSecret."),
            "passwordKey": ref("secretKey", "Key of the password in existingSecret."),
        },
        {"database": string("Database name of the bundled QuestDB (PG wire).", minLength=1)},
    )
    minio = _dependency(
        "MinIO/S3",
        "MinIO (or any S3): bucket global.seamless.artifact_bucket, the "
        "coordinator's own user limited to artifact_prefix.",
        {
            "endpoint": string(
                "S3 endpoint URL http(s)://host[:port], without a path (the bucket is "
                "global.seamless.artifact_bucket), e.g. https://s3.eu-west-1.amazonaws.com.",
                pattern=S3_ENDPOINT,
            ),
            "region": string("S3 region.", minLength=1),
            "existingSecret": _external_secret(),
            "accessKeyKey": ref("secretKey", "Key of the access key in existingSecret."),
            "secretKeyKey": ref("secretKey", "Key of the secret key in existingSecret."),
        },
    )
    controlbus = _dependency(
        "ControlBus (Redpanda)",
        "The ControlBus: Redpanda (bundled) or a Kafka cluster.",
        {
            "brokers": array(
                "Bootstrap brokers host:port. QMTL's Kafka clients have no SASL/TLS: the listener must "
                "accept them unauthenticated.",
                {"type": "string", "pattern": BROKER},
            ),
        },
        {
            "topicPrefix": string(
                "Prefix of every ControlBus topic and its ACLs (e.g. qmtl.controlbus.). QMTL's "
                "gateway routes by exact name: requires topicPrefixAcknowledged.",
                pattern=KAFKA_TOPIC_PREFIX,
                maxLength=KAFKA_TOPIC_PREFIX_MAX,
            ),
            "topicPrefixAcknowledged": boolean(
                "true confirms the gateway in use understands prefixed ControlBus "
                "topics (QMTL's own gateway drops them). Required with a "
                "topicPrefix."
            ),
            "topics": obj(
                "The ControlBus topics by their exact names (the prefix is added). The ones the "
                "services use are required; more may be added.",
                {name: ref("topic", f"The {name} topic.") for name in chart.topics},
                required=chart.topics,
                patternProperties={KAFKA_TOPIC: ref("topic")},
            ),
            "dataTopicPrefix": string(
                "Prefix narrowing the data topics QMTL's clients may create/delete.",
                pattern=KAFKA_TOPIC_PREFIX,
                maxLength=KAFKA_TOPIC_PREFIX_MAX,
            ),
        },
    )
    network = obj(
        "NetworkPolicies from files/service-graph.yaml: default deny plus one rule per edge.",
        {
            "enabled": boolean("Render the NetworkPolicies."),
            "gateway": obj(
                "Who may reach the gateway from outside the release.",
                {
                    "from": ref(
                        "networkPolicyPeers",
                        "Peers admitted to the gateway's HTTP port (strategies, an "
                        "ingress controller); [] admits nobody from outside.",
                    ),
                },
            ),
            "coordinator": obj(
                "Who may reach the coordinator's API from outside the release.",
                {
                    "from": ref(
                        "networkPolicyPeers",
                        "Peers admitted to the coordinator's API port (SDK workers "
                        "outside the release); []: only the stack's own pods.",
                    ),
                },
            ),
            "metrics": obj(
                "Who may scrape the stack's /metrics endpoints from outside the release.",
                {
                    "from": ref(
                        "networkPolicyPeers",
                        "Peers admitted to the gateway's HTTP port, WorldService's port (its API too) and the "
                        "coordinator's metrics port, e.g. Prometheus; [] admits nobody.",
                    ),
                },
            ),
            "coordinatorCidrs": ref(
                "cidrs", "Where an external coordinator is (gateway egress); empty: its port towards any destination."
            ),
            "dns": obj(
                "The cluster DNS every pod may query: namespace (and podLabels) of the DNS pods, or cidrs, or both.",
                {
                    "namespace": string("Namespace of the DNS pods (empty: only `cidrs`).", pattern=DNS_LABEL_OR_EMPTY),
                    "podLabels": obj(
                        "Labels of the DNS pods.",
                        patternProperties={LABEL_KEY: {"type": "string", "pattern": LABEL_VALUE}},
                    ),
                    "cidrs": ref("cidrs", "DNS address ranges (e.g. NodeLocal DNSCache's 169.254.20.10/32)."),
                    "port": ref("port", "DNS port (UDP and TCP)."),
                },
            ),
        },
    )
    container_table = {c: ref("resources", f"The {c} container.") for c in chart.containers}
    workload_table = {w: integer(f"Replicas of {w}.", 1) for w in chart.workloads}
    prod_workloads = dict(workload_table)
    if "controlbus" in prod_workloads:
        prod_workloads["controlbus"] = integer(
            "Redpanda brokers in prod: at least 3 (dagmanager creates data topics with replication factor 3).", 3
        )
    return obj(
        "The stack's wiring, shared by every subchart (each receives a copy).",
        {
            "profile": string(
                "dev: local modes allowed, coordinator optional. prod: everything real; a missing "
                "coordinator_url or Redis/QuestDB/S3 endpoint refuses to install.",
                enum=["dev", "prod"],
            ),
            "qmtlImage": ref(
                "qmtlImage",
                "Default image of gateway, dagmanager and worldservice: the one images/qmtl builds "
                "(scripts/images.sh; tag: Chart.yaml's appVersion), or any image with the qmtl package "
                "plus aiokafka, confluent-kafka and neo4j. A service may override it with its own `image`.",
            ),
            "imagePullPolicy": string("Default imagePullPolicy.", enum=PULL_POLICIES),
            "imagePullSecrets": array(
                "Names of image pull Secrets for every pod.", {"type": "string", "pattern": DNS_SUBDOMAIN}
            ),
            "ports": obj(
                "Every port of the stack, written once.",
                {key: ref("port", text) for key, text in PORTS.items()},
                required=tuple(PORTS),
            ),
            "seamless": obj(
                "The `seamless` section of QMTL's config.",
                {
                    "coordinator_url": string(
                        "http(s) URL of the Seamless coordinator (health at {coordinator_url}/healthz). "
                        "Required in prod. "
                        "In dev, empty means the SDK's in-memory stub.",
                        pattern=HTTP_URL_OR_EMPTY,
                    ),
                    "artifact_bucket": string(
                        "S3 bucket of the Seamless artifacts.", pattern=S3_BUCKET, minLength=3, maxLength=63
                    ),
                    "artifact_prefix": string(
                        "Key prefix (ends with /) the coordinator's S3 user is limited to.", pattern=S3_PREFIX
                    ),
                },
                required=("artifact_bucket", "artifact_prefix"),
            ),
            "guard": obj(
                "Runtime guard: pods that depend on the coordinator start only after its /healthz answered "
                "2xx. Always on in prod (there is no switch); only its bounds can be tuned.",
                {
                    "attempts": integer("Probes before the pod fails.", 1, 10),
                    "intervalSeconds": integer("Seconds between probes.", 1, 60),
                    "timeoutSeconds": integer("Timeout of one probe, seconds.", 1, 30),
                },
                required=("attempts", "intervalSeconds", "timeoutSeconds"),
            ),
            "gatewayEvents": obj(
                "The key that signs the gateway's event-stream descriptors (gateway.events.secret of QMTL's config).",
                {
                    "existingSecret": string(
                        "Your Secret holding the signing key; empty: the chart generates one (qmtl-gateway-events) "
                        "and keeps it across upgrades.",
                        pattern=DNS_SUBDOMAIN_OR_EMPTY,
                        maxLength=253,
                    ),
                    "key": ref("secretKey", "Key of the signing key in existingSecret."),
                },
                required=("existingSecret", "key"),
            ),
            "redis": redis,
            "postgres": postgres,
            "neo4j": neo4j,
            "questdb": questdb,
            "minio": minio,
            "controlbus": controlbus,
            "networkPolicy": network,
            "serviceMonitor": obj(
                "Prometheus Operator ServiceMonitors for the /metrics of the gateway, WorldService and the "
                "coordinator (needs the monitoring.coreos.com/v1 CRDs). Scraping through the NetworkPolicies "
                "also needs global.networkPolicy.metrics.from.",
                {
                    "enabled": boolean("Render the ServiceMonitors."),
                    "interval": string("Scrape interval, e.g. 30s or 1m.", pattern=PROMETHEUS_DURATION),
                    "scrapeTimeout": string(
                        "Scrape timeout, e.g. 10s; at most the interval.", pattern=PROMETHEUS_DURATION
                    ),
                    "labels": obj(
                        "Extra labels of the ServiceMonitors (e.g. the one a Prometheus selects them by).",
                        additional={"type": "string", "pattern": LABEL_VALUE, "maxLength": 63},
                    ),
                },
                required=("enabled", "interval", "scrapeTimeout"),
            ),
            "resources": obj(
                "Requests and limits per profile and container: every container of the stack.",
                {
                    "dev": obj("Sizes used when profile is dev.", container_table, required=chart.containers),
                    "prod": obj("Sizes used when profile is prod.", container_table, required=chart.containers),
                },
                required=("dev", "prod"),
            ),
            "replicas": obj(
                "Replicas per profile and workload.",
                {
                    "dev": obj("Replicas when profile is dev.", workload_table, required=chart.workloads),
                    "prod": obj("Replicas when profile is prod.", prod_workloads, required=chart.workloads),
                },
                required=("dev", "prod"),
            ),
        },
        required=(
            "profile",
            "ports",
            "seamless",
            "guard",
            "gatewayEvents",
            "redis",
            "postgres",
            "neo4j",
            "questdb",
            "minio",
            "controlbus",
            "resources",
            "replicas",
        ),
    )


# --- component sections -----------------------------------------------------------------------------------

# Subcharts and their kind. Chart.yaml is the list of subcharts; schemas/build.py fails when it names one
# that is not here (a new component needs a described section).
CORE = {
    "gateway": "The gateway (qmtl gw).",
    "dagmanager": "The DAG Manager.",
    "worldservice": "The WorldService.",
    "seamless-coordinator": "The Seamless distributed backfill coordinator (bundled).",
}
DEPENDENCIES = {
    "controlbus": "Redpanda, the ControlBus (switch: global.controlbus.enabled).",
    "redis": "Redis (switch: global.redis.enabled).",
    "postgres": "PostgreSQL (switch: global.postgres.enabled).",
    "neo4j": "Neo4j (switch: global.neo4j.enabled).",
    "questdb": "QuestDB (switch: global.questdb.enabled).",
    "minio": "MinIO (switch: global.minio.enabled).",
}
LIBRARIES = {"qmtl-lib": "The shared library chart: no settings (Helm gives it a copy of `global`)."}
# Workloads whose replica count a component section may override (qmtl.replicas reads `<section>.replicas`).
REPLICATED = ("gateway", "dagmanager", "worldservice", "seamless-coordinator", "controlbus")
# Images per section: key -> which image type (standalone, or a core service's override of global.qmtlImage).
IMAGES: dict[str, dict[str, str]] = {
    "gateway": {"image": "imageOverride"},
    "dagmanager": {"image": "imageOverride"},
    "worldservice": {"image": "imageOverride"},
    "seamless-coordinator": {"image": "image"},
    "controlbus": {"image": "image"},
    "redis": {"image": "image"},
    "postgres": {"image": "image"},
    "neo4j": {"image": "image"},
    "questdb": {"image": "image"},
    "minio": {"image": "image", "mcImage": "image"},
}
# The switch that deploys each section's workloads (where its defaults are merged in).
SWITCHES = {**{name: f"{name}.enabled" for name in CORE}, **{name: f"global.{name}.enabled" for name in DEPENDENCIES}}


def _persistence(name: str, profiled: bool) -> Schema:
    size: Schema
    if profiled:
        size = {
            "description": "Volume size: one size, or one per profile ({dev: 2Gi, prod: 50Gi}; the active "
            "profile's is required).",
            "anyOf": [
                ref("storageSize"),
                obj(
                    "Size per profile.",
                    {"dev": ref("storageSize", "Size in dev."), "prod": ref("storageSize", "Size in prod.")},
                ),
            ],
        }
    else:
        size = ref("storageSize", "Volume size of each data PVC.")
    props: dict[str, Schema] = {
        "size": size,
        "storageClass": string(
            "StorageClass of the data PVCs; empty: the cluster's default"
            + ('; "-": none (bind a pre-created PersistentVolume).' if profiled else "."),
            pattern=STORAGE_CLASS_OR_NONE if profiled else STORAGE_CLASS,
        ),
        "retentionPolicy": ref("retentionPolicy", "Keep or delete the data with the StatefulSet."),
    }
    if profiled:
        props["accessModes"] = array(
            "Access modes of the data PVC.",
            {"type": "string", "enum": ["ReadWriteOnce", "ReadOnlyMany", "ReadWriteMany", "ReadWriteOncePod"]},
            minItems=1,
        )
    return obj(f"{name}'s data: always a PersistentVolumeClaim per pod (there is no in-memory mode).", props)


def _scheduling() -> dict[str, Schema]:
    return {
        "podAnnotations": ref("podAnnotations", "Annotations of the pods."),
        "nodeSelector": ref("nodeSelector", "nodeSelector of the pods (and its hook Job)."),
        "tolerations": ref("tolerations", "Tolerations of the pods (and its hook Job)."),
        "affinity": ref("affinity", "Affinity of the server pods."),
    }


def _own_keys(name: str) -> dict[str, Schema]:
    """Each component's keys besides enabled/image/resources/replicas/global (the subchart's values.yaml
    and every `.Values.*` its templates read)."""
    if name == "gateway":
        return {
            "forwarder": obj(
                "The sidecar forwarding the DAG Manager address QMTL hard-codes "
                "(127.0.0.1:50051) to the dagmanager Service.",
                {
                    "healthPort": ref(
                        "port",
                        "HTTP port of the forwarder's /healthz (kubelet probes cannot reach its "
                        "loopback listener); not the gateway's own port.",
                    ),
                },
            )
        }
    if name == "seamless-coordinator":
        return {
            "otel": obj(
                "Tracing.",
                {
                    "endpoint": string(
                        "OTLP endpoint (OTEL_EXPORTER_OTLP_ENDPOINT), http(s)://host:port; empty: not set.",
                        pattern=HTTP_URL_OR_EMPTY,
                    ),
                },
            )
        }
    if name == "controlbus":
        return {
            "persistence": _persistence("Redpanda", profiled=False),
            "superuser": string(
                "SASL/SCRAM superuser name (password generated into Secret "
                "qmtl-controlbus-superuser); only the provisioning Job uses it.",
                pattern=r"^[a-z][a-z0-9_-]*$",
                maxLength=128,
            ),
            "memoryPercent": integer("Redpanda's --memory as a percentage of the container's memory limit.", 10, 95),
            "antiAffinity": string(
                "Spread of the brokers: required (never two on one node) or preferred.", enum=["required", "preferred"]
            ),
            "zoneSpread": boolean("Also spread the brokers over zones (topology spread)."),
            "podDisruptionBudget": obj(
                "PodDisruptionBudget (with more than one broker).",
                {
                    "maxUnavailable": {
                        "description": "Brokers that may be down at once: a number or a percentage.",
                        "type": ["integer", "string"],
                        "minimum": 0,
                        "pattern": r"^[0-9]{1,3}%$",
                    },
                },
            ),
            "provisioning": obj(
                "The topic/ACL provisioning Job.",
                {
                    "waitSeconds": integer("How long it waits for the cluster to be healthy.", 1),
                    "backoffLimit": integer("Retries of the Job.", 0),
                    "ttlSecondsAfterFinished": integer("Seconds a finished Job is kept.", 0),
                },
            ),
        }
    if name == "redis":
        return {
            "persistence": _persistence("Redis", profiled=False),
            "maxmemoryPercent": integer("Redis maxmemory as a percentage of the container's memory limit.", 10, 95),
            "extraRules": obj(
                "Extra ACL rules appended to one service's user (rules that break the isolation "
                "are refused by the redis chart).",
                {who: string(f"Rules for the {who} user.") for who in REDIS_USERS},
            ),
        }
    if name == "postgres":
        return {
            "persistence": _persistence("PostgreSQL", profiled=True),
            "parameters": obj(
                "postgresql.conf settings passed as -c key=value.",
                patternProperties={r"^[a-z_][a-z0-9_.]*$": {"type": ["string", "number", "boolean"]}},
            ),
            "shmSize": {
                "description": "Size of the memory-backed /dev/shm (counts against the memory limit).",
                "type": "string",
                "pattern": MEMORY,
                "not": {"type": "string", "pattern": MEMORY_ZERO},
            },
            "provision": ref("jobTiming", "The provisioning Job (roles and databases)."),
            **_scheduling(),
        }
    if name == "neo4j":
        memory = obj(
            "Heap and page cache of one profile.",
            {
                "heap": string("JVM heap, e.g. 512m or 2g.", pattern=NEO4J_BYTES),
                "pagecache": string("Page cache, e.g. 256m or 1g.", pattern=NEO4J_BYTES),
            },
            required=("heap", "pagecache"),
        )
        return {
            "persistence": _persistence("Neo4j", profiled=True),
            "memory": obj(
                "JVM heap and page cache per profile (heap + page cache + ~0.5 GiB must fit the memory limit).",
                {"dev": memory, "prod": memory},
            ),
            "config": ref(
                "settings", "Extra neo4j.conf settings (NEO4J_* env vars); auth and listeners are set by the chart."
            ),
            "schema": ref("jobTiming", "The schema Job (constraints and indexes)."),
            **_scheduling(),
        }
    if name == "questdb":
        return {
            "username": string(
                "The coordinator's QuestDB user (PG wire and HTTP basic auth).",
                pattern=r"^[A-Za-z0-9_.-]+$",
                maxLength=63,
            ),
            "persistence": _persistence("QuestDB", profiled=True),
            "ilpTcp": boolean("InfluxDB line protocol over TCP (unauthenticated in open-source QuestDB)."),
            "config": ref(
                "settings",
                "Extra server.conf settings (QDB_* env vars); credentials and listeners are set by the chart.",
            ),
            **_scheduling(),
        }
    if name == "minio":
        return {
            "coordinatorUser": string(
                "The coordinator's MinIO user (access key).", pattern=r"^[A-Za-z0-9_.@-]+$", minLength=3, maxLength=128
            ),
            "coordinatorPolicy": string(
                "Name of the policy attached to it.", pattern=r"^[A-Za-z0-9_.@-]+$", maxLength=128
            ),
            "console": obj(
                "The embedded web console.", {"enabled": boolean("Serve the console (global.ports.minioConsole).")}
            ),
            "persistence": _persistence("MinIO", profiled=True),
            "provision": ref("jobTiming", "The provisioning Job (bucket, policy, user)."),
            **_scheduling(),
        }
    return {}


def _section(name: str, description: str, core: bool) -> Schema:
    props: dict[str, Schema] = {}
    if core:
        props["enabled"] = boolean(f"Deploy {name}.")
    else:
        props["enabled"] = {
            "not": {},
            "description": f"Not a switch: deploy or replace {name} with "
            f"global.{name}.enabled (every consumer reads it there).",
        }
    for key, kind in IMAGES[name].items():
        props[key] = ref(kind, f"{name}'s {'image' if key == 'image' else key}.")
    containers = SECTION_CONTAINERS[name]
    props["resources"] = obj(
        f"Per-container override of global.resources.<profile> for {name}.",
        {c: ref("resources", f"The {c} container.") for c in containers},
    )
    if name in REPLICATED:
        props["replicas"] = integer(f"Override of global.replicas.<profile>.{name}.", 1)
    props.update(_own_keys(name))
    props["global"] = obj("Set by Helm: a copy of `global`. Do not set it here.", additional=True)
    return obj(description, props)


# --- rules between keys, both profiles ----------------------------------------------------------------------

# The endpoint key of each dependency's external block, and whether it needs credentials there.
ENDPOINT_KEYS = {
    "redis": ("host", True),
    "postgres": ("host", True),
    "neo4j": ("uri", True),
    "questdb": ("host", True),
    "minio": ("endpoint", True),
    "controlbus": ("brokers", False),
}


def _endpoint_present(key: str) -> Schema:
    return {"type": "array", "minItems": 1} if key == "brokers" else nonempty()


def _external_complete(dep: str) -> Schema:
    key, secret = ENDPOINT_KEYS[dep]
    needed = [key, "existingSecret"] if secret else [key]
    then_props: dict[str, Schema] = {key: _endpoint_present(key)}
    if secret:
        then_props["existingSecret"] = nonempty()
    return {"required": needed, "properties": then_props}


def _general_rules(chart: Chart) -> list[Schema]:
    rules: list[Schema] = []
    for dep in ENDPOINT_KEYS:
        # A managed dependency that is used (enabled false, external not empty) is complete: its endpoint and,
        # where it has credentials, its Secret.
        rules.append(
            {
                "if": present(
                    f"global.{dep}",
                    {
                        "properties": {"enabled": {"const": False}, "external": {"type": "object", "minProperties": 1}},
                        "required": ["enabled", "external"],
                    },
                ),
                "then": prop(f"global.{dep}.external", _external_complete(dep)),
            }
        )
        # A bundled one has no external block (it would be ignored).
        rules.append(
            {
                "if": present(f"global.{dep}.enabled", {"const": True}),
                "then": prop(f"global.{dep}.external", {"maxProperties": 0}),
            }
        )
    # A ControlBus topic prefix only with the acknowledgement that the gateway understands it.
    rules.append(
        {
            "if": present("global.controlbus.topicPrefix", {"type": "string", "minLength": 1}),
            "then": {
                "properties": {
                    "global": {
                        "properties": {
                            "controlbus": {
                                "required": ["topicPrefixAcknowledged"],
                                "properties": {"topicPrefixAcknowledged": {"const": True}},
                            }
                        }
                    }
                }
            },
        }
    )
    # With network policies on, the pods need DNS: its namespace or its address ranges.
    rules.append(
        {
            "if": present("global.networkPolicy.enabled", {"const": True}),
            "then": prop(
                "global.networkPolicy.dns",
                one_of_keys_set(
                    "DNS for every pod: set namespace (and podLabels) of the cluster DNS, or cidrs.",
                    "namespace",
                    "cidrs",
                ),
            ),
        }
    )
    # Every deployed image is complete: a repository and a tag or a digest (an image without either means
    # `latest`). Deployed sections have their chart defaults merged in, so this is exact; a disabled
    # section may carry a partial override. Core services take what their own image lacks from
    # global.qmtlImage, which is therefore always complete.
    complete = {
        "required": ["repository"],
        "properties": {"repository": {"minLength": 1}},
        **one_of_keys_set("A repository and a tag or a digest (no tag and no digest means latest).", "tag", "digest"),
    }
    rules.append(prop("global.qmtlImage", complete))
    for section, images in IMAGES.items():
        for key, kind in images.items():
            if kind != "image":
                continue
            rules.append(
                {"if": present(SWITCHES[section], {"const": True}), "then": prop(f"{section}.{key}", complete)}
            )
    # Settings given per profile name the active one: a volume size per profile, Neo4j's memory.
    for profile in ("dev", "prod"):
        for dep in DEPENDENCIES:
            active = {"allOf": [present("global.profile", {"const": profile}), present(SWITCHES[dep], {"const": True})]}
            if _profiled(dep):
                rules.append(
                    {
                        "if": active,
                        "then": prop(
                            f"{dep}.persistence.size", {"if": {"type": "object"}, "then": {"required": [profile]}}
                        ),
                    }
                )
            if "memory" in _own_keys(dep):
                rules.append(
                    {
                        "if": active,
                        "then": prop(dep, {"required": ["memory"], "properties": {"memory": {"required": [profile]}}}),
                    }
                )
    return rules


def _profiled(dep: str) -> bool:
    return "accessModes" in _own_keys(dep).get("persistence", {}).get("properties", {})


# --- prod rules ---------------------------------------------------------------------------------------------

# What each enabled QMTL service needs in prod (QMTL's own start-up checks refuse to start otherwise), and
# what Seamless needs whatever runs the coordinator (QMTL's `config validate --target seamless`).
PROD_NEEDS: dict[str | None, tuple[str, ...]] = {
    None: ("redis", "questdb", "minio"),
    "gateway": ("redis", "postgres", "controlbus"),
    "dagmanager": ("neo4j", "controlbus"),
    "worldservice": ("postgres", "redis", "controlbus"),
}


def image_paths(schema: Schema, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every declared key whose value is an image (a $ref to one of IMAGE_DEFS), as key paths."""
    out: list[tuple[str, ...]] = []
    for key, sub in (schema.get("properties") or {}).items():
        if not isinstance(sub, dict):
            continue
        if sub.get("$ref", "").rsplit("/", 1)[-1] in IMAGE_DEFS:
            out.append((*path, key))
        else:
            out += image_paths(sub, (*path, key))
    return out


def _prod_rules(properties: dict[str, Schema]) -> Schema:
    """`then` of "global.profile is prod"."""
    rules: list[Schema] = [prod_rule_url()]
    for consumer, deps in PROD_NEEDS.items():
        for dep in deps:
            need = {
                "if": present(f"global.{dep}.enabled", {"const": False}),
                "then": {
                    "properties": {
                        "global": {
                            "properties": {
                                dep: {"required": ["external"], "properties": {"external": _external_complete(dep)}}
                            }
                        }
                    }
                },
            }
            rules.append(
                need if consumer is None else {"if": present(f"{consumer}.enabled", {"const": True}), "then": need}
            )
    # No `latest` anywhere an image is set.
    for path in image_paths({"properties": properties}):
        rules.append(prop(".".join(path), {"properties": {"tag": {"not": {"type": "string", "pattern": LATEST}}}}))
    # A bundled ControlBus has >= 3 brokers: the prod table always (global.replicas.prod.controlbus >= 3), and
    # a per-component override must not undercut it.
    rules.append(
        {
            "if": present("global.controlbus.enabled", {"const": True}),
            "then": prop("controlbus.replicas", {"minimum": 3}),
        }
    )
    # The marker lets scripts/validate say that a problem comes from a prod-only rule.
    return {"$comment": "prod rules: apply when global.profile is prod", "allOf": rules}


def prod_rule_url() -> Schema:
    return {
        "properties": {
            "global": {
                "required": ["seamless"],
                "properties": {
                    "seamless": {"required": ["coordinator_url"], "properties": {"coordinator_url": nonempty(HTTP_URL)}}
                },
            }
        }
    }


def build(chart: Chart) -> Schema:
    """The schema, from the chart facts schemas/build.py reads."""
    sections: dict[str, Schema] = {}
    for name, kind in chart.subcharts.items():
        if kind == "library":
            if name not in LIBRARIES:
                raise KeyError(f"library subchart {name!r} is not described in schemas/values_schema.py LIBRARIES")
            sections[name] = obj(
                LIBRARIES[name],
                {"global": obj("Set by Helm: a copy of `global`. Do not set it here.", additional=True)},
            )
        elif name in CORE:
            sections[name] = _section(name, CORE[name], core=True)
        elif name in DEPENDENCIES:
            sections[name] = _section(name, DEPENDENCIES[name], core=False)
        else:
            raise KeyError(f"subchart {name!r} has no section in schemas/values_schema.py (CORE or DEPENDENCIES)")
    properties = {"global": _global(chart), **sections}
    is_prod = present("global.profile", {"const": "prod"})
    return {
        "$schema": SCHEMA_DIALECT,
        "title": "qmtl values",
        "description": "Values of the qmtl umbrella chart. GENERATED from schemas/values_schema.py by "
        "`python -m schemas.build`; do not edit by hand.",
        "type": "object",
        "properties": properties,
        "required": ["global"],
        "additionalProperties": False,
        "allOf": [*_general_rules(chart), {"if": is_prod, "then": _prod_rules(properties)}],
        DEFINITIONS: dict(sorted(DEFS.items())),
    }

"""The source of values.schema.json: every key of the chart's values, typed and described, and the
profile rules a JSON Schema can express.

Generated file: values.schema.json at the chart root (`python -m schemas.build`; `--check` reports
drift). What lives where:
  - here: types, shapes, bounds, patterns, unknown keys, and the prod rules ("if global.profile is prod
    then ..."): coordinator_url, required endpoints, ControlBus brokers, no `latest`, persistence on;
  - `default`s: NOT written here. schemas/build.py copies them from values.yaml (the one place a default
    lives) and fails when values.yaml holds a key this file does not declare;
  - rules that compare values or need the chart's own derived facts (service names, ports): the
    aggregated check, templates/_validate.tpl.

Dialect: JSON Schema 2020-12, self-contained (local `$ref` only). Patterns use the syntax common to Go's
RE2 (Helm >= 3.18.5 and Helm 4 validate with santhosh-tekuri/jsonschema) and Python's `re` (scripts/validate
uses python-jsonschema): anchors, classes, groups, alternation, no look-arounds.
"""

from __future__ import annotations

from typing import Any

import yaml

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"

Schema = dict[str, Any]

# --- small builders -------------------------------------------------------------------------------


def obj(description: str, properties: dict[str, Schema] | None = None, *, required: tuple[str, ...] = (),
        additional: bool | Schema = False, **extra: Any) -> Schema:
    """An object. `additional=False` (the default) rejects unknown keys."""
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


def integer(description: str, minimum: int | None = None, maximum: int | None = None) -> Schema:
    schema: Schema = {"type": "integer", "description": description}
    if minimum is not None:
        schema["minimum"] = minimum
    if maximum is not None:
        schema["maximum"] = maximum
    return schema


def boolean(description: str) -> Schema:
    return {"type": "boolean", "description": description}


def ref(name: str, description: str) -> Schema:
    return {"$ref": f"#/$defs/{name}", "description": description}


def template_checked(description: str, template: str) -> Schema:
    """A key whose shape a template checks with its own message (and whose tests assert that message):
    left to it, so the schema does not answer first. Listed in the generated file via `$comment`."""
    return {"description": description, "$comment": f"checked by {template}"}


def nonempty(pattern: str | None = None, **extra: Any) -> Schema:
    """A constraint (no type, no description): a non-empty string, optionally matching `pattern`."""
    schema: Schema = {"type": "string", "minLength": 1, **extra}
    if pattern:
        schema["pattern"] = pattern
    return schema


# --- patterns (RE2 and Python `re` alike) -------------------------------------------------------------

HOSTNAME = r"[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?"
HOST = rf"^({HOSTNAME}|\[[0-9A-Fa-f:.]+\])$"
HTTP_URL = rf"^https?://({HOSTNAME}|\[[0-9A-Fa-f:.]+\])(:[0-9]{{1,5}})?(/[^\s?#]*)?$"
HTTP_URL_OR_EMPTY = rf"^(https?://({HOSTNAME}|\[[0-9A-Fa-f:.]+\])(:[0-9]{{1,5}})?(/[^\s?#]*)?)?$"
NEO4J_URI = rf"^(bolt|neo4j)(\+s|\+ssc)?://({HOSTNAME}|\[[0-9A-Fa-f:.]+\])(:[0-9]{{1,5}})?/?$"
BROKER = rf"^({HOSTNAME}|\[[0-9A-Fa-f:.]+\]):[0-9]{{1,5}}$"
DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
SECRET_KEY = r"^[-._a-zA-Z0-9]+$"
CIDR = (r"^(([0-9]{1,3}\.){3}[0-9]{1,3}/([0-9]|[12][0-9]|3[0-2])"
        r"|[0-9A-Fa-f:]+/([0-9]|[1-9][0-9]|1[01][0-9]|12[0-8]))$")
KAFKA_TOPIC = r"^[A-Za-z0-9._-]{1,249}$"
KAFKA_TOPIC_PREFIX = r"^[A-Za-z0-9._-]{0,200}$"
S3_BUCKET = r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$"
S3_PREFIX = r"^[A-Za-z0-9!_.*'()-]+(/[A-Za-z0-9!_.*'()-]+)*/$"
LATEST = r"^[Ll][Aa][Tt][Ee][Ss][Tt]$"
CPU = r"^([0-9]+m|[0-9]+(\.[0-9]+)?|\.[0-9]+)$"
CPU_ZERO = r"^0*(\.0*)?m?$"
MEMORY = r"^([0-9]+(\.[0-9]+)?|\.[0-9]+)([EPTGMK]i|[EPTGMk])?$"
MEMORY_ZERO = r"^0*(\.0*)?([EPTGMK]i|[EPTGMk])?$"
SSL_MODES = ["disable", "allow", "prefer", "require", "verify-ca", "verify-full"]


# --- shared definitions ($defs) -------------------------------------------------------------------------

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
    return obj(f"Resource {which}: cpu and memory (ephemeral-storage optional).", {
        "cpu": ref("cpu", f"CPU {which}."),
        "memory": ref("memory", f"Memory {which}."),
        "ephemeral-storage": ref("memory", f"Ephemeral storage {which}."),
    }, required=("cpu", "memory"))


DEFS: dict[str, Schema] = {
    "cpu": _quantity("cpu"),
    "memory": _quantity("memory"),
    "resources": obj(
        "Requests and limits of one container. Both are required: every container of the stack is sized.",
        {"requests": _resource_list("requests"), "limits": _resource_list("limits")},
        required=("requests", "limits")),
    # Maps keyed by a name use patternProperties + additionalProperties: false rather than propertyNames:
    # Helm's validator reports a bad property name at a wrong location, python-jsonschema at the right one.
    "resourceTable": obj(
        "Container name -> requests and limits.",
        patternProperties={DNS_LABEL: {"$ref": "#/$defs/resources"}}),
    # Values of an image are checked where they are used, by qmtl.image (qmtl-lib _images.tpl: repository
    # set, a tag or a digest, digest format), with the values path in its message; here only their types.
    "image": obj("A container image: repository plus a tag and/or a digest (the digest pins it).", {
        "repository": string("Image repository, e.g. docker.io/library/redis."),
        "tag": string("Image tag. Quote it in YAML (\"7.2\" is not 7.2). Never `latest` in prod."),
        "digest": string("Optional digest sha256:<64 hex>; when set the image is pulled by digest."),
        "pullPolicy": string("imagePullPolicy of the containers using this image.",
                             enum=["Always", "IfNotPresent", "Never"]),
    }),
    "secretName": string("Name of a Secret in the release namespace.", pattern=DNS_SUBDOMAIN, maxLength=253),
    "secretKey": string("A key inside that Secret.", pattern=SECRET_KEY, maxLength=253),
    "cidrs": {
        "type": "array",
        "description": "Address ranges (CIDR) where an external endpoint lives: the NetworkPolicy egress "
                       "rules of its consumers allow exactly these (the network policy templates check "
                       "each range).",
        "items": {"type": "string", "minLength": 1},
    },
    "port": integer("A TCP port.", 1, 65535),
}


def no_latest_tag(depth: int = 6) -> Schema:
    """Prod: no `tag: latest` anywhere below this point, down to `depth` levels (images sit 2-4 levels
    into a section, e.g. minio.provisioning.image.tag), so it also covers images a component adds later.
    Maps only: an image is a map ({repository, tag, digest}), never a list item here.
    Written out level by level rather than as a recursive $ref: python-jsonschema resolves a $ref per
    visited key, which made validating a full values set take seconds. `global` (Helm's copy in every
    section) is checked once, at the top."""
    schema: Schema = {"properties": {"tag": {"not": {"type": "string", "pattern": LATEST}}, "global": True}}
    if depth > 0:
        schema["additionalProperties"] = no_latest_tag(depth - 1)
    return schema


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
    return ref("secretName", "Existing Secret in the release namespace holding the credentials (never a "
                             "password in values).")


def _dependency(name: str, description: str, external: dict[str, Schema], extra: dict[str, Schema] | None = None
                ) -> Schema:
    props: dict[str, Schema] = {
        "enabled": boolean(f"Deploy the bundled {name}. false: use `external` (a managed service), or, in dev "
                           "only, nothing (the services run in their local modes)."),
        **(extra or {}),
        "external": obj(f"A managed {name}, used when enabled is false.", {
            **external,
            "cidrs": ref("cidrs", f"Address ranges of the managed {name} (NetworkPolicy egress)."),
        }),
    }
    return obj(description, props, required=("enabled",))


REDIS_USERS = ("gateway", "worldservice", "seamless", "ratelimiter")
POSTGRES_USERS = ("gateway", "worldservice")


def _global() -> Schema:
    image_ref = ref("image", "Default image of gateway, dagmanager and worldservice (any image with the qmtl "
                             "package plus aiokafka, confluent-kafka and neo4j). A service may override it.")
    redis = _dependency("Redis", "Redis: one ACL user, key pattern and DB index per QMTL service.", {
        "host": string("Host of the managed Redis.", pattern=HOST),
        "port": ref("port", "Port of the managed Redis."),
        "tls": boolean("Connect with TLS (rediss://)."),
        "existingSecret": _external_secret(),
        "users": obj("Per service: its Redis username and the key of its password in existingSecret.", {
            who: obj(f"The {who} user.", {
                "username": string("Username.", minLength=1),
                "passwordKey": ref("secretKey", "Key of the password in existingSecret."),
            }) for who in REDIS_USERS}),
    }, {
        "databases": obj("Logical Redis database per user (QMTL's prod sample: 0, 2, 3, 4); each distinct.", {
            who: integer(f"DB index of the {who} user.", 0, 15) for who in REDIS_USERS
        }, required=REDIS_USERS),
        "dedicatedCoordinator": boolean("A second bundled Redis (Service redis-seamless) only the coordinator "
                                        "uses. Recommended in prod."),
    })
    postgres = _dependency("PostgreSQL", "PostgreSQL: a role and a database per service (gateway, worldservice).", {
        "host": string("Host of the managed PostgreSQL.", pattern=HOST),
        "port": ref("port", "Port of the managed PostgreSQL."),
        "sslmode": string("libpq sslmode.", enum=SSL_MODES),
        "existingSecret": _external_secret(),
        "databases": obj("Per service: database, role and the key of its password in existingSecret.", {
            who: obj(f"The {who} database.", {
                "database": string("Database name.", minLength=1),
                "username": string("Role name.", minLength=1),
                "passwordKey": ref("secretKey", "Key of the password in existingSecret."),
            }) for who in POSTGRES_USERS}),
    })
    neo4j = _dependency("Neo4j", "Neo4j: reachable only from dagmanager.", {
        "uri": string("Bolt URI of the managed Neo4j, e.g. bolt://neo4j.example:7687.", pattern=NEO4J_URI),
        "username": string("Username.", minLength=1),
        "existingSecret": _external_secret(),
        "passwordKey": ref("secretKey", "Key of the password in existingSecret."),
    })
    questdb = _dependency("QuestDB", "QuestDB: the coordinator's own credentials, PG wire.", {
        "host": string("Host of the managed QuestDB (PG wire).", pattern=HOST),
        "port": ref("port", "PG-wire port of the managed QuestDB."),
        "sslmode": string("libpq sslmode.", enum=SSL_MODES),
        "database": string("Database name.", minLength=1),
        "existingSecret": _external_secret(),
        "usernameKey": ref("secretKey", "Key of the username in existingSecret."),
        "passwordKey": ref("secretKey", "Key of the password in existingSecret."),
    }, {"database": string("Database name of the bundled QuestDB (PG wire).", minLength=1)})
    minio = _dependency("MinIO/S3", "MinIO (or any S3): bucket global.seamless.artifact_bucket, the "
                                    "coordinator's own user limited to artifact_prefix.", {
        "endpoint": string("S3 endpoint URL, e.g. https://s3.eu-west-1.amazonaws.com.", pattern=HTTP_URL),
        "region": string("S3 region.", minLength=1),
        "existingSecret": _external_secret(),
        "accessKeyKey": ref("secretKey", "Key of the access key in existingSecret."),
        "secretKeyKey": ref("secretKey", "Key of the secret key in existingSecret."),
    })
    controlbus = _dependency("ControlBus (Redpanda)", "The ControlBus: Redpanda (bundled) or a Kafka cluster.", {
        "brokers": {"type": "array", "description": "Bootstrap brokers host:port. QMTL's Kafka clients have no "
                                                    "SASL/TLS: the listener must accept them unauthenticated.",
                    "items": {"type": "string", "pattern": BROKER}},
    }, {
        "topicPrefix": string("Prefix of every ControlBus topic and its ACLs (e.g. qmtl.controlbus.). QMTL's "
                              "gateway routes by exact name: requires topicPrefixAcknowledged.",
                              pattern=KAFKA_TOPIC_PREFIX),
        "topicPrefixAcknowledged": boolean("true confirms the gateway in use understands prefixed ControlBus "
                                           "topics (QMTL's own gateway drops them)."),
        "topics": obj("The ControlBus topics by their exact names (the prefix is added).",
                      patternProperties={KAFKA_TOPIC: obj("One topic.", {
                          "partitions": integer("Partitions.", 1, 1000),
                          "retentionMs": integer("retention.ms (-1: forever).", -1),
                      }, required=("partitions", "retentionMs"))}, minProperties=1),
        "dataTopicPrefix": string("Prefix narrowing the data topics QMTL's clients may create/delete.",
                                  pattern=KAFKA_TOPIC_PREFIX),
    })
    network = obj("NetworkPolicies from files/service-graph.yaml: default deny plus one rule per edge.", {
        "enabled": boolean("Render the NetworkPolicies."),
        "gateway": obj("Who may reach the gateway from outside the release.", {
            "from": template_checked("NetworkPolicy peers admitted to the gateway's HTTP port (a list, as in "
                                     "a NetworkPolicy's `from`); [] admits nobody from outside.",
                                     "templates/_network.tpl"),
        }),
        "coordinator": obj("Who may reach the coordinator's API from outside the release.", {
            "from": template_checked("NetworkPolicy peers admitted to the coordinator's API port (a list).",
                                     "templates/_network.tpl"),
        }),
        "coordinatorCidrs": ref("cidrs", "Where an external coordinator is (gateway egress)."),
        "dns": obj("The cluster DNS every pod may query.", {
            "namespace": string("Namespace of the DNS pods (empty: only `cidrs`).",
                                pattern=r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?)?$"),
            "podLabels": obj("Labels of the DNS pods.", additional={"type": "string"}),
            "cidrs": ref("cidrs", "DNS address ranges (e.g. NodeLocal DNSCache)."),
            "port": ref("port", "DNS port (UDP and TCP)."),
        }),
    })
    return obj("The stack's wiring, shared by every subchart (each receives a copy).", {
        "profile": string("dev: local modes allowed, coordinator optional. prod: everything real; a missing "
                          "coordinator_url or Redis/QuestDB/S3 endpoint refuses to install.", enum=["dev", "prod"]),
        "qmtlImage": image_ref,
        "imagePullPolicy": string("Default imagePullPolicy.", enum=["Always", "IfNotPresent", "Never"]),
        "imagePullSecrets": {"type": "array", "description": "Names of image pull Secrets for every pod.",
                             "items": {"type": "string", "pattern": DNS_SUBDOMAIN}},
        "ports": obj("Every port of the stack, written once.",
                     {key: ref("port", text) for key, text in PORTS.items()}, required=tuple(PORTS)),
        "seamless": obj("The `seamless` section of QMTL's config.", {
            "coordinator_url": string(
                "http(s) URL of the Seamless coordinator (health at {coordinator_url}/healthz). Required in prod. "
                "In dev, empty means the SDK's in-memory stub.", pattern=HTTP_URL_OR_EMPTY),
            "artifact_bucket": string("S3 bucket of the Seamless artifacts.", pattern=S3_BUCKET),
            "artifact_prefix": string("Key prefix (ends with /) the coordinator's S3 user is limited to.",
                                      pattern=S3_PREFIX),
        }, required=("artifact_bucket", "artifact_prefix")),
        "guard": obj("Runtime guard: pods that depend on the coordinator start only after its /healthz answered "
                     "2xx. Always on in prod (there is no switch); only its bounds can be tuned.", {
            "attempts": integer("Probes before the pod fails.", 1, 10),
            "intervalSeconds": integer("Seconds between probes.", 1, 60),
            "timeoutSeconds": integer("Timeout of one probe, seconds.", 1, 30),
        }, required=("attempts", "intervalSeconds", "timeoutSeconds")),
        "redis": redis,
        "postgres": postgres,
        "neo4j": neo4j,
        "questdb": questdb,
        "minio": minio,
        "controlbus": controlbus,
        "networkPolicy": network,
        "resources": obj("Requests and limits per profile and container.", {
            "dev": ref("resourceTable", "Sizes used when profile is dev."),
            "prod": ref("resourceTable", "Sizes used when profile is prod."),
        }, required=("dev", "prod")),
        "replicas": obj("Replicas per profile and workload.", {
            "dev": obj("Replicas when profile is dev.", patternProperties={DNS_LABEL: integer("Replicas.", 1)}),
            "prod": obj("Replicas when profile is prod.", {
                "controlbus": integer("Redpanda brokers in prod: at least 3 (dagmanager creates data topics "
                                      "with replication factor 3).", 3),
            }, patternProperties={DNS_LABEL: integer("Replicas.", 1)}),
        }, required=("dev", "prod")),
    }, required=("profile", "ports", "seamless", "guard", "redis", "postgres", "neo4j", "questdb", "minio",
                 "controlbus", "resources", "replicas"))


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
LIBRARIES = {"qmtl-lib": "The shared library chart. Helm gives it a copy of `global`; it has no settings."}


def _section_common(name: str) -> dict[str, Schema]:
    return {
        "image": ref("image", f"{name}'s image."),
        "resources": ref("resourceTable", f"Per-container override of global.resources for {name}."),
        "replicas": integer(f"Override of global.replicas.<profile> for {name}.", 0),
        "global": obj("Set by Helm: a copy of `global`. Do not set it here.", additional=True),
    }


def _core_section(name: str, description: str) -> Schema:
    return obj(description, {
        "enabled": boolean(f"Deploy {name}."),
        **_section_common(name),
    }, additional=True)


def _dependency_section(name: str, description: str) -> Schema:
    return obj(description, {
        "enabled": {"not": {}, "description": f"Not a switch: deploy or replace {name} with "
                                             f"global.{name}.enabled (every consumer reads it there)."},
        **_section_common(name),
        "persistence": obj(f"{name}'s data volume (see qmtl-lib _persistence.tpl). Where a subchart has "
                           "a switch, prod requires it on.", {
            "enabled": boolean("Keep data on a PersistentVolumeClaim (must be true in prod)."),
        }, additional=True),
    }, additional=True)


# --- prod rules ---------------------------------------------------------------------------------------------

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


def _external_rules() -> dict[str, Schema]:
    """Both profiles: an external block that is used (enabled false) and not empty needs its endpoint, and
    its Secret where the dependency has credentials. A bundled dependency ignores `external`: the aggregated
    check refuses a non-empty one."""
    rules: dict[str, Schema] = {}
    for dep, (key, secret) in ENDPOINT_KEYS.items():
        needed = [key, "existingSecret"] if secret else [key]
        then_props: dict[str, Schema] = {key: _endpoint_present(key)}
        if secret:
            then_props["existingSecret"] = nonempty()
        rules[dep] = {
            "if": {"properties": {"enabled": {"const": False},
                                  "external": {"type": "object", "minProperties": 1}},
                   "required": ["enabled", "external"]},
            "then": {"properties": {"external": {"required": needed, "properties": then_props}}},
        }
    return rules


def _prod_rules() -> Schema:
    """`then` of "global.profile is prod"."""
    deps: dict[str, Schema] = {}
    for dep, (key, secret) in ENDPOINT_KEYS.items():
        needed = [key, "existingSecret"] if secret else [key]
        then_props: dict[str, Schema] = {key: _endpoint_present(key)}
        if secret:
            then_props["existingSecret"] = nonempty()
        deps[dep] = {
            "if": {"properties": {"enabled": {"const": False}}, "required": ["enabled"]},
            "then": {"required": ["external"],
                     "properties": {"external": {"required": needed, "properties": then_props}}},
        }
    global_rules = {
        "properties": {
            "seamless": {"required": ["coordinator_url"],
                         "properties": {"coordinator_url": nonempty(HTTP_URL)}},
            **deps,
        },
    }
    sections: dict[str, Schema] = {name: no_latest_tag() for name in (*CORE, *DEPENDENCIES)}
    sections["global"] = {"allOf": [global_rules, no_latest_tag()]}
    rules: list[Schema] = [{"properties": sections}]
    # A bundled ControlBus has >= 3 brokers: the prod table (global.replicas.prod.controlbus >= 3, always)
    # must have the entry, and a per-component override must not undercut it.
    rules.append({
        "if": {"properties": {"global": {"properties": {"controlbus": {"properties": {"enabled": {"const": True}}}}}}},
        "then": {"properties": {
            "global": {"properties": {"replicas": {"properties": {"prod": {"required": ["controlbus"]}}}}},
            "controlbus": {"properties": {"replicas": {"minimum": 3}}},
        }},
    })
    # Every bundled dependency keeps its data: persistence.enabled, where a subchart has the switch, is true.
    for dep in DEPENDENCIES:
        rules.append({
            "if": {"properties": {"global": {"properties": {dep: {"properties": {"enabled": {"const": True}}}}}}},
            "then": {"properties": {dep: {"properties": {"persistence": {"properties": {
                "enabled": {"const": True, "description": "prod keeps data: persistence on."}}}}}}},
        })
    # The marker lets scripts/validate say that a problem comes from a prod-only rule.
    return {"$comment": "prod rules: apply when global.profile is prod", "allOf": rules}


def build(subcharts: dict[str, str]) -> Schema:
    """The schema. `subcharts`: name -> "core" | "dependency" | "library", from Chart.yaml."""
    sections: dict[str, Schema] = {}
    for name, kind in subcharts.items():
        if kind == "library":
            if name not in LIBRARIES:
                raise KeyError(f"library subchart {name!r} is not described in schemas/values_schema.py LIBRARIES")
            sections[name] = obj(LIBRARIES[name], additional=True)
        elif name in CORE:
            sections[name] = _core_section(name, CORE[name])
        elif name in DEPENDENCIES:
            sections[name] = _dependency_section(name, DEPENDENCIES[name])
        else:
            raise KeyError(f"subchart {name!r} has no section in schemas/values_schema.py (CORE or DEPENDENCIES)")
    is_prod = {"properties": {"global": {"properties": {"profile": {"const": "prod"}}, "required": ["profile"]}},
               "required": ["global"]}
    external = _external_rules()
    return {
        "$schema": SCHEMA_DIALECT,
        "title": "qmtl values",
        "description": "Values of the qmtl umbrella chart. GENERATED from schemas/values_schema.py by "
                       "`python -m schemas.build`; do not edit by hand.",
        "type": "object",
        "properties": {"global": _global(), **sections},
        "required": ["global"],
        "additionalProperties": False,
        "allOf": [
            {"properties": {"global": {"properties": external}}},
            {"if": is_prod, "then": _prod_rules()},
        ],
        "$defs": DEFS,
    }


def load_yaml(text: str) -> Any:
    return yaml.safe_load(text)

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
cheaper to check the schema against than 2020-12's (a good part of the compile), it is
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
import re
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
_OCTET = r"(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
# An http(s) URL's host in one of its plain forms: a DNS name whose last label starts with a letter (so
# that no all-digit or 0x form, which resolvers read as an IPv4 number such as 2130706433 or 0177.0.0.1,
# passes as a name), a dotted-quad IPv4 without leading zeros, or a bracketed IPv6. No userinfo.
_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?"
_TOP_LABEL = r"[A-Za-z]([A-Za-z0-9-]*[A-Za-z0-9])?"
URL_HOST = rf"(({_LABEL}\.)*{_TOP_LABEL}|({_OCTET}\.){{3}}{_OCTET}|{IPV6})"
_PORT_NUMBER = r"([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])"
_URL_PATH = r"(/[A-Za-z0-9._~!$&'()*+,;=:@%-]*)*"  # RFC 3986 path characters; no query, no fragment
HTTP_URL = rf"^https?://{URL_HOST}(:{_PORT_NUMBER})?{_URL_PATH}$"
HTTP_URL_OR_EMPTY = rf"^(https?://{URL_HOST}(:{_PORT_NUMBER})?{_URL_PATH})?$"


def ci(text: str) -> str:
    """`text` in any letter case, as a pattern (RE2 and Python `re` alike: no inline flags)."""
    return "".join(f"[{c.upper()}{c.lower()}]" if c.isalpha() else re.escape(c) for c in text)


# A coordinator URL whose host is this machine, written as a literal: localhost (and names under it),
# 127.0.0.0/8, 0.0.0.0, ::1, ::, and IPv4-mapped or -compatible forms of those. Refused in prod (a pod
# would reach itself). Names that merely resolve to a loopback address are a DNS matter, not a pattern.
_V6_ZEROS = r"\[[0:]*"
LOOPBACK_URL = (
    r"^https?://("
    + ci("localhost")
    + r"|([A-Za-z0-9-]+\.)+"
    + ci("localhost")
    + r"|127\.[0-9.]+|0\.0\.0\.0"
    + rf"|{_V6_ZEROS}(1|0\.0\.0\.1)?\]"
    + rf"|{_V6_ZEROS}([Ff]{{4}}(:0{{1,4}})?:)?"
    + r"(127\.[0-9.]+|0\.0\.0\.0|7[Ff][0-9A-Fa-f]{2}:[0-9A-Fa-f]{1,4}|0{1,4}:0{1,4})\]"
    + r")(:[0-9]+)?([/?#].*)?$"
)
S3_ENDPOINT = rf"^https?://({HOSTNAME}|{IPV6}){PORT_SUFFIX}/?$"
NEO4J_URI = rf"^(bolt|neo4j)(\+s|\+ssc)?://({HOSTNAME}|{IPV6}){PORT_SUFFIX}$"
BROKER = rf"^({HOSTNAME}|{IPV6}):[0-9]{{1,5}}$"
DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
DNS_LABEL_OR_EMPTY = r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?)?$"
DNS_SUBDOMAIN_OR_EMPTY = r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*)?$"
SECRET_KEY = r"^[-._a-zA-Z0-9]+$"
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
LABEL_KEY = (
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"
)
LABEL_VALUE = r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$"
# Label and annotation keys the chart, Helm and Kubernetes own: a pod's labels must never pose as another
# component for the NetworkPolicies (they select app.kubernetes.io/instance and .../component), and its
# annotations must not reach the chart's checksums, Helm's hooks or Kubernetes' own switches (seccomp,
# AppArmor, ...). Kubernetes reserves kubernetes.io and k8s.io and their subdomains.
OWNED_LABEL = r"^([^/]*\.)?(kubernetes\.io|k8s\.io|helm\.sh|qmtl\.io)/"
# Pod annotations may use two of Kubernetes' prefixes, which only ask tools for something harmless:
# cluster-autoscaler.kubernetes.io/ (safe-to-evict: the stack's pods all have emptyDirs, which otherwise keep
# the cluster autoscaler from draining a node) and kubectl.kubernetes.io/ (default-container, ...).
POD_ANNOTATION_PREFIXES_ALLOWED = ("cluster-autoscaler", "kubectl")


def label_not_in(words: tuple[str, ...]) -> str:
    """A pattern for one DNS label (no "." or "/") that is none of `words`, without look-arounds (RE2 has
    none): a walk down the words' common prefixes that leaves them by ending early or by another character."""
    trie: dict = {}
    for word in words:
        node = trie
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}

    def walk(node: dict, depth: int) -> str:
        kids = sorted(k for k in node if k)
        branches = [""] if depth and "" not in node else []
        branches.append(f"[^{''.join(kids).replace('-', chr(92) + '-')}/.][^/.]*" if kids else "[^/.]+")
        branches += [(chr(92) + k if k == "-" else k) + walk(node[k], depth + 1) for k in kids]
        return "(" + "|".join(branches) + ")"

    return walk(trie, 0)


OWNED_POD_ANNOTATION = (
    r"^(([^/]*\.)?(k8s\.io|helm\.sh|qmtl\.io)|checksum|kubernetes\.io|[^/]*\.[^/]*\.kubernetes\.io|"
    + label_not_in(POD_ANNOTATION_PREFIXES_ALLOWED)
    + r"\.kubernetes\.io)/"
)
INGRESS_ANNOTATIONS_REFUSED = (
    r"(^cert-manager\.io/(issuer|cluster-issuer)$)|(^kubernetes\.io/ingress\.class$)|(-snippet$)"
)
URL_PATH = r"^/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*$"
LOWER_HOSTNAME = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
IMAGE_REGISTRY = r"^([A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:[0-9]{1,5})?(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*)?$"
STORAGE_CLASS = r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?)?$"
STORAGE_CLASS_OR_NONE = r"^(-|[a-z0-9]([-a-z0-9.]*[a-z0-9])?)?$"
SSL_MODES = ["disable", "allow", "prefer", "require", "verify-ca", "verify-full"]
PULL_POLICIES = ["Always", "IfNotPresent", "Never"]
# Bounds of integers the chart computes with or hands to Kubernetes: every integer has a maximum, so no
# value wraps around in a template (Helm's int64) or a Kubernetes int32 field, or loses precision (YAML
# numbers above 2^53 are not exact once parsed).
INT32_MAX = 2**31 - 1
EXACT_INT_MAX = 2**53 - 1
DAY_SECONDS = 86400
MAX_REPLICAS = 1000
# Parts of a DSN a user may name (database, user): plain words. The chart percent-encodes them anyway.
DB_NAME = r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$"
DB_USER = r"^[A-Za-z0-9_][A-Za-z0-9_.@-]*$"
# Values passed through to a server's settings (env vars, -c arguments): no control characters (a newline
# would start another line of a config file that an entrypoint writes them into).
NO_CONTROL = r"^[^\x00-\x1f\x7f]*$"
# Annotations that set a pod's or container's AppArmor/seccomp profile (the restricted contexts are the chart's).

# --- pass-through values: ALLOWLISTS of safe shapes (issue 16) -------------------------------------------------
# Each free-form value the chart hands to a server is matched here, and only here, against what is known
# not to weaken authentication or isolation; everything else is refused naming the key. Where the server
# reads names in any letter case, so does the allowlist (ci()); where it is case-sensitive, only the exact
# spelling passes. Tokens are separated by single spaces: tabs, newlines and quotes are never part of a
# match, so no other spelling of a refused rule can slip through.

# Redis ACL rules appended to a service's user. Grants: only these commands (Lua scripts run with the
# user's own key patterns and commands; TIME reads the clock). A category grant is never allowed: the
# members of a category change between Redis versions and re-granting one (+@read, +@connection) re-opens
# what the chart removed (KEYS, SELECT of any DB). Removals (-cmd, -cmd|sub, -@category) only narrow.
REDIS_GRANTS = ("eval", "evalsha", "eval_ro", "evalsha_ro", "script|load", "script|exists", "time")
_REDIS_TOKEN = rf"(\+({'|'.join(ci(c) for c in REDIS_GRANTS)})|-@?[A-Za-z0-9_]+(\|[A-Za-z0-9_-]+)?)"
REDIS_EXTRA_RULES = rf"^ *({_REDIS_TOKEN}( +{_REDIS_TOKEN})*)? *$"
# neo4j.conf settings (NEO4J_* env vars). Neo4j's names are case-sensitive: lower case only. Per-database
# and query tuning, transaction and memory limits; never dbms.security.*, server.* (listeners, memory the
# chart sizes, JVM options) or the image's own variables (NEO4J_AUTH, NEO4J_PLUGINS, ...).
NEO4J_SETTING = r"^(db|dbms\.memory|dbms\.cypher|dbms\.transaction)(\.[a-z0-9_]+)+$"
# QuestDB server.conf settings (QDB_* env vars; QuestDB upper-cases the name, so any case). Storage, SQL
# and worker tuning; never credentials, listeners (pg.net, http.net, line.*), security or telemetry
# settings, and no setting naming a file-system path (*.root, *.dir, *.path).
QUESTDB_SETTING = (
    "^("
    + "|".join(
        ci(ns)
        for ns in (
            "cairo",
            "shared.worker",
            "wal",
            "query",
            "pg.worker",
            "pg.select.cache",
            "pg.insert.cache",
            "pg.update.cache",
            "http.worker",
        )
    )
    + r")(\.[A-Za-z0-9]+)+$"
)
QUESTDB_PATH_SETTING = rf"\.({ci('root')}|{ci('dir')}|{ci('path')})$"
# postgresql.conf parameters (-c name=value; PostgreSQL reads names in any case). Memory, planner,
# checkpoint/WAL sizing, autovacuum, timeouts and logs that hold no statement text. Never authentication,
# listeners, files, libraries, archive/restore commands or statement logging (it would log the role
# passwords the provisioning Job sets).
POSTGRES_PARAMETERS = (
    "max_connections",
    "superuser_reserved_connections",
    "shared_buffers",
    "huge_pages",
    "temp_buffers",
    "work_mem",
    "hash_mem_multiplier",
    "maintenance_work_mem",
    "autovacuum_work_mem",
    "effective_cache_size",
    "effective_io_concurrency",
    "maintenance_io_concurrency",
    "random_page_cost",
    "seq_page_cost",
    "cpu_tuple_cost",
    "cpu_index_tuple_cost",
    "cpu_operator_cost",
    "default_statistics_target",
    "jit",
    "max_worker_processes",
    "max_parallel_workers",
    "max_parallel_workers_per_gather",
    "max_parallel_maintenance_workers",
    "max_wal_size",
    "min_wal_size",
    "wal_buffers",
    "wal_compression",
    "wal_writer_delay",
    "checkpoint_timeout",
    "checkpoint_completion_target",
    "synchronous_commit",
    "commit_delay",
    "max_locks_per_transaction",
    "statement_timeout",
    "lock_timeout",
    "idle_in_transaction_session_timeout",
    "idle_session_timeout",
    "tcp_keepalives_idle",
    "tcp_keepalives_interval",
    "tcp_keepalives_count",
    "log_checkpoints",
    "log_lock_waits",
    "log_temp_files",
    "log_autovacuum_min_duration",
    "log_connections",
    "log_disconnections",
    "timezone",
    "log_timezone",
)
POSTGRES_PARAMETER = (
    "^("
    + "|".join(ci(p) for p in POSTGRES_PARAMETERS)
    + "|"
    + ci("autovacuum")
    + r"(_[A-Za-z_]+)?|"
    + ci("bgwriter_")
    + r"[A-Za-z_]+)$"
)


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
    "redis": ("redis", "redis-acl"),
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


def _settings(description: str, allowed: str, names: str, refused: str | None = None) -> Schema:
    """Settings passed through to a server: name -> value. A name must match the `names` allowlist (and
    not `refused`); any other name is an unknown key, refused naming it. Values are scalars without
    control characters. (patternProperties rather than propertyNames: Helm's validator reports a
    propertyNames failure at a wrong location.)"""
    patterns: dict[str, Schema] = {
        names: {
            "type": ["string", "number", "boolean"],
            "pattern": NO_CONTROL,
            "description": "A value: a number, a boolean, or a string without control characters (no newline, tab).",
        }
    }
    if refused:
        patterns[refused] = {"not": {}, "description": f"Not allowed here. Allowed names: {allowed}."}
    return obj(f"{description} Allowed names: {allowed}.", patternProperties=patterns)


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
    "podAnnotations": obj(
        "Annotations of the pods: name -> text.",
        patternProperties={
            OWNED_POD_ANNOTATION: {
                "not": {},
                "description": "The chart's, Helm's or Kubernetes' own annotation (checksum/, qmtl.io/, helm.sh/, "
                "*.kubernetes.io/, *.k8s.io/; allowed: "
                + ", ".join(f"{p}.kubernetes.io/" for p in POD_ANNOTATION_PREFIXES_ALLOWED)
                + ").",
            },
            LABEL_KEY: {"type": "string"},
        },
    ),
    "podLabels": obj(
        "Extra labels of the pods: name -> value.",
        patternProperties={
            OWNED_LABEL: {
                "not": {},
                "description": "The chart's, Helm's or Kubernetes' own label (app.kubernetes.io/, qmtl.io/, "
                "helm.sh/, *.kubernetes.io/, *.k8s.io/): the NetworkPolicies select pods by the chart's labels, "
                "which a pod label must never imitate.",
            },
            LABEL_KEY: {"type": "string", "pattern": LABEL_VALUE, "maxLength": 63},
        },
    ),
    "priorityClassName": string(
        "Name of a PriorityClass for the pods; empty: the cluster's default priority.",
        pattern=DNS_SUBDOMAIN_OR_EMPTY,
        maxLength=253,
    ),
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
                "tolerationSeconds": integer("How long a NoExecute taint is tolerated.", 0, INT32_MAX),
            },
        ),
    ),
    "affinity": obj(
        "Affinity of the pods (Kubernetes Affinity). A kind given here replaces the workload's built-in one "
        "of the same kind (the ControlBus brokers' podAntiAffinity).",
        {
            "nodeAffinity": obj(
                "Node affinity.",
                {
                    "requiredDuringSchedulingIgnoredDuringExecution": obj(
                        "Nodes the pods must run on: any of the terms.",
                        {"nodeSelectorTerms": array("The terms (ORed).", ref("nodeSelectorTerm"), minItems=1)},
                        required=("nodeSelectorTerms",),
                    ),
                    "preferredDuringSchedulingIgnoredDuringExecution": array(
                        "Nodes the scheduler prefers, by weight.",
                        obj(
                            "A weighted preference.",
                            {
                                "weight": integer("Weight, 1 to 100.", 1, 100),
                                "preference": ref("nodeSelectorTerm", "The nodes preferred."),
                            },
                            required=("weight", "preference"),
                        ),
                    ),
                },
            ),
            "podAffinity": ref("podAffinity", "Run near pods that match."),
            "podAntiAffinity": ref("podAffinity", "Run away from pods that match."),
        },
    ),
    "nodeSelectorTerm": obj(
        "A node selector term: all of its requirements.",
        {
            "matchExpressions": array("Requirements on node labels.", ref("nodeSelectorRequirement")),
            "matchFields": array("Requirements on node fields (metadata.name).", ref("nodeSelectorRequirement")),
        },
    ),
    "nodeSelectorRequirement": obj(
        "One requirement.",
        {
            "key": string("Label key or field name.", minLength=1),
            "operator": string("How the values apply.", enum=["In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"]),
            "values": array("Values (In, NotIn; one integer for Gt, Lt).", {"type": "string"}),
        },
        required=("key", "operator"),
    ),
    "podAffinity": obj(
        "Pod (anti-)affinity: terms that must hold, and weighted ones the scheduler prefers.",
        {
            "requiredDuringSchedulingIgnoredDuringExecution": array(
                "Terms that must all hold.", ref("podAffinityTerm")
            ),
            "preferredDuringSchedulingIgnoredDuringExecution": array(
                "Terms the scheduler prefers, by weight.",
                obj(
                    "A weighted term.",
                    {
                        "weight": integer("Weight, 1 to 100.", 1, 100),
                        "podAffinityTerm": ref("podAffinityTerm", "The term."),
                    },
                    required=("weight", "podAffinityTerm"),
                ),
            ),
        },
    ),
    "podAffinityTerm": obj(
        "Pods (labelSelector, in namespaces) whose topology domain (topologyKey) counts.",
        {
            "labelSelector": ref("labelSelector", "The pods."),
            "namespaceSelector": ref("labelSelector", "Their namespaces ({}: every namespace)."),
            "namespaces": array(
                "Their namespaces by name (none: the pod's own).", {"type": "string", "pattern": DNS_LABEL}
            ),
            "topologyKey": string("Node label of the topology domain, e.g. kubernetes.io/hostname.", pattern=LABEL_KEY),
            "matchLabelKeys": array(
                "Label keys whose values the pod's own must equal.", {"type": "string", "pattern": LABEL_KEY}
            ),
            "mismatchLabelKeys": array(
                "Label keys whose values the pod's own must differ from.", {"type": "string", "pattern": LABEL_KEY}
            ),
        },
        required=("topologyKey",),
    ),
    "topologySpreadConstraints": array(
        "Topology spread constraints of the pods. One given here replaces the workload's built-in one over the "
        "same topologyKey (the prod spread of the QMTL services and the coordinator over nodes and zones, the "
        "ControlBus brokers' zone spread); without a labelSelector it counts the workload's own pods.",
        obj(
            "A topology spread constraint.",
            {
                "maxSkew": integer("Largest allowed difference of matching pods between two domains.", 1, MAX_REPLICAS),
                "topologyKey": string(
                    "Node label of the domains, e.g. topology.kubernetes.io/zone.", pattern=LABEL_KEY
                ),
                "whenUnsatisfiable": string(
                    "What the scheduler does when it cannot.", enum=["DoNotSchedule", "ScheduleAnyway"]
                ),
                "labelSelector": ref("labelSelector", "The pods counted; absent: the workload's own."),
                "minDomains": integer("Minimum number of eligible domains (DoNotSchedule).", 1, MAX_REPLICAS),
                "nodeAffinityPolicy": string("Whether node affinity limits the domains.", enum=["Honor", "Ignore"]),
                "nodeTaintsPolicy": string("Whether node taints limit the domains.", enum=["Honor", "Ignore"]),
                "matchLabelKeys": array(
                    "Label keys whose values the pod's own must equal (e.g. pod-template-hash).",
                    {"type": "string", "pattern": LABEL_KEY},
                ),
            },
            required=("maxSkew", "topologyKey", "whenUnsatisfiable"),
        ),
    ),
    "ingressAnnotations": obj(
        "Annotations of the Ingress (e.g. your ingress controller's settings): name -> text.",
        patternProperties={
            INGRESS_ANNOTATIONS_REFUSED: {
                "not": {},
                "description": "Set by the chart from other keys (cert-manager.io/issuer and cluster-issuer: "
                "tls.certManager; kubernetes.io/ingress.class: className), or an NGINX *-snippet, which splices "
                "raw proxy configuration in.",
            },
            LABEL_KEY: {"type": "string"},
        },
    ),
    "httpPaths": array(
        "The paths routed to the gateway (the gateway serves everything from /, its WebSocket streams at /ws and "
        "/ws/evt, which the exposed paths must include: the URLs the gateway hands to SDK clients point there).",
        obj(
            "One path.",
            {
                "path": string("The path, from /.", pattern=URL_PATH, maxLength=1024),
                "pathType": string(
                    "Prefix: the path and everything below it (by path segment); Exact: only the path.",
                    enum=["Prefix", "Exact"],
                ),
            },
            required=("path", "pathType"),
        ),
        minItems=1,
        maxItems=16,
    ),
    "topic": obj(
        "One ControlBus topic.",
        {
            "partitions": integer("Partitions.", 1, 1000),
            "retentionMs": integer(
                "retention.ms: milliseconds > 0, or -1 (forever).", -1, EXACT_INT_MAX, **{"not": {"const": 0}}
            ),
        },
        required=("partitions", "retentionMs"),
    ),
    "jobTiming": obj(
        "The hook Job's bounds.",
        {
            "waitSeconds": integer("How long it waits for the server before it gives up.", 1, DAY_SECONDS),
            "backoffLimit": integer(
                "Retries of the Job (backoffLimit; the Job template reads 0 as its default, 4).", 1, 100
            ),
            "activeDeadlineSeconds": integer("Deadline of the whole Job (activeDeadlineSeconds).", 1, 7 * DAY_SECONDS),
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
                            "username": string("Username.", pattern=DB_USER, maxLength=128),
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
                            "database": string("Database name.", pattern=DB_NAME, maxLength=63),
                            "username": string("Role name.", pattern=DB_USER, maxLength=63),
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
            "username": string("Username.", pattern=DB_USER, maxLength=128),
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
            "database": string("Database name.", pattern=DB_NAME, maxLength=63),
            "existingSecret": _external_secret(),
            "usernameKey": ref("secretKey", "Key of the username in existingSecret."),
            "passwordKey": ref("secretKey", "Key of the password in existingSecret."),
        },
        {"database": string("Database name of the bundled QuestDB (PG wire).", pattern=DB_NAME, maxLength=63)},
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
            "disabledAcknowledged": boolean(
                "true confirms, in prod, that the stack runs WITHOUT NetworkPolicies (enabled: false): every pod "
                "of the namespace and beyond can then reach every dependency and service port (README, Residual "
                "risks). Required with enabled: false in prod."
            ),
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
            "ingressController": obj(
                "The ingress controller that serves global.gatewayIngress.",
                {
                    "from": ref(
                        "networkPolicyPeers",
                        "Its pods (e.g. the namespace of ingress-nginx), admitted to the gateway's HTTP port while "
                        "global.gatewayIngress is on; required then.",
                    ),
                },
            ),
            "gatewayApi": obj(
                "The Gateway API implementation that serves global.gatewayHttpRoute.",
                {
                    "from": ref(
                        "networkPolicyPeers",
                        "The pods that proxy its traffic (its data plane, e.g. Envoy Gateway's proxies), admitted to "
                        "the gateway's HTTP port while global.gatewayHttpRoute is on; required then.",
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
    gateway_ingress = obj(
        "An Ingress (networking.k8s.io/v1) that exposes the gateway (its HTTP API and WebSocket streams) at "
        "host. Its controller's pods get through the NetworkPolicies by global.networkPolicy.ingressController.from.",
        {
            "enabled": boolean("Render the Ingress."),
            "className": string(
                "ingressClassName; empty: the cluster's default IngressClass.",
                pattern=DNS_SUBDOMAIN_OR_EMPTY,
                maxLength=253,
            ),
            "host": string(
                "The gateway's public host name (no wildcard): the Ingress rule, and the base of the WebSocket "
                "URLs the gateway hands to SDK clients. Required when enabled.",
                pattern=f"^$|{LOWER_HOSTNAME}",
                maxLength=253,
            ),
            "paths": ref("httpPaths", "The paths routed to the gateway."),
            "annotations": ref("ingressAnnotations", "Annotations of the Ingress (your controller's settings)."),
            "tls": obj(
                "TLS at the ingress controller (the URLs become https:// and wss://).",
                {
                    "enabled": boolean("Terminate TLS for host with the certificate in secretName."),
                    "secretName": string(
                        "The TLS Secret (kubernetes.io/tls) in the release namespace: yours, or the one cert-manager "
                        "writes.",
                        pattern=DNS_SUBDOMAIN_OR_EMPTY,
                        maxLength=253,
                    ),
                    "certManager": obj(
                        "Let cert-manager issue the certificate into secretName (needs cert-manager's ingress-shim): "
                        "one of issuer and clusterIssuer.",
                        {
                            "issuer": string(
                                "An Issuer in the release namespace (cert-manager.io/issuer).",
                                pattern=DNS_SUBDOMAIN_OR_EMPTY,
                                maxLength=253,
                            ),
                            "clusterIssuer": string(
                                "A ClusterIssuer (cert-manager.io/cluster-issuer).",
                                pattern=DNS_SUBDOMAIN_OR_EMPTY,
                                maxLength=253,
                            ),
                        },
                    ),
                },
            ),
        },
        required=("enabled",),
    )
    gateway_http_route = obj(
        "A Gateway API HTTPRoute (gateway.networking.k8s.io/v1) that attaches the gateway to your Gateway(s). "
        "The Gateway implementation's proxies get through the NetworkPolicies by global.networkPolicy.gatewayApi.from.",
        {
            "enabled": boolean("Render the HTTPRoute (the cluster needs the Gateway API CRDs)."),
            "parentRefs": array(
                "The Gateway(s) (and listener) to attach to; required when enabled. A Gateway in another namespace "
                "must allow routes from this one (its listener's allowedRoutes).",
                obj(
                    "A Gateway.",
                    {
                        "name": string("The Gateway's name.", pattern=DNS_SUBDOMAIN, maxLength=253),
                        "namespace": string(
                            "Its namespace; empty: the release's.", pattern=DNS_LABEL_OR_EMPTY, maxLength=63
                        ),
                        "sectionName": string("One of its listeners, by name.", pattern=DNS_SUBDOMAIN, maxLength=253),
                        "port": ref("port", "One of its listeners, by port."),
                    },
                    required=("name",),
                ),
            ),
            "hostnames": array(
                "The gateway's public host names (no wildcard); required when enabled. The first is the base of the "
                "WebSocket URLs the gateway hands to SDK clients.",
                {"type": "string", "pattern": LOWER_HOSTNAME, "maxLength": 253},
            ),
            "paths": ref("httpPaths", "The paths routed to the gateway."),
            "scheme": string(
                "What clients speak to the Gateway's listener: https (it terminates TLS) or http; the WebSocket URLs "
                "the gateway hands out follow (wss:// or ws://).",
                enum=["https", "http"],
            ),
        },
        required=("enabled",),
    )
    container_table = {c: ref("resources", f"The {c} container.") for c in chart.containers}
    workload_table = {w: integer(f"Replicas of {w}.", 1, MAX_REPLICAS) for w in chart.workloads}
    prod_workloads = dict(workload_table)
    if "controlbus" in prod_workloads:
        prod_workloads["controlbus"] = integer(
            "Redpanda brokers in prod: at least 3 (dagmanager creates data topics with replication factor 3).",
            3,
            MAX_REPLICAS,
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
            "imageRegistry": string(
                "A registry (host[:port][/path], e.g. registry.example.com/mirror) that replaces the registry part "
                "of EVERY image of the stack (services, dependencies, Jobs, helm tests): docker.io/library/redis "
                "becomes <imageRegistry>/library/redis; tags and digests stay. Empty: the images as written.",
                pattern=IMAGE_REGISTRY,
                maxLength=255,
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
            "gatewayIngress": gateway_ingress,
            "gatewayHttpRoute": gateway_http_route,
            **_placement("global"),
            "credentials": obj(
                "Credentials the chart generates: every password of the bundled dependencies, the gateway's "
                "event-signing key.",
                {
                    "generate": boolean(
                        "true: generated into the chart's own Secrets on first install, kept across upgrades "
                        "(Helm's lookup). false (GitOps: Argo CD, Flux, helm template | kubectl apply): none is "
                        "rendered, the chart only references them; create them once with scripts/credentials."
                    ),
                },
                required=("generate",),
            ),
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
# Workloads that may have a HorizontalPodAutoscaler: the stateless services. DAG Manager too: with its graph
# in Neo4j and its queues in Kafka its replicas share all state (QMTL has no leader election and needs none:
# every replica serves gRPC and HTTP, and the periodic queue GC of each replica is idempotent). The aggregated
# check refuses autoscaling of a service that keeps state in its pod (its local/dev modes).
AUTOSCALED = ("gateway", "dagmanager", "worldservice", "seamless-coordinator")
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


def _autoscaling(name: str) -> Schema:
    return obj(
        f"A HorizontalPodAutoscaler (autoscaling/v2) for {name}. While it is on, the Deployment has no replica "
        "count of its own (upgrades leave the autoscaler's count alone).",
        {
            "enabled": boolean("Render the HorizontalPodAutoscaler."),
            "minReplicas": {
                "description": f"Fewest replicas; unset or null: global.replicas.<profile>.{name}. At least 2 in "
                "prod (the PodDisruptionBudget lets one pod go at a time, so one keeps serving).",
                "type": ["integer", "null"],
                "minimum": 1,
                "maximum": 100,
            },
            "maxReplicas": integer("Most replicas; at least minReplicas.", 1, 100),
            "targetCPUUtilizationPercentage": {
                "description": "Average CPU use, in percent of the CPU requests, to keep the pods at; unset or "
                "null: not a target.",
                "type": ["integer", "null"],
                "minimum": 1,
                "maximum": 1000,
            },
            "targetMemoryUtilizationPercentage": {
                "description": "Average memory use, in percent of the memory requests, to keep the pods at; unset "
                "or null: not a target.",
                "type": ["integer", "null"],
                "minimum": 1,
                "maximum": 1000,
            },
        },
    )


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


PLACEMENT_KEYS = (
    "nodeSelector",
    "tolerations",
    "affinity",
    "topologySpreadConstraints",
    "priorityClassName",
    "podAnnotations",
    "podLabels",
)


def _placement(whose: str) -> dict[str, Schema]:
    """The placement and pod-metadata keys, the same in `global` and in every component section
    (qmtl.pod.placement and qmtl.pod.metadata in charts/qmtl-lib/templates/_placement.tpl)."""
    if whose == "global":
        set_ = (
            "Default for every pod of the stack (workloads, hook Jobs, helm test pods); a component's own replaces it"
        )
        merged = "Added to every pod of the stack; a component's own win per key"
    else:
        set_ = f"For {whose}'s pods (and its hook Jobs); empty: global's"
        merged = f"Added to {whose}'s pods (and its hook Jobs), over global's"
    return {
        "nodeSelector": ref("nodeSelector", f"nodeSelector. {set_}."),
        "tolerations": ref("tolerations", f"Tolerations. {set_}."),
        "affinity": ref("affinity", f"Affinity. {set_}."),
        "topologySpreadConstraints": ref("topologySpreadConstraints", f"Topology spread constraints. {set_}."),
        "priorityClassName": ref("priorityClassName", f"PriorityClass. {set_}."),
        "podAnnotations": ref("podAnnotations", f"Pod annotations. {merged}."),
        "podLabels": ref("podLabels", f"Pod labels. {merged}."),
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
        # Bounds are the coordinator's own (images/seamless-coordinator settings.py); that the record outlives
        # the longest lease is an aggregated-check rule (templates/_validate.tpl).
        return {
            "leases": obj(
                "The lease rules.",
                {
                    "maxMs": integer(
                        "Largest lease_ms a claim may ask for (LEASE_MAX_MS); larger claims get 422.", 1, 2**31 - 1
                    ),
                    "recordTtlSeconds": integer(
                        "How long a key's lease record stays in Redis after its last change (LEASE_RECORD_TTL_S): "
                        "a stale token gets 409 until then, 404 after. Must exceed maxMs.",
                        1,
                        10 * 365 * 86400,
                    ),
                },
            ),
            "logLevel": string("Log level (LOG_LEVEL).", enum=["debug", "info", "warning", "error"]),
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
                        "maximum": MAX_REPLICAS,
                        "pattern": r"^[0-9]{1,3}%$",
                    },
                },
            ),
            "provisioning": obj(
                "The topic/ACL provisioning Job.",
                {
                    "waitSeconds": integer("How long it waits for the cluster to be healthy.", 1, DAY_SECONDS),
                    "backoffLimit": integer("Retries of the Job.", 0, 100),
                    "ttlSecondsAfterFinished": integer("Seconds a finished Job is kept.", 0, INT32_MAX),
                },
            ),
        }
    if name == "redis":
        return {
            "persistence": _persistence("Redis", profiled=False),
            "maxmemoryPercent": integer("Redis maxmemory as a percentage of the container's memory limit.", 10, 95),
            "extraRules": obj(
                "Extra ACL rules appended to one service's user: space-separated, only grants of "
                f"{', '.join('+' + c for c in REDIS_GRANTS)} and removals (-command, -command|sub, -@category). "
                "Anything else (passwords, key or channel patterns, other grants, selectors) is refused.",
                {
                    who: string(
                        f"ACL rules appended to the {who} user, separated by spaces: grants of "
                        f"{', '.join('+' + c for c in REDIS_GRANTS)} only, and removals (-command, "
                        "-command|sub, -@category).",
                        pattern=REDIS_EXTRA_RULES,
                    )
                    for who in REDIS_USERS
                },
            ),
        }
    if name == "postgres":
        return {
            "persistence": _persistence("PostgreSQL", profiled=True),
            "parameters": _settings(
                "postgresql.conf parameters passed as -c name=value (memory, planner, WAL, autovacuum, timeouts).",
                f"autovacuum*, bgwriter_*, {', '.join(POSTGRES_PARAMETERS)} (any letter case)",
                POSTGRES_PARAMETER,
            ),
            "shmSize": {
                "description": "Size of the memory-backed /dev/shm (counts against the memory limit).",
                "type": "string",
                "pattern": MEMORY,
                "not": {"type": "string", "pattern": MEMORY_ZERO},
            },
            "provision": ref("jobTiming", "The provisioning Job (roles and databases)."),
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
            "config": _settings(
                "Extra neo4j.conf settings (NEO4J_* env vars): per-database, query, transaction and memory tuning; "
                "authentication, listeners and the server's sizes are the chart's.",
                "db.*, dbms.memory.*, dbms.cypher.*, dbms.transaction.* (lower case, as Neo4j spells them)",
                NEO4J_SETTING,
            ),
            "schema": ref("jobTiming", "The schema Job (constraints and indexes)."),
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
            "config": _settings(
                "Extra server.conf settings (QDB_* env vars): storage, SQL and worker tuning; credentials, "
                "listeners, security and telemetry are the chart's.",
                "cairo.*, shared.worker.*, wal.*, query.*, pg.worker.*, pg.select.cache.*, pg.insert.cache.*, "
                "pg.update.cache.*, http.worker.* (any letter case), except settings naming a path "
                "(*.root, *.dir, *.path)",
                QUESTDB_SETTING,
                QUESTDB_PATH_SETTING,
            ),
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
        props["replicas"] = integer(f"Override of global.replicas.<profile>.{name}.", 1, MAX_REPLICAS)
    if name in AUTOSCALED:
        props["autoscaling"] = _autoscaling(name)
    props.update(_own_keys(name))
    props.update(_placement(name))
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
    # The gateway's exposure: what an enabled Ingress or HTTPRoute needs; TLS with its Secret; cert-manager only
    # with TLS on and one issuer; the NetworkPolicies admit the controller's pods (someone must be admitted).
    rules.append(
        {
            "if": present("global.gatewayIngress.enabled", {"const": True}),
            "then": prop("global.gatewayIngress", {"required": ["host"], "properties": {"host": nonempty()}}),
        }
    )
    rules.append(
        {
            "if": present("global.gatewayIngress.tls.enabled", {"const": True}),
            "then": prop(
                "global.gatewayIngress.tls", {"required": ["secretName"], "properties": {"secretName": nonempty()}}
            ),
        }
    )
    for issuer in ("issuer", "clusterIssuer"):
        rules.append(
            {
                "if": present(f"global.gatewayIngress.tls.certManager.{issuer}", nonempty()),
                "then": prop(
                    "global.gatewayIngress.tls", {"required": ["enabled"], "properties": {"enabled": {"const": True}}}
                ),
            }
        )
    rules.append(
        prop(
            "global.gatewayIngress.tls.certManager",
            {
                "not": {
                    "required": ["issuer", "clusterIssuer"],
                    "properties": {"issuer": nonempty(), "clusterIssuer": nonempty()},
                },
                "description": "One of issuer and clusterIssuer, not both.",
            },
        )
    )
    rules.append(
        {
            "if": present("global.gatewayHttpRoute.enabled", {"const": True}),
            "then": prop(
                "global.gatewayHttpRoute",
                {
                    "required": ["parentRefs", "hostnames"],
                    "properties": {"parentRefs": {"minItems": 1}, "hostnames": {"minItems": 1}},
                },
            ),
        }
    )
    for exposure, peers in (("gatewayIngress", "ingressController"), ("gatewayHttpRoute", "gatewayApi")):
        rules.append(
            {
                "if": {
                    "allOf": [
                        present(f"global.{exposure}.enabled", {"const": True}),
                        present("global.networkPolicy.enabled", {"const": True}),
                    ]
                },
                "then": prop(
                    f"global.networkPolicy.{peers}", {"required": ["from"], "properties": {"from": {"minItems": 1}}}
                ),
            }
        )
    # An autoscaler of a deployed service (whose subchart defaults are then merged in) is complete and has
    # something to scale by.
    for section in AUTOSCALED:
        deployed = present(SWITCHES[section], {"const": True})
        rules.append({"if": deployed, "then": prop(f"{section}.autoscaling", {"required": ["enabled", "maxReplicas"]})})
        rules.append(
            {
                "if": {"allOf": [deployed, present(f"{section}.autoscaling.enabled", {"const": True})]},
                "then": prop(
                    f"{section}.autoscaling",
                    {
                        "not": {
                            "properties": {
                                "targetCPUUtilizationPercentage": {"type": "null"},
                                "targetMemoryUtilizationPercentage": {"type": "null"},
                            }
                        },
                        "description": "An autoscaler needs a target: targetCPUUtilizationPercentage and/or "
                        "targetMemoryUtilizationPercentage.",
                    },
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
    # NetworkPolicies off only with the explicit acknowledgement of what that opens.
    rules.append(
        {
            "if": present("global.networkPolicy.enabled", {"const": False}),
            "then": prop(
                "global.networkPolicy",
                {"required": ["disabledAcknowledged"], "properties": {"disabledAcknowledged": {"const": True}}},
            ),
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
                    "seamless": {
                        "required": ["coordinator_url"],
                        "properties": {
                            "coordinator_url": {
                                **nonempty(HTTP_URL),
                                "not": {
                                    "type": "string",
                                    "pattern": LOOPBACK_URL,
                                    "description": "a loopback or unspecified address (localhost, 127.0.0.0/8, ::1, "
                                    "0.0.0.0, ::): from a pod that is the pod itself",
                                },
                            }
                        },
                    }
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

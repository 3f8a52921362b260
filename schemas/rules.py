"""What a values file's comments cannot say, for values.schema.json: the shared types (DEFS, referenced) and
named types (TYPES) a key's `# -- (type)` names, the keys every component section takes, the rules between
keys a JSON Schema can state (if/then) and the prod rules ("if global.profile is prod then ...").

Every key, its default, description and type are the values files' (schemas/build.py reads their `# --`
annotations with schemas/annotations.py; CONTRIBUTING.md has the grammar). Facts of the chart are read from
the chart, not restated (`Chart`: the subcharts, the sizing and replica tables, the topics). Rules that
compare two values, or a value with the chart's derived facts: the aggregated check, templates/_validate.tpl.

Dialect: JSON Schema draft-07, self-contained (local `$ref` only, shared types under `definitions`).
Helm compiles the whole schema on every install, upgrade, template and lint: the draft-07 meta-schema is
cheaper to check the schema against than 2020-12's, it is the dialect every Helm 3 and 4 validator reads,
and nothing here needs a later keyword. In draft-07 a `$ref` ignores its sibling keywords, so a `$ref`
node carries only annotations (description, default; a test checks).
Patterns use the syntax common to Go's RE2 (Helm >= 3.18.5 and Helm 4 validate with
santhosh-tekuri/jsonschema) and Python's `re` (scripts/validate uses python-jsonschema): anchors, classes,
groups, alternation, no look-arounds, no \\d or \\s, and no long length ranges such as `{1,249}` (RE2
expands a range into that many states); a length bound is a minLength/maxLength beside the pattern.
"""

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
    workloads:  every workload of the replica table (values.yaml global.replicas.<profile>)
    topics:     the ControlBus topics the services use (values.yaml global.controlbus.topics)
    endpoints:  dependency -> the key of global.<dep>.external that says where it is (marked `endpoint`
                in values.yaml), and whether that block takes credentials (it has existingSecret)
    """

    subcharts: dict[str, str]
    workloads: tuple[str, ...]
    topics: tuple[str, ...]
    endpoints: dict[str, tuple[str, bool]]


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
    # Nothing required here: a subchart's sizing table is overridden entry by entry (e.g. requests only), and
    # `helm lint` validates overrides without the subchart's defaults; the aggregated check requires requests
    # and limits, cpu and memory, of every container once Helm has merged them.
    "resources": obj(
        "Requests and limits of one container (cpu and memory each): every container of the stack is sized.",
        {"requests": _resource_list("requests"), "limits": _resource_list("limits")},
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


# --- types a values file names in a key's `# -- (type)` ---------------------------------------------------
# A key's schema is what its default says (a boolean, an integer, a string, a list, a mapping of the keys
# documented under it), plus the type its annotation names: a shared definition (DEFS, referenced), one of
# TYPES below (merged over what the default says; a type's own description gives way to the key's),
# `lo..hi` (an integer range) or `a|b|c` (one of these strings); `required` makes the key required in its
# mapping. schemas/build.py reads the annotations.

_REDIS_USER = obj(
    "One service's user.",
    {
        "username": string("Username.", pattern=DB_USER, maxLength=128),
        "passwordKey": ref("secretKey", "Key of the password in existingSecret."),
    },
)
_POSTGRES_DATABASE = obj(
    "One service's database.",
    {
        "database": string("Database name.", pattern=DB_NAME, maxLength=63),
        "username": string("Role name.", pattern=DB_USER, maxLength=63),
        "passwordKey": ref("secretKey", "Key of the password in existingSecret."),
    },
)
_PARENT_REF = obj(
    "A Gateway.",
    {
        "name": string("The Gateway's name.", pattern=DNS_SUBDOMAIN, maxLength=253),
        "namespace": string("Its namespace; empty: the release's.", pattern=DNS_LABEL_OR_EMPTY, maxLength=63),
        "sectionName": string("One of its listeners, by name.", pattern=DNS_SUBDOMAIN, maxLength=253),
        "port": ref("port", "One of its listeners, by port."),
    },
    required=("name",),
)


TYPES: dict[str, Schema] = {
    "string": {"type": "string"},
    "boolean": {"type": "boolean"},
    "object": {"type": "object", "additionalProperties": False},
    "nonEmpty": nonempty(),
    "host": {"type": "string", "pattern": HOST},
    "hostnameOrEmpty": {"type": "string", "pattern": f"^$|{LOWER_HOSTNAME}", "maxLength": 253},
    "hostnames": {"type": "array", "items": {"type": "string", "pattern": LOWER_HOSTNAME, "maxLength": 253}},
    "secretNameOrEmpty": {"type": "string", "pattern": DNS_SUBDOMAIN_OR_EMPTY, "maxLength": 253},
    "secretNames": {"type": "array", "items": {"type": "string", "pattern": DNS_SUBDOMAIN}},
    "namespaceOrEmpty": {"type": "string", "pattern": DNS_LABEL_OR_EMPTY},
    "imageRegistry": {"type": "string", "pattern": IMAGE_REGISTRY, "maxLength": 255},
    "coordinatorUrl": {"type": "string", "pattern": HTTP_URL_OR_EMPTY},
    "bucket": {"type": "string", "pattern": S3_BUCKET, "minLength": 3, "maxLength": 63},
    "s3Prefix": {"type": "string", "pattern": S3_PREFIX},
    "s3Endpoint": {"type": "string", "pattern": S3_ENDPOINT},
    "neo4jUri": {"type": "string", "pattern": NEO4J_URI},
    "brokers": {"type": "array", "items": {"type": "string", "pattern": BROKER}},
    "topicPrefix": {"type": "string", "pattern": KAFKA_TOPIC_PREFIX, "maxLength": KAFKA_TOPIC_PREFIX_MAX},
    "duration": {"type": "string", "pattern": PROMETHEUS_DURATION},
    "labels": {
        "type": "object",
        "additionalProperties": False,
        "patternProperties": {LABEL_KEY: {"type": "string", "pattern": LABEL_VALUE}},
    },
    "labelValues": {
        "type": "object",
        "additionalProperties": {"type": "string", "pattern": LABEL_VALUE, "maxLength": 63},
    },
    "databaseName": {"type": "string", "pattern": DB_NAME, "maxLength": 63},
    "postgresUser": {"type": "string", "pattern": DB_USER, "maxLength": 63},
    "username": {"type": "string", "pattern": DB_USER, "maxLength": 128},
    "sslmode": {"type": "string", "enum": SSL_MODES},
    "redisUser": _REDIS_USER,
    "postgresDatabase": _POSTGRES_DATABASE,
    "parentRefs": {"type": "array", "items": _PARENT_REF},
    "kafkaUser": {"type": "string", "pattern": r"^[a-z][a-z0-9_-]*$", "maxLength": 128},
    "maxUnavailable": {
        "type": ["integer", "string"],
        "minimum": 0,
        "maximum": MAX_REPLICAS,
        "pattern": r"^[0-9]{1,3}%$",
    },
    "storageClass": {"type": "string", "pattern": STORAGE_CLASS},
    "storageClassOrNone": {"type": "string", "pattern": STORAGE_CLASS_OR_NONE},
    "accessModes": {
        "type": "array",
        "items": {"type": "string", "enum": ["ReadWriteOnce", "ReadOnlyMany", "ReadWriteMany", "ReadWriteOncePod"]},
        "minItems": 1,
    },
    "profiledSize": {
        "anyOf": [
            ref("storageSize"),
            obj(
                "Size per profile.",
                {"dev": ref("storageSize", "Size in dev."), "prod": ref("storageSize", "Size in prod.")},
            ),
        ]
    },
    "shmSize": {"type": "string", "pattern": MEMORY, "not": {"type": "string", "pattern": MEMORY_ZERO}},
    "redisRules": {"type": "string", "pattern": REDIS_EXTRA_RULES},
    "minioUser": {"type": "string", "pattern": r"^[A-Za-z0-9_.@-]+$", "minLength": 3, "maxLength": 128},
    "minioPolicy": {"type": "string", "pattern": r"^[A-Za-z0-9_.@-]+$", "maxLength": 128},
    "questdbUser": {"type": "string", "pattern": r"^[A-Za-z0-9_.-]+$", "maxLength": 63},
    "neo4jBytes": {"type": "string", "pattern": NEO4J_BYTES},
    "postgresParameters": _settings(
        "", f"autovacuum*, bgwriter_*, {', '.join(POSTGRES_PARAMETERS)} (any letter case)", POSTGRES_PARAMETER
    ),
    "neo4jConfig": _settings(
        "",
        "db.*, dbms.memory.*, dbms.cypher.*, dbms.transaction.* (lower case, as Neo4j spells them)",
        NEO4J_SETTING,
    ),
    "questdbConfig": _settings(
        "",
        "cairo.*, shared.worker.*, wal.*, query.*, pg.worker.*, pg.select.cache.*, pg.insert.cache.*, "
        "pg.update.cache.*, http.worker.* (any letter case), except settings naming a path (*.root, *.dir, *.path)",
        QUESTDB_SETTING,
        QUESTDB_PATH_SETTING,
    ),
}


def chart_types(chart: Chart) -> dict[str, Schema]:
    """The types whose keys are the chart's own lists: the replica tables, the topics."""
    replicas = {w: integer(f"Replicas of {w}.", 1, MAX_REPLICAS) for w in chart.workloads}
    prod_replicas = dict(replicas)
    if "controlbus" in prod_replicas:
        prod_replicas["controlbus"] = integer(
            "Redpanda brokers in prod: at least 3 (dagmanager creates data topics with replication factor 3).",
            3,
            MAX_REPLICAS,
        )
    return {
        "replicaCounts": obj("", replicas, required=chart.workloads),
        "prodReplicaCounts": obj("", prod_replicas, required=chart.workloads),
        "topics": obj(
            "",
            {name: ref("topic", f"The {name} topic.") for name in chart.topics},
            required=chart.topics,
            patternProperties={KAFKA_TOPIC: ref("topic")},
        ),
    }


# --- component sections -----------------------------------------------------------------------------------

# Workloads whose replica count a component section may override (qmtl.replicas reads `<section>.replicas`).
REPLICATED = ("gateway", "dagmanager", "worldservice", "seamless-coordinator", "controlbus")
# Workloads that may have a HorizontalPodAutoscaler: the stateless services. DAG Manager too: with its graph
# in Neo4j and its queues in Kafka its replicas share all state (QMTL has no leader election and needs none:
# every replica serves gRPC and HTTP, and the periodic queue GC of each replica is idempotent). The aggregated
# check refuses autoscaling of a service that keeps state in its pod (its local/dev modes).
AUTOSCALED = ("gateway", "dagmanager", "worldservice", "seamless-coordinator")


def switches(chart: Chart) -> dict[str, str]:
    """The switch that deploys each section's workloads (where its defaults are merged in)."""
    return {
        name: f"global.{name}.enabled" if kind == "dependency" else f"{name}.enabled"
        for name, kind in chart.subcharts.items()
        if kind != "library"
    }


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


def _placement(whose: str) -> dict[str, Schema]:
    """The placement and pod-metadata keys of a component section (qmtl.pod.placement and qmtl.pod.metadata in
    charts/qmtl-lib/templates/_placement.tpl); `global`'s are documented in values.yaml."""
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


def section_keys(chart: Chart, name: str, kind: str) -> dict[str, Schema]:
    """The keys every component section takes besides its own (which its values files document): the
    dependency switch that is not one, replicas, autoscaling, placement, and the
    copy of `global` Helm gives every subchart."""
    props: dict[str, Schema] = {}
    if kind == "dependency":
        props["enabled"] = {
            "not": {},
            "description": f"Not a switch: deploy or replace {name} with "
            f"global.{name}.enabled (every consumer reads it there).",
        }
    if name in REPLICATED:
        props["replicas"] = integer(f"Override of global.replicas.<profile>.{name}.", 1, MAX_REPLICAS)
    if name in AUTOSCALED:
        props["autoscaling"] = _autoscaling(name)
    if kind != "library":
        props.update(_placement(name))
    props["global"] = obj("Set by Helm: a copy of `global`. Do not set it here.", additional=True)
    return props


# --- rules between keys, both profiles ----------------------------------------------------------------------


def _endpoint_present(key: str) -> Schema:
    return {"type": "array", "minItems": 1} if key == "brokers" else nonempty()


def _external_complete(chart: Chart, dep: str) -> Schema:
    key, secret = chart.endpoints[dep]
    needed = [key, "existingSecret"] if secret else [key]
    then_props: dict[str, Schema] = {key: _endpoint_present(key)}
    if secret:
        then_props["existingSecret"] = nonempty()
    return {"required": needed, "properties": then_props}


def _general_rules(chart: Chart, properties: dict[str, Schema]) -> list[Schema]:
    switch = switches(chart)
    rules: list[Schema] = []
    for dep in chart.endpoints:
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
                "then": prop(f"global.{dep}.external", _external_complete(chart, dep)),
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
        deployed = present(switch[section], {"const": True})
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
    for path in image_paths({"properties": properties}, kinds=("image",)):
        if len(path) == 2 and path[0] in switch:
            rules.append({"if": present(switch[path[0]], {"const": True}), "then": prop(".".join(path), complete)})
    # Settings given per profile name the active one: a volume size per profile, Neo4j's memory.
    for profile in ("dev", "prod"):
        for dep, kind in chart.subcharts.items():
            if kind != "dependency":
                continue
            own = properties[dep]["properties"]
            active = {"allOf": [present("global.profile", {"const": profile}), present(switch[dep], {"const": True})]}
            if "accessModes" in own.get("persistence", {}).get("properties", {}):
                rules.append(
                    {
                        "if": active,
                        "then": prop(
                            f"{dep}.persistence.size", {"if": {"type": "object"}, "then": {"required": [profile]}}
                        ),
                    }
                )
            if "memory" in own:  # (its presence is the subchart's default: `helm lint` validates without it)
                rules.append(
                    {
                        "if": active,
                        "then": prop(f"{dep}.memory", {"if": {"type": "object"}, "then": {"required": [profile]}}),
                    }
                )
    return rules


# --- prod rules ---------------------------------------------------------------------------------------------

# What each enabled QMTL service needs in prod (QMTL's own start-up checks refuse to start otherwise), and
# what Seamless needs whatever runs the coordinator (QMTL's `config validate --target seamless`).
PROD_NEEDS: dict[str | None, tuple[str, ...]] = {
    None: ("redis", "questdb", "minio"),
    "gateway": ("redis", "postgres", "controlbus"),
    "dagmanager": ("neo4j", "controlbus"),
    "worldservice": ("postgres", "redis", "controlbus"),
}


def image_paths(
    schema: Schema, path: tuple[str, ...] = (), kinds: tuple[str, ...] = IMAGE_DEFS
) -> list[tuple[str, ...]]:
    """Every declared key whose value is an image (a $ref to one of `kinds`), as key paths."""
    out: list[tuple[str, ...]] = []
    for key, sub in (schema.get("properties") or {}).items():
        if not isinstance(sub, dict):
            continue
        if sub.get("$ref", "").rsplit("/", 1)[-1] in kinds:
            out.append((*path, key))
        else:
            out += image_paths(sub, (*path, key), kinds)
    return out


def _prod_rules(chart: Chart, properties: dict[str, Schema]) -> Schema:
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
                                dep: {
                                    "required": ["external"],
                                    "properties": {"external": _external_complete(chart, dep)},
                                }
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


def build(chart: Chart, properties: dict[str, Schema], required: list[str]) -> Schema:
    """The schema: the keys the values files declare (`properties`, schemas/build.py), and the rules."""
    is_prod = present("global.profile", {"const": "prod"})
    return {
        "$schema": SCHEMA_DIALECT,
        "title": "qmtl values",
        "description": "Values of the qmtl umbrella chart. GENERATED by `python -m schemas.build` from the values "
        "files' `# --` annotations and schemas/rules.py; do not edit by hand.",
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
        "allOf": [*_general_rules(chart, properties), {"if": is_prod, "then": _prod_rules(chart, properties)}],
        DEFINITIONS: dict(sorted(DEFS.items())),
    }

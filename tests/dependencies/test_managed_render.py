"""Bundled PostgreSQL, Neo4j, QuestDB and MinIO against their managed replacements, rendered.

For every shipped values set (dev, prod and each overlay): a dependency that is switched off renders
nothing of itself (no workload, Service, Secret, ConfigMap, PVC template or Job), and its consumers (the
unified QMTL config, the pods' secretKeyRefs) point at the external endpoint and the user's Secret.
Bad managed blocks are refused with a message that names the values key.
"""

from __future__ import annotations

import pytest

from tests.dependencies.common import PROD, QMTL_OFF
from tests.harness import render_chart, render_error
from tests.harness.objects import chart_values, component, dsn, layered, pod_specs, qmtl_config, secret_refs

STORES = ("postgres", "neo4j", "questdb", "minio")
# Components (app.kubernetes.io/component) each bundled store renders: its server and its provisioning Job.
COMPONENTS = {
    "postgres": {"postgres", "postgres-provision"},
    "neo4j": {"neo4j", "neo4j-schema"},
    "questdb": {"questdb"},
    "minio": {"minio", "minio-provision"},
}


def from_store(rendered, store: str) -> list[str]:
    """Every rendered object that belongs to the bundled store (by template path or component)."""
    found = []
    for item in rendered.items:
        obj = item.obj
        if f"/charts/{store}/" in item.source or component(obj) in COMPONENTS[store]:
            found.append(f"{obj.get('kind')}/{obj['metadata']['name']} ({item.source})")
    return found


def enabled(values: dict, store: str) -> bool:
    return bool(values["global"][store].get("enabled"))


# ------------------------------------------------------------------------ every shipped values set
def test_a_disabled_store_renders_nothing_and_an_enabled_one_renders_its_server(value_set) -> None:
    rendered = render_chart(values_files=value_set.files)
    values = chart_values(*value_set.files)
    for store in STORES:
        found = from_store(rendered, store)
        if enabled(values, store):
            assert rendered.find("StatefulSet", store), f"{value_set.name}: {store} is enabled but has no StatefulSet"
            assert rendered.find("Service", store), f"{value_set.name}: {store} is enabled but has no Service"
        else:
            assert not found, f"{value_set.name}: {store} is disabled but renders {found}"


def test_consumers_point_at_the_external_endpoint_of_a_managed_store(value_set) -> None:
    rendered = render_chart(values_files=value_set.files)
    values = chart_values(*value_set.files)
    config = qmtl_config(rendered)
    referenced = {ref for _, spec in pod_specs(rendered) for ref in secret_refs(spec)}
    g = values["global"]
    if not enabled(values, "questdb") and g["questdb"].get("external", {}).get("host"):
        ext = g["questdb"]["external"]
        questdb = dsn(config["seamless"]["questdb_dsn"])
        assert (questdb.host, questdb.port) == (ext["host"], ext.get("port", 8812))
        assert questdb.query == {"sslmode": ext.get("sslmode", "require")}
        assert (ext["existingSecret"], ext.get("passwordKey", "password")) in referenced
    if not enabled(values, "minio") and g["minio"].get("external", {}).get("endpoint"):
        ext = g["minio"]["external"]
        assert config["seamless"]["artifact_endpoint"] == ext["endpoint"]
        assert config["seamless"]["artifact_bucket"] == g["seamless"]["artifact_bucket"]
        # no pod of the release holds the S3 keys: the coordinator uses no S3 (README)
        assert not [ref for ref in referenced if ref[0] == ext["existingSecret"]]
    if not enabled(values, "postgres") and g["postgres"].get("external", {}).get("host"):
        assert dsn(config["gateway"]["database_dsn"]).host == g["postgres"]["external"]["host"]
    if not enabled(values, "neo4j") and g["neo4j"].get("external", {}).get("uri"):
        assert config["dagmanager"]["neo4j_dsn"] == g["neo4j"]["external"]["uri"]


# ---------------------------------------------------------------- every store managed at once (prod)
MANAGED = layered(
    PROD,
    {
        "global": {
            "postgres": {
                "enabled": False,
                "external": {
                    "host": "pg.example.internal",
                    "port": 6432,
                    "sslmode": "verify-full",
                    "existingSecret": "pg-creds",
                    "databases": {"gateway": {"database": "qmtl_gw", "username": "qmtl_gw", "passwordKey": "gw"}},
                    "cidrs": ["10.10.0.0/24"],
                },
            },
            "neo4j": {
                "enabled": False,
                "external": {
                    "uri": "neo4j+s://graph.example.internal:7687",
                    "username": "dagmanager",
                    "existingSecret": "neo4j-creds",
                    "passwordKey": "pw",
                    "cidrs": ["10.11.0.0/24"],
                },
            },
            "questdb": {
                "enabled": False,
                "external": {
                    "host": "qdb.example.internal",
                    "port": 8812,
                    "database": "qmtl",
                    "sslmode": "require",
                    "existingSecret": "qdb-creds",
                    "usernameKey": "user",
                    "passwordKey": "pass",
                    "cidrs": ["10.12.0.0/24"],
                },
            },
            "minio": {
                "enabled": False,
                "external": {
                    "endpoint": "https://s3.example.internal",
                    "region": "eu-west-1",
                    "existingSecret": "s3-creds",
                    "accessKeyKey": "id",
                    "secretKeyKey": "secret",
                    "cidrs": ["10.13.0.0/24"],
                },
            },
        }
    },
)


@pytest.fixture(scope="module")
def managed():
    return render_chart(MANAGED)


def test_all_four_managed_render_none_of_the_bundled_stores(managed) -> None:
    for store in STORES:
        assert not from_store(managed, store), f"{store}: {from_store(managed, store)}"
    names = {o["metadata"]["name"] for o in managed.objects}
    for secret in (
        "qmtl-postgres",
        "qmtl-postgres-superuser",
        "qmtl-neo4j",
        "qmtl-questdb",
        "qmtl-minio-root",
        "qmtl-minio-coordinator",
    ):
        assert secret not in names, f"bundled Secret {secret} rendered for a managed store"
    assert not [o for o in managed.by_kind("PersistentVolumeClaim")]


def test_the_qmtl_config_points_at_every_managed_endpoint(managed) -> None:
    config = qmtl_config(managed)
    gw = dsn(config["gateway"]["database_dsn"])
    assert (gw.scheme, gw.username, gw.host, gw.port, gw.path) == (
        "postgresql",
        "qmtl_gw",
        "pg.example.internal",
        6432,
        "qmtl_gw",
    )
    assert gw.query == {"sslmode": "verify-full"}
    ws = dsn(config["worldservice"]["server"]["dsn"])  # no override: the service's own name
    assert (ws.username, ws.host, ws.port, ws.path) == ("worldservice", "pg.example.internal", 6432, "worldservice")
    assert config["dagmanager"]["neo4j_dsn"] == "neo4j+s://graph.example.internal:7687"
    assert config["dagmanager"]["neo4j_user"] == "dagmanager"
    questdb = dsn(config["seamless"]["questdb_dsn"])
    assert (questdb.host, questdb.port, questdb.path) == ("qdb.example.internal", 8812, "qmtl")
    assert config["seamless"]["artifact_endpoint"] == "https://s3.example.internal"


def test_each_service_pod_reads_only_its_own_key_of_the_users_secrets(managed) -> None:
    wanted = {
        "gateway": {("pg-creds", "gw")},
        "worldservice": {("pg-creds", "worldservice-password")},
        "dagmanager": {("neo4j-creds", "pw")},
        "seamless-coordinator": {("qdb-creds", "user"), ("qdb-creds", "pass")},  # no S3: it uses none
    }
    user_secrets = {"pg-creds", "neo4j-creds", "qdb-creds", "s3-creds"}
    seen = {}
    for obj, spec in pod_specs(managed):
        refs = {r for r in secret_refs(spec) if r[0] in user_secrets}
        seen.setdefault(component(obj), set()).update(refs)
    for who, refs in wanted.items():
        if who in seen:
            assert refs <= seen[who], f"{who} lacks {refs - seen[who]}"
    for who, refs in seen.items():
        extra = refs - wanted.get(who, set())
        assert not extra or who.startswith("helm-test-"), f"{who} reads credentials that are not its own: {extra}"


# Rules whose one layer is the schema: the libpq sslmode enum (SSL_MODES in schemas/rules.py); the
# templates only pass the value on, encoded.
SCHEMA_ONLY = {"global.postgres.external.sslmode", "global.questdb.external.sslmode"}


@pytest.mark.parametrize(
    ("override", "key"),
    [
        (
            {"postgres": {"enabled": False, "external": {"host": "pg.example"}}},
            "global.postgres.external.existingSecret",
        ),
        ({"postgres": {"enabled": False, "external": {"existingSecret": "s"}}}, "global.postgres.external.host"),
        (
            {"postgres": {"enabled": False, "external": {"host": "pg", "existingSecret": "s", "sslmode": "on"}}},
            "global.postgres.external.sslmode",
        ),
        (
            {"neo4j": {"enabled": False, "external": {"uri": "http://graph:7474", "existingSecret": "s"}}},
            "global.neo4j.external.uri",
        ),
        (
            {"neo4j": {"enabled": False, "external": {"uri": "bolt://graph:7687"}}},
            "global.neo4j.external.existingSecret",
        ),
        ({"questdb": {"enabled": False, "external": {"host": "qdb"}}}, "global.questdb.external.existingSecret"),
        (
            {"questdb": {"enabled": False, "external": {"host": "qdb", "existingSecret": "s", "sslmode": "tls"}}},
            "global.questdb.external.sslmode",
        ),
        (
            {"minio": {"enabled": False, "external": {"endpoint": "s3.example.com", "existingSecret": "s"}}},
            "global.minio.external.endpoint",
        ),
        (
            {"minio": {"enabled": False, "external": {"endpoint": "https://s3.example.com/b", "existingSecret": "s"}}},
            "global.minio.external.endpoint",
        ),
        (
            {"minio": {"enabled": False, "external": {"endpoint": "https://s3.example.com"}}},
            "global.minio.external.existingSecret",
        ),
        ({"seamless": {"artifact_prefix": ""}}, "global.seamless.artifact_prefix"),
        ({"seamless": {"artifact_prefix": "/artifacts/"}}, "global.seamless.artifact_prefix"),
        ({"seamless": {"artifact_prefix": "artifacts"}}, "global.seamless.artifact_prefix"),
        ({"seamless": {"artifact_bucket": "QMTL_Seamless"}}, "global.seamless.artifact_bucket"),
    ],
)
def test_a_bad_managed_block_is_refused_naming_the_key(override: dict, key: str) -> None:
    values = [QMTL_OFF, {"global": {"networkPolicy": {"enabled": False}, **override}}]
    # values.schema.json refuses it first (its wording is the schema library's) ...
    refused = str(render_error(values))
    if key in SCHEMA_ONLY:
        assert key in refused or "/" + key.replace(".", "/") in refused, refused
        return
    # ... and the templates refuse it on their own, naming the key (helm --skip-schema-validation, or a
    # schema that lags behind), so no half-configured managed store renders.
    error = render_error(values, extra_args=("--skip-schema-validation",))
    assert key in str(error), str(error)


# ------------------------------------------------------------------ DSNs are assembled from encoded parts
def _managed_names(database: str, username: str, redis_user: str, *extra_args: str):
    values = {
        "global": {
            "postgres": {
                "enabled": False,
                "external": {
                    "host": "pg.example.internal",
                    "sslmode": "require",
                    "existingSecret": "pg-creds",
                    "cidrs": ["10.20.0.0/24"],
                    "databases": {"gateway": {"database": database, "username": username}},
                },
            },
            "redis": {
                "enabled": False,
                "external": {
                    "host": "redis.example.internal",
                    "existingSecret": "redis-creds",
                    "cidrs": ["10.20.1.0/24"],
                    "users": {"gateway": {"username": redis_user}},
                },
            },
        }
    }
    return qmtl_config(render_chart([PROD, values], extra_args=extra_args))


def test_user_and_database_names_reach_the_dsn_as_themselves() -> None:
    """Names the schema allows with characters a URL gives meaning to ('@', '.')."""
    config = _managed_names("qmtl.gw", "svc@tenant", "gw@tenant")
    gw = dsn(config["gateway"]["database_dsn"])
    assert (gw.username, gw.host, gw.path, gw.query) == (
        "svc@tenant",
        "pg.example.internal",
        "qmtl.gw",
        {"sslmode": "require"},
    )
    redis = dsn(config["gateway"]["redis_dsn"])
    assert (redis.username, redis.host) == ("gw@tenant", "redis.example.internal")


def test_a_name_cannot_change_the_dsns_host_or_parameters_even_without_the_schema() -> None:
    config = _managed_names(
        "gw?sslmode=disable&x=", "u:p@evil.example/", "x@evil.example:6379/0#", "--skip-schema-validation"
    )
    gw = dsn(config["gateway"]["database_dsn"])
    assert gw.host == "pg.example.internal"
    assert gw.query == {"sslmode": "require"}
    assert (gw.username, gw.path) == ("u:p@evil.example/", "gw?sslmode=disable&x=")
    redis = dsn(config["gateway"]["redis_dsn"])
    assert (redis.host, redis.port, redis.username) == ("redis.example.internal", 6379, "x@evil.example:6379/0#")

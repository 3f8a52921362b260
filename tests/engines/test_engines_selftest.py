"""The engine fixtures are real servers, and the security features the chart relies on really bite.

Each test provisions a little by hand (the shapes the chart renders: ACL users with key patterns, roles with
passwords, SCRAM users and topic ACLs, a prefix-scoped bucket policy, PG-wire credentials) and checks both
sides: allowed where granted, refused elsewhere.
"""

from __future__ import annotations

import io
import json

import pytest

from tests.engines import fixtures, pins, servers

pytestmark = pytest.mark.engines


# ============================================================================================== Redis
ACL = """\
user default off
user seamless-coordinator on >coord-pw ~seamless:* resetchannels -@all +@read +@write +@connection -keys
user gateway on >gateway-pw ~strategy:* ~dag_hash:* resetchannels -@all +@read +@write +@connection -keys
"""


def test_redis_acl_user_is_confined_to_its_key_patterns(redis_server, tmp_path):
    acl_file = tmp_path / "users.acl"
    acl_file.write_text(ACL)
    server = redis_server(acl_file)
    import redis

    coord = server.client("seamless-coordinator", "coord-pw", db=3)
    assert coord.set("seamless:node-1", "x") is True
    assert coord.get("seamless:node-1") == "x"
    with pytest.raises(redis.exceptions.NoPermissionError, match="no permissions to access one of the keys"):
        coord.set("strategy:abc", "x")
    with pytest.raises(redis.exceptions.NoPermissionError):
        coord.get("dag_hash:abc")
    with pytest.raises(redis.exceptions.NoPermissionError, match="has no permissions to run the 'keys'"):
        coord.keys("*")

    gateway = server.client("gateway", "gateway-pw")
    assert gateway.set("strategy:abc", "y") is True
    with pytest.raises(redis.exceptions.NoPermissionError):
        gateway.get("seamless:node-1")


def test_redis_default_user_off_and_wrong_password_refused(redis_server):
    server = redis_server(acl_text=ACL)
    import redis

    with pytest.raises(redis.exceptions.AuthenticationError):
        server.client().ping()  # `default` is off: no anonymous access
    with pytest.raises(redis.exceptions.AuthenticationError):
        server.client("seamless-coordinator", "wrong").ping()
    assert server.client("seamless-coordinator", "coord-pw").ping() is True


def test_redis_refuses_to_start_on_a_broken_acl_file(redis_server):
    with pytest.raises(servers.EngineStartError, match="ACL"):
        redis_server(acl_text="user broken on >pw ~x:* +@no-such-category\n")


def test_redis_admin_user_sits_beside_the_given_acl(redis_server):
    server = redis_server(acl_text=ACL, admin=True)
    users = server.admin().acl_users()
    assert {"default", "seamless-coordinator", "gateway", server.admin_username} == set(users)


# ============================================================================================== PostgreSQL
def test_postgres_password_auth_rejects_a_wrong_password(postgres_server, engine_name):
    import psycopg

    role = engine_name("svc").replace("-", "_")
    # Its own database: other tests sharing this server may revoke CONNECT on `postgres` from PUBLIC
    # (the chart's provisioning does), which must not turn this into a permission test.
    postgres_server.run_sql(f"CREATE ROLE {role} LOGIN PASSWORD 'right-pw'")
    postgres_server.run_sql(f"CREATE DATABASE {role} OWNER {role}")
    with postgres_server.connect(role, "right-pw", role) as conn:
        assert conn.execute("SELECT current_user").fetchone() == (role,)
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        postgres_server.connect(role, "wrong-pw", role)
    with pytest.raises(psycopg.OperationalError, match="no password supplied"):
        postgres_server.connect(role, None, role)  # no trust/peer fallback: a password is required
    res = postgres_server.psql("-c", "SELECT 1", user=role, password="wrong-pw", dbname=role, check=False)
    assert res.returncode != 0
    assert "password authentication failed" in res.stderr


def test_postgres_sql_file_with_psql_metacommands_is_idempotent(postgres_server, engine_name, tmp_path):
    import psycopg

    svc, other = engine_name("gw").replace("-", "_"), engine_name("ws").replace("-", "_")
    sql = tmp_path / "provision.sql"
    sql.write_text(
        f"""
SELECT format('CREATE ROLE %I LOGIN PASSWORD %L', :'svc', :'pw')
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'svc')\\gexec
SELECT format('CREATE DATABASE %I OWNER %I', :'svc', :'svc')
 WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'svc')\\gexec
REVOKE ALL ON DATABASE :"svc" FROM PUBLIC;
SELECT format('CREATE DATABASE %I', '{other}')
 WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = '{other}')\\gexec
REVOKE ALL ON DATABASE "{other}" FROM PUBLIC;
"""
    )
    for _ in range(2):  # idempotent
        postgres_server.run_sql_file(sql, variables={"svc": svc, "pw": "svc-pw"})
    with postgres_server.connect(svc, "svc-pw", dbname=svc) as conn:
        conn.execute("CREATE TABLE t (x int)")
    with pytest.raises(psycopg.OperationalError, match="permission denied for database"):
        postgres_server.connect(svc, "svc-pw", dbname=other)
    with pytest.raises(servers.PsqlError, match="syntax error"):
        postgres_server.run_sql("SELEC 1")


# ============================================================================================== Kafka
def test_kafka_sasl_user_without_acl_is_denied(kafka_broker, engine_name):
    topic, user = engine_name("qmtl.policy"), engine_name("outsider")
    kafka_broker.create_topics([topic])
    kafka_broker.create_scram_user(user, "outsider-pw")
    outsider = kafka_broker.as_user(user, "outsider-pw")
    assert outsider.authenticates()
    assert outsider.topic_error(topic) == "TOPIC_AUTHORIZATION_FAILED"
    assert outsider.produce(topic) == "TOPIC_AUTHORIZATION_FAILED"
    assert outsider.create_topic(engine_name("mine")) == "TOPIC_AUTHORIZATION_FAILED"
    # the super user is what provisions
    assert kafka_broker.as_admin().produce(topic) is None


def test_kafka_wrong_password_fails_authentication(kafka_broker, engine_name):
    user = engine_name("someone")
    kafka_broker.create_scram_user(user, "right-pw")
    assert not kafka_broker.as_user(user, "wrong-pw", timeout=5).authenticates()
    assert kafka_broker.as_user(user, "wrong-pw", timeout=5).topic_error("anything") == "AUTHENTICATION"


def test_kafka_anonymous_internal_client_allowed_only_by_an_acl(kafka_broker, engine_name):
    topic, group = engine_name("policy"), engine_name("gateway")
    kafka_broker.create_topics([topic])
    anon = kafka_broker.as_anonymous()
    assert anon.topic_error(topic) == "TOPIC_AUTHORIZATION_FAILED"
    assert anon.produce(topic) == "TOPIC_AUTHORIZATION_FAILED"

    kafka_broker.create_acls(
        [
            {
                "principal": "User:ANONYMOUS",
                "resource_type": "topic",
                "name": topic,
                "operations": ["describe", "read", "write"],
            },
            {"principal": "User:ANONYMOUS", "resource_type": "group", "name": group, "operations": ["read"]},
        ]
    )
    assert anon.topic_error(topic) is None
    assert anon.produce(topic, b"activation") is None
    values, error = anon.consume(topic, group)
    assert error is None
    assert b"activation" in values
    # the grant is for ANONYMOUS only: an authenticated principal is still kept off
    other = engine_name("other")
    kafka_broker.create_scram_user(other, "other-pw")
    assert kafka_broker.as_user(other, "other-pw").topic_error(topic) == "TOPIC_AUTHORIZATION_FAILED"


def test_kafka_prefixed_acl_covers_only_its_prefix(kafka_broker, engine_name):
    prefix = engine_name("qmtl.controlbus") + "."
    inside, outside = prefix + "policy", engine_name("policy")
    kafka_broker.apply_plan(
        {
            "topics": [inside, {"name": outside, "partitions": 2, "config": {"retention.ms": "3600000"}}],
            "acls": [
                {
                    "principal": "User:ANONYMOUS",
                    "resource_type": "topic",
                    "name": prefix,
                    "pattern": "prefixed",
                    "operations": ["describe", "write"],
                }
            ],
        }
    )
    anon = kafka_broker.as_anonymous()
    assert anon.produce(inside) is None
    assert anon.produce(outside) == "TOPIC_AUTHORIZATION_FAILED"
    assert kafka_broker.topic_config(outside)["retention.ms"] == "3600000"


def test_kafka_cluster_create_and_topic_delete_rights(kafka_broker, engine_name):
    """dagmanager's shape: it creates and deletes its own data topics."""
    user, prefix = engine_name("dagmanager"), engine_name("data") + "."
    kafka_broker.create_scram_user(user, "dm-pw")
    dm = kafka_broker.as_user(user, "dm-pw")
    assert dm.create_topic(prefix + "raw") == "TOPIC_AUTHORIZATION_FAILED"
    kafka_broker.create_acls(
        [
            {"principal": f"User:{user}", "resource_type": "cluster", "operations": ["create"]},
            {
                "principal": f"User:{user}",
                "resource_type": "topic",
                "name": prefix,
                "pattern": "prefixed",
                "operations": ["describe", "delete"],
            },
        ]
    )
    assert dm.create_topic(prefix + "raw") is None
    assert dm.topic_error(prefix + "raw") is None
    assert dm.delete_topic(prefix + "raw") is None


def test_kafka_cli_tools_run_against_the_broker(kafka_broker, engine_name):
    topic = engine_name("cli")
    kafka_broker.create_topics([topic])
    res = kafka_broker.run_tool(
        "org.apache.kafka.tools.AclCommand",
        "--add",
        "--allow-principal",
        "User:ANONYMOUS",
        "--operation",
        "Describe",
        "--topic",
        topic,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    assert kafka_broker.as_anonymous().topic_error(topic) is None


# ============================================================================================== MinIO
def test_minio_prefix_policy_allows_only_artifacts(minio_server, engine_name):
    from minio.error import S3Error

    bucket, user = engine_name("qmtl-seamless"), engine_name("coordinator")
    minio_server.make_bucket(bucket)
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
                "Resource": [f"arn:aws:s3:::{bucket}/artifacts/*"],
            },
            {
                "Effect": "Allow",
                "Action": ["s3:ListBucket"],
                "Resource": [f"arn:aws:s3:::{bucket}"],
                "Condition": {"StringLike": {"s3:prefix": ["artifacts/", "artifacts/*"]}},
            },
        ],
    }
    minio_server.add_policy(f"{user}-policy", json.dumps(policy))
    minio_server.add_user(user, "coordinator-secret", [f"{user}-policy"])
    s3 = minio_server.client(user, "coordinator-secret")

    s3.put_object(bucket, "artifacts/run-1/part-0.parquet", io.BytesIO(b"data"), 4)
    assert s3.get_object(bucket, "artifacts/run-1/part-0.parquet").read() == b"data"
    assert [o.object_name for o in s3.list_objects(bucket, prefix="artifacts/", recursive=True)] == [
        "artifacts/run-1/part-0.parquet"
    ]
    for denied in (
        lambda: s3.put_object(bucket, "elsewhere/x", io.BytesIO(b"x"), 1),
        lambda: s3.put_object(bucket, "artifactsX/x", io.BytesIO(b"x"), 1),
        lambda: list(s3.list_objects(bucket)),
        lambda: s3.make_bucket(engine_name("another")),
    ):
        with pytest.raises(S3Error) as err:
            denied()
        assert err.value.code == "AccessDenied"
    with pytest.raises(S3Error):
        minio_server.client(user, "wrong-secret").get_object(bucket, "artifacts/run-1/part-0.parquet")


def test_minio_mc_provisions_bucket_user_and_policy(minio_server, engine_name, tmp_path):
    """The way a provisioning Job does it: mc mb / admin policy create / admin user add / policy attach."""
    from minio.error import S3Error

    def mc_built() -> None:
        if not minio_server.mc_path:
            raise pins.EngineUnavailable(f"mc was not built: {pins.INSTALL} mc")

    fixtures.local_engine(mc_built)  # skip, or fail under QMTL_REQUIRE_ENGINES=1
    bucket, user = engine_name("mc-bucket"), engine_name("mc-user")
    policy = tmp_path / "policy.json"
    policy.write_text(
        json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Action": ["s3:PutObject"], "Resource": [f"arn:aws:s3:::{bucket}/artifacts/*"]}
                ],
            }
        )
    )
    minio_server.mc("mb", "--ignore-existing", f"local/{bucket}")
    minio_server.mc("admin", "policy", "create", "local", f"{user}-p", str(policy))
    minio_server.mc("admin", "user", "add", "local", user, "mc-user-secret")
    minio_server.mc("admin", "policy", "attach", "local", f"{user}-p", "--user", user)
    assert bucket in minio_server.mc("ls", "local").stdout
    s3 = minio_server.client(user, "mc-user-secret")
    s3.put_object(bucket, "artifacts/a", io.BytesIO(b"a"), 1)
    with pytest.raises(S3Error, match="Access Denied"):
        s3.put_object(bucket, "b", io.BytesIO(b"b"), 1)


# ============================================================================================== QuestDB
def test_questdb_pg_wire_takes_only_the_configured_credentials(questdb_server, engine_name):
    import psycopg

    server = questdb_server("seamless-coordinator", "coordinator-pg-pw")
    table = engine_name("seamless_bars").replace("-", "_")
    with server.connect() as conn:
        conn.execute(f"CREATE TABLE {table} (ts TIMESTAMP, v DOUBLE) TIMESTAMP(ts) PARTITION BY DAY")
        assert conn.execute("SELECT 1").fetchone() == (1,)
    with pytest.raises(psycopg.OperationalError, match="invalid username/password"):
        server.connect(password="wrong")
    with pytest.raises(psycopg.OperationalError, match="invalid username/password"):
        server.connect("admin", "quest")  # QuestDB's stock credentials are gone
    assert server.healthy()


# ============================================================================================== Neo4j
@pytest.mark.slow
def test_neo4j_bolt_requires_the_password(neo4j_server):
    from neo4j.exceptions import AuthError

    server = neo4j_server("dagmanager-neo4j-pw")
    with server.driver() as driver:
        driver.execute_query(
            "CREATE CONSTRAINT compute_node_id IF NOT EXISTS FOR (n:ComputeNode) REQUIRE n.node_id IS UNIQUE"
        )
        assert driver.execute_query("RETURN 1 AS one").records[0]["one"] == 1
    with pytest.raises(AuthError), server.driver(password="wrong-password") as driver:
        driver.verify_connectivity()


# ============================================================================================== skip / fail
def test_missing_engine_skips_with_install_hint_or_fails_when_required(monkeypatch, tmp_path):
    monkeypatch.setenv("QMTL_ENGINES_DIR", str(tmp_path))
    with pytest.raises(pins.EngineUnavailable, match=r"scripts/engines/install.sh kafka") as exc:
        pins.kafka_classpath()
    (tmp_path / "failed").mkdir()
    (tmp_path / "failed" / "minio").write_text("go 1.19 is older than 1.24")
    with pytest.raises(pins.EngineUnavailable, match=r"last install failed: go 1\.19"):
        pins.go_binary("minio")

    monkeypatch.delenv("QMTL_REQUIRE_ENGINES", raising=False)
    with pytest.raises(pytest.skip.Exception):
        fixtures._unavailable(str(exc.value), fixtures._required())
    monkeypatch.setenv("QMTL_REQUIRE_ENGINES", "1")
    with pytest.raises(pytest.fail.Exception, match="QMTL_REQUIRE_ENGINES=1"):
        fixtures._unavailable(str(exc.value), fixtures._required())

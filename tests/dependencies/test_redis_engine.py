"""The RENDERED Redis ACL file loaded into a real redis-server (tests/engines): each service's user
succeeds on its own keys and DB and is refused (NOPERM) on every other service's keys, on another DB,
on key listing and on pub/sub; the default user is off; the rendered probe command really answers."""

from __future__ import annotations

import base64
import io
import os
import re
import subprocess

import pytest
import redis.exceptions as redis_exceptions
import yaml

from tests.dependencies.common import PROD_EXTERNAL_COORDINATOR, QMTL_OFF
from tests.engines import fixtures, servers
from tests.harness import helm_binary, render_chart
from tests.harness.objects import pod_template, redis_acl
from tests.harness.paths import VALUES_DIR

pytestmark = pytest.mark.engines

VALUES = [QMTL_OFF, PROD_EXTERNAL_COORDINATOR]

# One key per service from the key families QMTL really writes (QMTL_RUNTIME_FACTS.md), and its DB.
OWN = {
    "gateway": (0, ["strategy:s1", "dag_hash:abc", "strategy_queue", "lock:s1", "seamless:node1"]),
    "worldservice": (4, ["world:w1", "risk-blobs:snap1"]),
    "seamless-coordinator": (3, ["seamless:job1"]),
    "ratelimiter": (2, ["rl:binance"]),
}


@pytest.fixture(scope="module")
def rendered_secret() -> dict[str, str]:
    return render_chart(VALUES).get("Secret", "qmtl-redis-users")["stringData"]


@pytest.fixture(scope="module")
def redis_server(rendered_secret):
    acl = redis_acl(render_chart(VALUES))
    server = fixtures.local_engine(lambda: servers.start_redis(acl_text=acl))
    yield server
    server.stop()


def client(server, secret, user, db):
    return server.client(user, secret[user], db=db)


@pytest.mark.parametrize("user", sorted(OWN))
def test_each_user_works_on_its_own_keys_in_its_own_db(redis_server, rendered_secret, user) -> None:
    db, keys = OWN[user]
    c = client(redis_server, rendered_secret, user, db)
    for key in keys:
        assert c.set(key, "v") is True
        assert c.get(key) == "v"
        assert c.expire(key, 60) is True
        assert c.delete(key) == 1
    # redis-py pipelines are MULTI/EXEC transactions (the rate limiter uses one).
    pipe = c.pipeline()
    pipe.set(keys[0], "1").get(keys[0])
    assert pipe.execute() == [True, "1"]


@pytest.mark.parametrize("user", sorted(OWN))
def test_each_user_is_refused_the_other_services_keys(redis_server, rendered_secret, user) -> None:
    db, own = OWN[user]
    c = client(redis_server, rendered_secret, user, db)
    for _other, (_, keys) in OWN.items():
        for key in keys:
            if key in own or any(re.fullmatch(p.replace("*", ".*"), key) for p in _patterns(own)):
                continue
            with pytest.raises(redis_exceptions.NoPermissionError):
                c.get(key)
            with pytest.raises(redis_exceptions.NoPermissionError):
                c.set(key, "intruder")


def _patterns(own_keys):
    return {k.split(":")[0] + ":*" if ":" in k else k for k in own_keys}


@pytest.mark.parametrize("user", sorted(OWN))
def test_each_user_is_refused_other_databases_listing_and_pubsub(redis_server, rendered_secret, user) -> None:
    db, keys = OWN[user]
    c = client(redis_server, rendered_secret, user, db)
    for other_db in {0, 2, 3, 4} - {db}:
        with pytest.raises(redis_exceptions.NoPermissionError):
            c.execute_command("SELECT", other_db)
        with pytest.raises(redis_exceptions.NoPermissionError):
            c.move(keys[0], other_db)
    assert c.execute_command("SELECT", db) in (True, "OK", b"OK")
    for command in (
        ("KEYS", "*"),
        ("SCAN", 0),
        ("RANDOMKEY",),
        ("FLUSHDB",),
        ("CONFIG", "GET", "*"),
        ("PUBLISH", "qmtl", "x"),
        ("SUBSCRIBE", "qmtl"),
        ("EVAL", "return 1", 0),
    ):
        with pytest.raises(redis_exceptions.NoPermissionError):
            c.execute_command(*command)


def test_default_user_is_off(redis_server) -> None:
    anonymous = redis_server.client()
    with pytest.raises(redis_exceptions.AuthenticationError):
        anonymous.ping()
    with pytest.raises(redis_exceptions.AuthenticationError):
        redis_server.client("default", "").ping()


def test_wrong_password_is_refused(redis_server) -> None:
    with pytest.raises(redis_exceptions.AuthenticationError):
        redis_server.client("gateway", "not-the-password").ping()


def test_healthcheck_user_can_only_ping(redis_server, rendered_secret) -> None:
    c = client(redis_server, rendered_secret, "healthcheck", 0)
    assert c.ping() is True
    with pytest.raises(redis_exceptions.NoPermissionError):
        c.get("strategy:s1")


def test_rendered_readiness_probe_answers_against_the_real_server(redis_server, rendered_secret) -> None:
    sts = render_chart(VALUES).get("StatefulSet", "redis")
    (container,) = sts["spec"]["template"]["spec"]["containers"]
    command = container["readinessProbe"]["exec"]["command"]
    assert command[:2] == ["sh", "-c"]
    # Same command, pointed at the test server's port (the pod's own port is global.ports.redis).
    script = command[2].replace(f"-p {container['ports'][0]['containerPort']}", f"-p {redis_server.port}")
    env = {"PATH": os.environ["PATH"], "REDISCLI_AUTH": rendered_secret["healthcheck"]}
    assert subprocess.run(["sh", "-c", script], env=env, timeout=30).returncode == 0
    env["REDISCLI_AUTH"] = "wrong"
    assert subprocess.run(["sh", "-c", script], env=env, timeout=30, capture_output=True).returncode != 0


def test_gitops_credentials_from_scripts_credentials_log_in_to_the_rendered_acl() -> None:
    """global.credentials.generate: false + scripts/credentials: the init container's command completes the
    password-less ACL file with the passwords of the Secret the script created, and every service's user logs
    in with the password its pods would get from that Secret."""
    from qmtl_validate import credentials

    out, err = io.StringIO(), io.StringIO()
    argv = ["-f", str(VALUES_DIR / "prod.yaml"), "--namespace", "qmtl", "--helm", str(helm_binary().path)]
    assert credentials.run(argv, out=out, err=err) == 0, err.getvalue()
    created = {}
    for doc in yaml.safe_load_all(out.getvalue()):
        if doc:
            data = {k: base64.b64decode(v).decode() for k, v in (doc.get("data") or {}).items()}
            created[doc["metadata"]["name"]] = {**data, **(doc.get("stringData") or {})}
    rendered = render_chart([{"global": {"credentials": {"generate": False}}}], values_files=[VALUES_DIR / "prod.yaml"])
    spec = pod_template(rendered.get("StatefulSet", "redis"))["spec"]
    (init,) = spec["initContainers"]
    passwords = {}
    for entry in init["env"]:
        ref = entry["valueFrom"]["secretKeyRef"]
        passwords[entry["name"]] = created[ref["name"]][ref["key"]]
    server = fixtures.local_engine(lambda: servers.start_redis(acl_text=redis_acl(rendered, passwords=passwords)))
    try:
        users = created["qmtl-redis-users"]
        for user, (db, keys) in OWN.items():
            c = server.client(user, users[user], db=db)
            assert c.set(keys[0], "v") is True
            with pytest.raises(redis_exceptions.AuthenticationError):
                server.client(user, users[user] + "x", db=db).ping()
    finally:
        server.stop()

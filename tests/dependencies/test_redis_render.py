"""Redis subchart, rendered: the ACL file (users, key patterns, DB fences, no nopass, default off), the
Secret it shares its passwords with, the StatefulSet, the dedicated coordinator instance and the
managed-Redis override. Expected values are written here from QMTL_RUNTIME_FACTS.md, not read back
from the chart."""

from __future__ import annotations

import hashlib
import re

import pytest

from tests.dependencies.common import DEV, PROD_REMOTE_COORDINATOR, QMTL_OFF
from tests.harness import render_chart, render_error
from tests.harness.objects import env, qmtl_config, quantity

DEDICATED = {"global": {"redis": {"dedicatedCoordinator": True}}}

# QMTL_RUNTIME_FACTS.md "Redis keys actually written" and QMTL's prod sample DB indices.
EXPECTED = {
    "gateway": {"keys": {"strategy:*", "dag_hash:*", "strategy_queue", "lock:*", "seamless:*"}, "db": 0},
    "worldservice": {"keys": {"world:*", "risk-blobs:*"}, "db": 4},
    "seamless-coordinator": {"keys": {"seamless:*"}, "db": 3},
    "ratelimiter": {"keys": {"rl:*"}, "db": 2},
}
PROFILES = {"dev": [QMTL_OFF, DEV], "prod": [QMTL_OFF, PROD_REMOTE_COORDINATOR]}


def acl_lines(text: str) -> dict[str, list[str]]:
    users = {}
    for line in text.strip().splitlines():
        words = line.split()
        assert words[0] == "user", line
        users[words[1]] = words[2:]
    return users


def secret(rendered) -> dict[str, str]:
    return rendered.get("Secret", "qmtl-redis-users")["stringData"]


@pytest.fixture(params=sorted(PROFILES), scope="module")
def rendered(request):
    return render_chart(PROFILES[request.param])


def test_acl_file_has_one_user_per_service_plus_probe_and_default_off(rendered) -> None:
    users = acl_lines(secret(rendered)["acl-redis"])
    assert set(users) == {"default", "healthcheck", *EXPECTED}
    assert "off" in users["default"]
    assert "on" not in users["default"]
    assert "-@all" in users["default"]


def test_no_user_has_nopass_plaintext_or_wildcards(rendered) -> None:
    for name, rules in acl_lines(secret(rendered)["acl-redis"]).items():
        assert "nopass" not in rules, name
        assert not [r for r in rules if r.startswith(">")], f"{name}: plaintext password in the ACL file"
        for forbidden in ("~*", "allkeys", "allchannels", "&*", "+@all", "allcommands"):
            assert forbidden not in rules, f"{name} has {forbidden}"
        assert not [r for r in rules if r.startswith("&")], f"{name} may use pub/sub channels"


def test_each_service_user_has_exactly_its_key_patterns_and_db(rendered) -> None:
    users = acl_lines(secret(rendered)["acl-redis"])
    for name, want in EXPECTED.items():
        rules = users[name]
        assert {r[1:] for r in rules if r.startswith("~")} == want["keys"], name
        assert [r for r in rules if r.startswith("+select|")] == [f"+select|{want['db']}"], name
        assert rules.index("-select") < rules.index(f"+select|{want['db']}"), name
        for listing in ("-keys", "-scan", "-randomkey", "-@dangerous", "-move", "-copy"):
            assert listing in rules, f"{name} lacks {listing}"
    assert acl_lines(secret(rendered)["acl-redis"])["healthcheck"][-2:] == ["-@all", "+ping"]


def test_passwords_are_computed_once_the_acl_hashes_are_the_secret_values(rendered) -> None:
    data = secret(rendered)
    users = acl_lines(data["acl-redis"])
    for name in [*EXPECTED, "healthcheck"]:
        password = data[name]
        assert len(password) >= 32
        assert re.fullmatch(r"[A-Za-z0-9]+", password)
        hashes = [r[1:] for r in users[name] if r.startswith("#")]
        assert hashes == [hashlib.sha256(password.encode()).hexdigest()], name


def test_qmtl_config_uses_the_same_users_and_databases(rendered) -> None:
    conf = qmtl_config(rendered)
    assert re.fullmatch(
        r"redis://gateway:\$\{QMTL_SECRET_REDIS_GATEWAY\|url\}@redis:6379/0", conf["gateway"]["redis_dsn"]
    )
    assert conf["worldservice"]["server"]["redis"].startswith("redis://worldservice:")
    assert conf["worldservice"]["server"]["redis"].endswith("@redis:6379/4")


def test_statefulset_persistence_probes_and_restricted_context(rendered) -> None:
    sts = rendered.get("StatefulSet", "redis")
    spec = sts["spec"]
    assert spec["persistentVolumeClaimRetentionPolicy"] == {"whenDeleted": "Retain", "whenScaled": "Retain"}
    assert spec["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"] == "8Gi"
    pod = spec["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    (c,) = pod["containers"]
    assert c["securityContext"]["readOnlyRootFilesystem"] is True
    assert c["securityContext"]["capabilities"]["drop"] == ["ALL"]
    assert c["resources"]["limits"]
    assert c["resources"]["requests"]
    probe = " ".join(c["readinessProbe"]["exec"]["command"])
    assert "redis-cli" in probe
    assert "--user healthcheck" in probe
    assert "PONG" in probe
    assert "curl" not in probe
    assert env(c)["REDISCLI_AUTH"]["valueFrom"]["secretKeyRef"] == {"name": "qmtl-redis-users", "key": "healthcheck"}
    acl_volume = next(v for v in pod["volumes"] if v["name"] == "acl")
    assert acl_volume["secret"]["items"] == [{"key": "acl-redis", "path": "users.acl"}]
    conf = rendered.get("ConfigMap", "redis-config")["data"]["redis.conf"]
    assert "aclfile /etc/redis/acl/users.acl" in conf
    assert "maxmemory-policy noeviction" in conf
    limit_bytes = quantity(c["resources"]["limits"]["memory"])
    maxmemory = int(re.search(r"^maxmemory (\d+)$", conf, re.M).group(1))
    assert 0 < maxmemory < limit_bytes


def test_dedicated_coordinator_redis_holds_only_the_coordinator() -> None:
    rendered = render_chart([QMTL_OFF, PROD_REMOTE_COORDINATOR, DEDICATED])
    data = secret(rendered)
    assert set(acl_lines(data["acl-redis"])) == {"default", "healthcheck", "gateway", "worldservice", "ratelimiter"}
    assert set(acl_lines(data["acl-redis-seamless"])) == {"default", "healthcheck", "seamless-coordinator"}
    assert rendered.names("StatefulSet") >= {"redis", "redis-seamless"}
    assert rendered.names("Service") >= {"redis", "redis-seamless"}
    sts = rendered.get("StatefulSet", "redis-seamless")
    items = next(v for v in sts["spec"]["template"]["spec"]["volumes"] if v["name"] == "acl")["secret"]["items"]
    assert items == [{"key": "acl-redis-seamless", "path": "users.acl"}]


EXTERNAL = {
    "global": {
        "redis": {
            "enabled": False,
            "external": {
                "host": "redis.managed.example",
                "port": 6380,
                "tls": True,
                "existingSecret": "my-redis",
                "users": {"gateway": {"username": "gw-user", "passwordKey": "gw"}},
            },
        }
    }
}


def test_external_redis_renders_nothing_bundled_and_points_the_config_at_it() -> None:
    rendered = render_chart([QMTL_OFF, PROD_REMOTE_COORDINATOR, EXTERNAL])
    sources = {i.source for i in rendered.items}
    assert not [s for s in sources if "/charts/redis/" in s]
    conf = qmtl_config(rendered)
    assert conf["gateway"]["redis_dsn"].startswith("rediss://gw-user:")
    assert conf["gateway"]["redis_dsn"].endswith("@redis.managed.example:6380/0")


def test_external_redis_without_existing_secret_is_refused() -> None:
    bad = {"global": {"redis": {"enabled": False, "external": {"host": "redis.managed.example"}}}}
    message = str(render_error([QMTL_OFF, PROD_REMOTE_COORDINATOR, bad]))
    # The schema or the template may refuse it first: assert on the key path, not the wording.
    assert re.search(r"global[./]redis[./]external", message), message
    assert "existingSecret" in message, message


def test_extra_rules_that_break_isolation_are_refused() -> None:
    error = render_error([QMTL_OFF, DEV, {"redis": {"extraRules": {"gateway": "+get allkeys"}}}])
    assert "redis.extraRules.gateway" in str(error)

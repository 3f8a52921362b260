"""Redis subchart, rendered: the ACL file (users, key patterns, DB fences, no nopass, default off), the
Secret it shares its passwords with, the StatefulSet, the dedicated coordinator instance and the
managed-Redis override. Expected values are written here from QMTL_RUNTIME_FACTS.md, not read back
from the chart."""

from __future__ import annotations

import hashlib
import re

import pytest

from tests.dependencies.common import DEV_PROFILE, PROD_EXTERNAL_COORDINATOR, QMTL_OFF
from tests.harness import render_chart, render_error
from tests.harness.objects import dsn, env, qmtl_config, quantity, redis_acl

DEDICATED = {"global": {"redis": {"dedicatedCoordinator": True}}}

# QMTL_RUNTIME_FACTS.md "Redis keys actually written" and QMTL's prod sample DB indices.
EXPECTED = {
    "gateway": {"keys": {"strategy:*", "dag_hash:*", "strategy_queue", "lock:*", "seamless:*"}, "db": 0},
    "worldservice": {"keys": {"world:*", "risk-blobs:*"}, "db": 4},
    "seamless-coordinator": {"keys": {"seamless:*"}, "db": 3},
    "ratelimiter": {"keys": {"rl:*"}, "db": 2},
}
PROFILES = {"dev": [QMTL_OFF, DEV_PROFILE], "prod": [QMTL_OFF, PROD_EXTERNAL_COORDINATOR]}


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
    users = acl_lines(redis_acl(rendered))
    assert set(users) == {"default", "healthcheck", *EXPECTED}
    assert "off" in users["default"]
    assert "on" not in users["default"]
    assert "-@all" in users["default"]


def test_no_user_has_nopass_plaintext_or_wildcards(rendered) -> None:
    for name, rules in acl_lines(redis_acl(rendered)).items():
        assert "nopass" not in rules, name
        assert not [r for r in rules if r.startswith(">")], f"{name}: plaintext password in the ACL file"
        for forbidden in ("~*", "allkeys", "allchannels", "&*", "+@all", "allcommands"):
            assert forbidden not in rules, f"{name} has {forbidden}"
        assert not [r for r in rules if r.startswith("&")], f"{name} may use pub/sub channels"


def test_each_service_user_has_exactly_its_key_patterns_and_db(rendered) -> None:
    users = acl_lines(redis_acl(rendered))
    for name, want in EXPECTED.items():
        rules = users[name]
        assert {r[1:] for r in rules if r.startswith("~")} == want["keys"], name
        assert [r for r in rules if r.startswith("+select|")] == [f"+select|{want['db']}"], name
        assert rules.index("-select") < rules.index(f"+select|{want['db']}"), name
        for listing in ("-keys", "-scan", "-randomkey", "-@dangerous", "-move", "-copy"):
            assert listing in rules, f"{name} lacks {listing}"
    assert acl_lines(redis_acl(rendered))["healthcheck"][-2:] == ["-@all", "+ping"]


def test_passwords_are_computed_once_the_acl_hashes_are_the_secret_values(rendered) -> None:
    data = secret(rendered)
    users = acl_lines(redis_acl(rendered))
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
    ws = dsn(conf["worldservice"]["server"]["redis"])
    assert (ws.scheme, ws.username, ws.host, ws.port, ws.path) == ("redis", "worldservice", "redis", 6379, "4")


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
    assert acl_volume["emptyDir"]["medium"] == "Memory", "the assembled ACL file (password hashes) stays in memory"
    (init,) = pod["initContainers"]
    assert init["name"] == "redis-acl"
    assert {m["mountPath"] for m in c["volumeMounts"] if m["name"] == "acl"} == {"/etc/redis/acl"}
    assert not [e for e in c.get("env") or [] if e["name"].startswith("QMTL_REDIS_PASSWORD_")], (
        "only the init container gets the users' passwords"
    )
    conf = rendered.get("ConfigMap", "redis-config")["data"]["redis.conf"]
    assert "aclfile /etc/redis/acl/users.acl" in conf
    assert "maxmemory-policy noeviction" in conf
    limit_bytes = quantity(c["resources"]["limits"]["memory"])
    maxmemory = int(re.search(r"^maxmemory (\d+)$", conf, re.M).group(1))
    assert 0 < maxmemory < limit_bytes


def test_dedicated_coordinator_redis_holds_only_the_coordinator() -> None:
    rendered = render_chart([QMTL_OFF, PROD_EXTERNAL_COORDINATOR, DEDICATED])
    assert set(acl_lines(redis_acl(rendered))) == {"default", "healthcheck", "gateway", "worldservice", "ratelimiter"}
    assert set(acl_lines(redis_acl(rendered, "redis-seamless"))) == {"default", "healthcheck", "seamless-coordinator"}
    assert rendered.names("StatefulSet") >= {"redis", "redis-seamless"}
    assert rendered.names("Service") >= {"redis", "redis-seamless"}
    sts = rendered.get("StatefulSet", "redis-seamless")
    (init,) = sts["spec"]["template"]["spec"]["initContainers"]
    assert "/etc/redis/acl-template/users-redis-seamless.acl" in init["command"]


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
    rendered = render_chart([QMTL_OFF, PROD_EXTERNAL_COORDINATOR, EXTERNAL])
    sources = {i.source for i in rendered.items}
    assert not [s for s in sources if "/charts/redis/" in s]
    conf = qmtl_config(rendered)
    gw = dsn(conf["gateway"]["redis_dsn"])
    assert (gw.scheme, gw.username, gw.host, gw.port, gw.path) == (
        "rediss",
        "gw-user",
        "redis.managed.example",
        6380,
        "0",
    )


def test_external_redis_without_existing_secret_is_refused() -> None:
    bad = {"global": {"redis": {"enabled": False, "external": {"host": "redis.managed.example"}}}}
    message = str(render_error([QMTL_OFF, PROD_EXTERNAL_COORDINATOR, bad]))
    # The schema or the template may refuse it first: assert on the key path, not the wording.
    assert re.search(r"global[./]redis[./]external", message), message
    assert "existingSecret" in message, message


# Rules that would widen a user, each in several spellings (case, tabs, newlines, quotes, other forms of
# the same right): the allowlist in values.schema.json must refuse every one, naming the key.
WIDENING_RULES = (
    "+get allkeys",
    "ALLKEYS",
    "+get\tallkeys",
    '"allkeys"',
    "~*",
    "%R~world:*",
    "~world:*",
    "nopass",
    "NoPass",
    ">hunter2",
    "#" + "0" * 64,
    "+@all",
    "+@ALL",
    "allcommands",
    "+@read",
    "+@connection",
    "+select",
    "+SELECT|7",
    "+keys",
    "+config|set",
    "+acl",
    "&*",
    "allchannels",
    "(~* +@all)",
    "+get\nuser evil on >pw ~* +@all",
    "+eval\r\n+flushall",
    "reset",
    "on",
)


@pytest.mark.parametrize("rule", WIDENING_RULES)
def test_extra_rules_outside_the_allowlist_are_refused_in_any_spelling(rule: str) -> None:
    error = str(render_error([QMTL_OFF, DEV_PROFILE, {"redis": {"extraRules": {"gateway": rule}}}]))
    assert "values don't meet the specifications of the schema" in error, error
    assert "- at '/redis/extraRules/gateway': " in error, error


@pytest.mark.parametrize("rule", ["+eval", "+EVALSHA +script|load", " -flushdb  -@slow ", "-client|kill +time"])
def test_extra_rules_inside_the_allowlist_are_appended_to_that_user_only(rule: str) -> None:
    rendered = render_chart([QMTL_OFF, DEV_PROFILE, {"redis": {"extraRules": {"ratelimiter": rule}}}])
    users = acl_lines(redis_acl(rendered))
    assert users["ratelimiter"][-len(rule.split()) :] == rule.split()
    baseline = acl_lines(redis_acl(render_chart(PROFILES["dev"])))
    for other in set(users) - {"ratelimiter"}:
        assert users[other][2:] == baseline[other][2:], other  # everything but the password hash

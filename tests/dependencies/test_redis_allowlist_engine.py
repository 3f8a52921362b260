"""Every Redis extra rule the allowlist (values.schema.json, redis.extraRules) accepts, proven on a real
redis-server: the ACL file the chart renders with it gives no user more than its allowlist says.

For each accepted rule the rendered ACL file (assembled by the chart's own init-container script) is loaded
into a redis-server with a fixture admin, and every user is measured: which commands and subcommands
`ACL DRYRUN` lets it run (every command the server knows, with arguments of the right arity and a key of
the user's own), and its keys, channels, passwords, flags and selectors (`ACL GETUSER`). Against the same
measure without the rule: the rule's user may gain at most the commands the rule grants (which the
allowlist names), a removal only removes, and every other user, every key pattern, channel and password
stays exactly as it was."""

from __future__ import annotations

import functools

import pytest

from schemas.rules import REDIS_GRANTS
from tests.dependencies.common import PROD_EXTERNAL_COORDINATOR, QMTL_OFF
from tests.engines import fixtures, servers
from tests.harness import render_chart
from tests.harness.objects import pod_template, redis_acl

pytestmark = pytest.mark.engines

# qmtl.redisUsers key -> ACL username and a key inside its patterns (charts/redis/templates/_acl.tpl)
USERS = {
    "gateway": ("gateway", "strategy:probe"),
    "worldservice": ("worldservice", "world:probe"),
    "seamless": ("seamless-coordinator", "seamless:probe"),
    "ratelimiter": ("ratelimiter", "rl:probe"),
}
PROBE_USER = ("healthcheck", "probe")

# Every accepted shape: each grant the allowlist names (also in upper case: Redis reads any case), removals
# of a command, a subcommand and a category, and a mix. (who, rule)
ACCEPTED = [
    *((who, f"+{grant}") for who, grant in zip(list(USERS) * 2, REDIS_GRANTS, strict=False)),
    ("seamless", "+EVALSHA +Script|Load"),
    ("gateway", "-get"),
    ("worldservice", "-client|setname -@write"),
    ("ratelimiter", "-select"),
    ("seamless", "+eval  -@slow +time"),
]


def _render(extra: dict | None, *extra_args: str):
    values = [QMTL_OFF, PROD_EXTERNAL_COORDINATOR]
    if extra:
        values.append({"redis": {"extraRules": extra}})
    return render_chart(values, extra_args=extra_args)


@functools.cache
def _commands(server_key: str, client) -> list[tuple[str, list[str]]]:
    """(name, dry-run argv with `{key}` where a key goes) for every command and subcommand the server has."""
    del server_key
    connection = client.connection_pool.get_connection()  # the raw reply: redis-py's parser drops subcommands
    try:
        connection.send_command("COMMAND")
        entries = connection.read_response()
    finally:
        client.connection_pool.release(connection)
    out = []
    for entry in entries:
        out += _argvs(entry)
    return out


def _argvs(entry) -> list[tuple[str, list[str]]]:
    name, arity, _flags, first, last, step = entry[:6]
    name = name.decode() if isinstance(name, bytes) else name
    subs = entry[9] if len(entry) > 9 else []
    if subs:
        return [a for sub in subs for a in _argvs(sub)]
    words = name.split("|")
    total = arity if arity > 0 else -arity  # the command's words and its arguments
    argv = [*words, *(["0"] * max(total - len(words), 0))]
    if first > 0:
        end = last if last > 0 else len(argv) + last
        for position in range(first, min(end, len(argv) - 1) + 1, max(step, 1)):
            argv[position] = "{key}"
    return [(name, argv)]


def _measure(server) -> dict[str, dict]:
    admin = server.admin()
    commands = _commands(f"{server.host}:{server.port}", admin)
    out = {}
    for _, (user, key) in {**USERS, "probe": PROBE_USER}.items():
        pipe = admin.pipeline(transaction=False)
        for _, argv in commands:
            pipe.execute_command("ACL", "DRYRUN", user, *[key if a == "{key}" else a for a in argv])
        replies = pipe.execute(raise_on_error=False)
        allowed, undetermined = set(), []
        for (name, _), reply in zip(commands, replies, strict=True):
            text = str(reply)
            if text == "OK" or "permissions to access" in text:  # the command itself is permitted
                allowed.add(name)
            elif "permissions to run" not in text:
                undetermined.append((name, text))
        info = admin.acl_getuser(user)
        out[user] = {
            "allowed": allowed,
            "undetermined": undetermined,
            "rest": {k: v for k, v in info.items() if k not in ("commands", "categories")},
        }
    out["users"] = set(admin.acl_users())
    return out


def _server(rendered):
    """The rendered ACL, assembled with a fixed password per user (so that renders compare)."""
    spec = pod_template(rendered.get("StatefulSet", "redis"))["spec"]
    passwords = {e["name"]: f"fixed-{e['name'].lower()}" for e in spec["initContainers"][0]["env"]}
    acl = redis_acl(rendered, passwords=passwords)
    return fixtures.local_engine(lambda: servers.start_redis(acl_text=acl, admin=True))


@pytest.fixture(scope="module")
def baseline():
    server = _server(_render(None))
    try:
        yield _measure(server)
    finally:
        server.stop()


def test_the_measure_covers_the_servers_commands(baseline) -> None:
    for user, (name, _) in {**USERS, "probe": PROBE_USER}.items():
        measured = baseline[name]
        assert len(measured["allowed"]) > 50 or user == "probe", f"{name}: {len(measured['allowed'])} commands"
        assert not measured["undetermined"], measured["undetermined"][:5]
    assert baseline["gateway"]["allowed"] >= {"get", "set", "multi", "exec"}
    refused = {"keys", "scan", "config|set", "flushall", "eval", "move", "acl|setuser"}
    assert not baseline["gateway"]["allowed"] & refused


@pytest.mark.parametrize(("who", "rule"), ACCEPTED, ids=[f"{w}:{r}" for w, r in ACCEPTED])
def test_an_accepted_rule_gives_no_user_more_than_the_allowlist_says(baseline, who: str, rule: str) -> None:
    server = _server(_render({who: rule}))
    try:
        measured = _measure(server)
    finally:
        server.stop()
    target = USERS[who][0]
    grants = {t[1:].lower() for t in rule.split() if t.startswith("+")}
    assert grants <= {g.lower() for g in REDIS_GRANTS}, "the test's rule is outside the allowlist itself"
    assert measured["users"] == baseline["users"], "a user appeared or vanished"
    for name in [u for u, _ in USERS.values()] + [PROBE_USER[0]]:
        before, after = baseline[name], measured[name]
        assert not after["undetermined"], after["undetermined"][:5]
        assert after["rest"] == before["rest"], f"{name}: keys, channels, passwords, flags or selectors changed"
        gained = after["allowed"] - before["allowed"]
        if name == target:
            assert gained <= grants, f"{name} gained {sorted(gained - grants)} beyond the rule's grants"
            if all(t.startswith("+") for t in rule.split()):  # (a later removal may take a grant back)
                for grant in grants - before["allowed"]:
                    assert grant in after["allowed"], f"{name}: the accepted {grant} has no effect"
            for token in (t for t in rule.split() if t.startswith("-") and not t.startswith("-@")):
                assert token[1:].lower() not in after["allowed"], f"{name}: {token} removed nothing"
        else:
            assert after["allowed"] == before["allowed"], f"{name} changed, though the rule is {target}'s"


def test_the_measure_sees_what_a_rule_outside_the_allowlist_would_give(baseline) -> None:
    """The same measure on a rule the schema refuses (rendered here with --skip-schema-validation): +@read
    re-grants KEYS and SCAN. The comparison above would fail on it."""
    server = _server(_render({"gateway": "+@read"}, "--skip-schema-validation"))
    try:
        measured = _measure(server)
    finally:
        server.stop()
    assert {"keys", "scan"} <= measured["gateway"]["allowed"] - baseline["gateway"]["allowed"]

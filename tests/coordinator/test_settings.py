"""The env the chart renders and the settings the coordinator reads, in both directions, for every values
set that deploys the bundled coordinator: every variable the chart sets is one the service reads; every
setting the service reads is rendered or has a default, documented in the README."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from seamless_coordinator import settings as coordinator_settings

from tests.core.common import PROD, PROD_MANAGED, effective
from tests.harness import render_chart, value_sets
from tests.harness.objects import chart_values, env, layered, redis_acl
from tests.harness.paths import REPO_ROOT

from .stack import resolve_env

DEDICATED = layered(PROD, {"global": {"redis": {"dedicatedCoordinator": True}}})
VALUE_SETS = {"prod": PROD, "prod-managed": PROD_MANAGED, "prod-dedicated-redis": DEDICATED}


def _container(values: dict | None = None, values_files=()):
    rendered = render_chart(values or {}, values_files=values_files)
    deployment = rendered.get("Deployment", "seamless-coordinator")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return rendered, container


def test_every_rendered_variable_is_read_and_every_required_one_rendered() -> None:
    """Over every shipped values set that deploys the bundled coordinator."""
    deployed = [vs for vs in value_sets() if chart_values(*vs.files)["seamless-coordinator"]["enabled"]]
    assert len(deployed) >= 2, [vs.name for vs in deployed]
    required = {v.name for v in coordinator_settings.ENV if v.default is None}
    for value_set in deployed:
        _, container = _container(values_files=value_set.files)
        names = set(env(container))
        unread = names - coordinator_settings.ENV_NAMES
        assert not unread, f"{value_set.name}: rendered but never read: {unread}"
        assert required <= names, f"{value_set.name}: required but not rendered: {required - names}"


@pytest.mark.parametrize("name", VALUE_SETS)
def test_the_service_accepts_the_rendered_env_as_the_chart_means_it(name: str) -> None:
    values = VALUE_SETS[name]
    rendered, container = _container(values)
    resolved = resolve_env(rendered, container, "seamless-coordinator-7d9f-abcde", user_secrets=True)
    s = coordinator_settings.Settings.from_env(resolved)
    g = effective(values)["global"]
    coordinator = effective(values)["seamless-coordinator"]
    assert (s.host, s.port, s.metrics_port) == ("0.0.0.0", g["ports"]["coordinator"], g["ports"]["coordinatorMetrics"])
    assert s.coordinator_id == "seamless-coordinator-7d9f-abcde"
    redis = urlsplit(s.redis_dsn)
    assert redis.hostname == ("redis-seamless" if name == "prod-dedicated-redis" else "redis")
    assert redis.path == f"/{g['redis']['databases']['seamless']}"
    assert s.redis_user == "seamless-coordinator"
    assert s.redis_password
    assert s.questdb_user
    assert s.questdb_password
    assert s.questdb_dsn.startswith("postgresql://")
    assert (s.lease_max_ms, s.record_ttl_s) == (
        coordinator["leases"]["maxMs"],
        coordinator["leases"]["recordTtlSeconds"],
    )
    assert s.log_level == coordinator["logLevel"]


def test_every_setting_is_documented_in_the_readme_with_its_default() -> None:
    readme = (REPO_ROOT / "README.md").read_text()
    assert coordinator_settings.describe() in readme, "README's coordinator settings table is not settings.describe()"


def test_console_script_help_lists_every_setting(capsys) -> None:
    from seamless_coordinator.main import main

    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for var in coordinator_settings.ENV:
        assert var.name in out


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, r"REDIS_DSN is not set"),
        ({"REDIS_DSN": "http://redis:6379/3"}, r"REDIS_DSN .* is not a redis:// or rediss://"),
        ({"REDIS_DSN": "redis://u:secret@redis:99999/3"}, r"REDIS_DSN 'redis://u:\*\*\*@redis:99999/3' has an invalid"),
        ({"REDIS_DSN": "redis://redis/3", "BIND_ADDR": "8080"}, r"BIND_ADDR '8080' is not host:port"),
        ({"REDIS_DSN": "redis://redis/3", "PROMETHEUS_PORT": "x"}, r"PROMETHEUS_PORT 'x' is not an integer"),
        ({"REDIS_DSN": "redis://redis/3", "LEASE_MAX_MS": "0"}, r"LEASE_MAX_MS 0 is outside"),
        ({"REDIS_DSN": "redis://redis/3", "LEASE_RECORD_TTL_S": "60"}, r"LEASE_RECORD_TTL_S \(60 s\) must exceed"),
        ({"REDIS_DSN": "redis://redis/3", "QUESTDB_DSN": "mysql://q/x"}, r"QUESTDB_DSN .* is not a postgresql://"),
        ({"REDIS_DSN": "redis://redis/3", "LOG_LEVEL": "loud"}, r"LOG_LEVEL 'loud' is not one of"),
    ],
)
def test_bad_settings_are_refused_naming_the_variable(env: dict, message: str) -> None:
    with pytest.raises(coordinator_settings.SettingsError, match=message) as info:
        coordinator_settings.Settings.from_env(env)
    assert "secret" not in str(info.value)


def test_dedicated_redis_gives_the_coordinator_the_same_acl_rules() -> None:
    """The engine tests load the shared Redis' ACL; the dedicated instance grants the coordinator's user the
    same rules, so those tests cover it too."""

    def rule(values: dict, instance: str) -> str:
        text = redis_acl(render_chart(values), instance)
        (line,) = [line for line in text.splitlines() if line.startswith("user seamless-coordinator ")]
        return re.sub(r" #[0-9a-f]{64}", " #<hash>", line)

    assert rule(PROD, "redis") == rule(DEDICATED, "redis-seamless")

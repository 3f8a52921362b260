"""QuestDB subchart, rendered (dev and prod): the coordinator's credentials wired from Secret
qmtl-questdb into QuestDB's own settings (PG wire and HTTP basic auth), readiness on the min-HTTP
health port, the unauthenticated ILP listeners off, and the StatefulSet. test_questdb_engine.py starts a
real QuestDB with exactly the rendered environment."""

from __future__ import annotations

import pytest

from tests.dependencies.common import PROD, PROFILES, QMTL_OFF, check_sizing
from tests.harness import render_chart, render_error
from tests.harness.objects import (
    chart_values,
    component,
    env,
    only_container,
    pod_specs,
    qmtl_config,
    secret_data,
    secret_refs,
    subchart_values,
)

SECRET = "qmtl-questdb"
# QuestDB's setting names (server.conf keys as QDB_ env vars, checked on QuestDB 9.3).
CREDENTIAL_ENV = {
    "QDB_PG_USER": "username",
    "QDB_PG_PASSWORD": "password",
    "QDB_HTTP_USER": "username",
    "QDB_HTTP_PASSWORD": "password",
}


def container(rendered) -> dict:
    return only_container(rendered, "StatefulSet", "questdb")


def test_credentials_come_from_the_coordinators_secret(rendered) -> None:
    e = env(container(rendered))
    for var, key in CREDENTIAL_ENV.items():
        assert e[var]["valueFrom"]["secretKeyRef"] == {"name": SECRET, "key": key}, var
    data = secret_data(rendered, SECRET)
    assert set(data) == {"username", "password"}
    assert data["username"] == subchart_values("questdb")["username"]
    assert data["password"] not in ("quest", ""), "never QuestDB's default password"
    assert e["QDB_PG_READONLY_USER_ENABLED"]["value"] == "false"


def test_only_questdb_and_the_coordinator_read_the_credentials(rendered) -> None:
    readers = {component(obj) for obj, spec in pod_specs(rendered) if any(n == SECRET for n, _ in secret_refs(spec))}
    assert "questdb" in readers
    assert readers - {"questdb", "seamless-coordinator"} <= {"helm-test-questdb"}, readers


def test_readiness_is_the_min_http_health_port_which_needs_no_credentials(rendered) -> None:
    c = container(rendered)
    ports = chart_values()["global"]["ports"]
    by_name = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert by_name == {"pg": ports["questdbPg"], "http": ports["questdbHttp"], "health": ports["questdbHealth"]}
    assert ports["questdbHealth"] == 9003
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert by_name[c[probe]["httpGet"]["port"]] == ports["questdbHealth"], probe
    e = env(c)
    # with HTTP basic auth on, QuestDB asks the health server for credentials unless told not to
    assert e["QDB_HTTP_HEALTH_CHECK_AUTHENTICATION_REQUIRED"]["value"] == "false"
    assert e["QDB_HTTP_MIN_NET_BIND_TO"]["value"] == f"0.0.0.0:{ports['questdbHealth']}"
    assert e["QDB_PG_NET_BIND_TO"]["value"] == f"0.0.0.0:{ports['questdbPg']}"


def test_unauthenticated_line_protocol_is_off(rendered) -> None:
    e = env(container(rendered))
    assert e["QDB_LINE_TCP_ENABLED"]["value"] == "false"
    assert e["QDB_LINE_UDP_ENABLED"]["value"] == "false"
    assert e["QDB_TELEMETRY_ENABLED"]["value"] == "false"


def test_statefulset_security_storage_resources(rendered, profile) -> None:
    values = chart_values(extra=(PROFILES[profile],))
    own = subchart_values("questdb")
    sts = rendered.get("StatefulSet", "questdb")
    spec = sts["spec"]["template"]["spec"]
    c = container(rendered)
    assert c["image"] == f"docker.io/questdb/questdb:{own['image']['tag']}"
    assert own["image"]["tag"] != "latest"
    assert spec["securityContext"]["runAsUser"] == 10001  # the image's questdb user
    assert c["securityContext"]["readOnlyRootFilesystem"] is True
    assert {m["mountPath"]: m["name"] for m in c["volumeMounts"]} == {"/var/lib/questdb": "data", "/tmp": "tmp"}
    check_sizing(rendered, profile, "questdb")
    svc_ports = {p["name"]: p["port"] for p in rendered.get("Service", "questdb")["spec"]["ports"]}
    assert svc_ports == {"pg": values["global"]["ports"]["questdbPg"], "http": values["global"]["ports"]["questdbHttp"]}


def test_coordinator_config_uses_the_bundled_questdb() -> None:
    rendered = render_chart(PROD)
    port = chart_values()["global"]["ports"]["questdbPg"]
    dsn = qmtl_config(rendered)["seamless"]["questdb_dsn"]
    assert dsn.startswith(f"postgresql://questdb:{port}/qmtl"), dsn


def test_ilp_can_be_switched_on_and_tuning_settings_pass() -> None:
    on = render_chart([QMTL_OFF, {"questdb": {"ilpTcp": True, "config": {"cairo.max.uncommitted.rows": 1000}}}])
    e = env(container(on))
    assert e["QDB_LINE_TCP_ENABLED"]["value"] == "true"
    assert e["QDB_CAIRO_MAX_UNCOMMITTED_ROWS"]["value"] == "1000"


# Settings aimed at the credentials, the listeners and the chart's own variables, in several spellings
# (QuestDB upper-cases the name into QDB_*: case and `_` for `.` reach the same variable).
HOSTILE_SETTINGS = {
    "pg.password": "quest",
    "PG.PASSWORD": "quest",
    "pg_password": "quest",
    "Pg.User": "admin",
    "http.user": "admin",
    "line.tcp.enabled": "true",
    "Line.Udp.Enabled": "true",
    "http.health.check.authentication.required": "true",
    "telemetry.enabled": "true",
    "cairo.sql.copy.root": "/",
    "CAIRO.SQL.BACKUP.ROOT": "/tmp",
}


@pytest.mark.parametrize("key", sorted(HOSTILE_SETTINGS))
def test_settings_outside_the_allowlist_are_refused_naming_the_key(key: str) -> None:
    error = str(render_error([QMTL_OFF, {"questdb": {"config": {key: HOSTILE_SETTINGS[key]}}}]))
    named = f"- at '/questdb/config': additional properties '{key}' not allowed" in error
    assert named or f"- at '/questdb/config/{key}'" in error, error


def test_no_setting_replaces_a_variable_the_chart_sets_even_without_the_schema() -> None:
    chart = env(container(render_chart([QMTL_OFF])))
    rendered = render_chart(
        [QMTL_OFF, {"questdb": {"config": HOSTILE_SETTINGS}}], extra_args=("--skip-schema-validation",)
    )
    c = container(rendered)
    names = [e["name"] for e in c["env"]]
    assert len(names) == len(set(names)), names
    assert {n: e for n, e in env(c).items() if n in chart} == chart

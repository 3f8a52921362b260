"""Neo4j subchart, rendered (dev and prod): auth always on with the password from Secret qmtl-neo4j (the
same one the dagmanager's config is filled with), the schema in Neo4j 5 syntax with QMTL's own
constraint and index names, the schema Job, and the server's StatefulSet. The schema statements run on a
real Neo4j 5 in test_neo4j_engine.py."""

from __future__ import annotations

import re

import pytest

from tests.dependencies.common import PROFILES, QMTL_OFF, check_sizing
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

SECRET = "qmtl-neo4j"

# QMTL's schema (hyophyop/qmtl qmtl/services/dagmanager/neo4j_init.py, SCHEMA_QUERIES), written here from
# the source: name -> (kind, label, property).
QMTL_SCHEMA = {
    "compute_pk": ("UNIQUE", "ComputeNode", "node_id"),
    "kafka_topic": ("INDEX", "Queue", "topic"),
    "compute_tags": ("INDEX", "ComputeNode", "tags"),
    "queue_interval": ("INDEX", "Queue", "interval"),
    "compute_buffering_since": ("INDEX", "ComputeNode", "buffering_since"),
}


def statements(cypher: str) -> list[str]:
    body = "\n".join(line for line in cypher.splitlines() if not line.strip().startswith("//"))
    return [" ".join(s.split()) for s in body.split(";") if s.strip()]


def test_schema_is_qmtls_in_neo4j_5_syntax_and_idempotent(rendered) -> None:
    stmts = statements(rendered.get("ConfigMap", "qmtl-neo4j-schema")["data"]["schema.cypher"])
    found = {}
    for s in stmts:
        m = re.fullmatch(r"CREATE CONSTRAINT (\w+) IF NOT EXISTS FOR \(\w+:(\w+)\) REQUIRE \w+\.(\w+) IS UNIQUE", s)
        if m:
            found[m.group(1)] = ("UNIQUE", m.group(2), m.group(3))
            continue
        m = re.fullmatch(r"CREATE INDEX (\w+) IF NOT EXISTS FOR \(\w+:(\w+)\) ON \(\w+\.(\w+)\)", s)
        assert m, f"not a Neo4j 5 IF NOT EXISTS constraint/index statement: {s}"
        found[m.group(1)] = ("INDEX", m.group(2), m.group(3))
    assert found == QMTL_SCHEMA
    assert not [s for s in stmts if " ASSERT " in s], "Neo4j 4 constraint syntax (ASSERT) is rejected by Neo4j 5"


def test_auth_is_on_with_the_password_the_dagmanager_uses(rendered) -> None:
    c = only_container(rendered, "StatefulSet", "neo4j")
    e = env(c)
    password_var = re.fullmatch(r"neo4j/\$\((\w+)\)", e["NEO4J_AUTH"]["value"])
    assert password_var, e["NEO4J_AUTH"]
    assert not password_var.group(1).startswith("NEO4J_"), "the entrypoint would turn it into a setting"
    assert e[password_var.group(1)]["valueFrom"]["secretKeyRef"] == {"name": SECRET, "key": "password"}
    assert e["NEO4J_dbms_security_auth__enabled"]["value"] == "true"
    assert all(v.get("value") != "none" for v in e.values())
    assert set(secret_data(rendered, SECRET)) == {"password"}
    config = qmtl_config(rendered)["dagmanager"]
    assert config["neo4j_user"] == "neo4j"
    assert config["neo4j_dsn"] == f"bolt://neo4j:{chart_values()['global']['ports']['neo4jBolt']}"
    for obj, spec in pod_specs(rendered):
        if component(obj) == "dagmanager":
            assert (SECRET, "password") in secret_refs(spec)


def test_only_neo4j_its_schema_job_and_the_dagmanager_read_the_password(rendered) -> None:
    readers = {component(obj) for obj, spec in pod_specs(rendered) if any(n == SECRET for n, _ in secret_refs(spec))}
    assert readers - {"neo4j", "neo4j-schema", "dagmanager"} <= {"helm-test-neo4j"}, readers


def test_schema_job_runs_the_rendered_schema_as_neo4j_on_install_and_upgrade(rendered) -> None:
    job = rendered.get("Job", "neo4j-schema")
    assert set(job["metadata"]["annotations"]["helm.sh/hook"].split(",")) == {"post-install", "post-upgrade"}
    spec = job["spec"]["template"]["spec"]
    (c,) = spec["containers"]
    assert c["command"] == ["bash", "/schema/init-schema.sh"]
    e = env(c)
    assert e["NEO4J_ADDRESS"]["value"] == qmtl_config(rendered)["dagmanager"]["neo4j_dsn"]
    assert e["NEO4J_PASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": SECRET, "key": "password"}
    script = rendered.get("ConfigMap", "qmtl-neo4j-schema")["data"]["init-schema.sh"]
    assert 'cypher-shell --non-interactive --fail-fast -f "$here/schema.cypher"' in script


def test_statefulset_conf_copy_ports_probes_security_memory(rendered, profile) -> None:
    values = chart_values(extra=(PROFILES[profile],))
    own = subchart_values("neo4j")
    ports = values["global"]["ports"]
    sts = rendered.get("StatefulSet", "neo4j")
    spec = sts["spec"]["template"]["spec"]
    (init,) = spec["initContainers"]
    (c,) = spec["containers"]
    assert init["image"] == c["image"]
    assert not c["image"].endswith(":latest")
    assert c["image"].endswith("-community"), "Community edition"
    # conf/ is an emptyDir filled from the image's own conf/ before the server writes into it
    conf_vol = next(m["name"] for m in c["volumeMounts"] if m["mountPath"] == "/var/lib/neo4j/conf")
    assert init["command"][:3] == ["cp", "-R", "/var/lib/neo4j/conf/."]
    assert any(m["name"] == conf_vol for m in init["volumeMounts"])
    assert "emptyDir" in next(v for v in spec["volumes"] if v["name"] == conf_vol)
    assert {m["mountPath"] for m in c["volumeMounts"]} >= {"/data", "/logs", "/run", "/tmp"}
    container_ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert container_ports == {"bolt": ports["neo4jBolt"], "http": ports["neo4jHttp"]}
    assert c["readinessProbe"]["tcpSocket"]["port"] == "bolt"
    assert c["livenessProbe"]["httpGet"] == {"path": "/", "port": "http"}
    e = env(c)
    assert e["NEO4J_server_bolt_listen__address"]["value"] == f":{ports['neo4jBolt']}"
    mem = own["memory"][profile]
    assert e["NEO4J_server_memory_heap_max__size"]["value"] == mem["heap"]
    assert e["NEO4J_server_memory_pagecache_size"]["value"] == mem["pagecache"]
    assert spec["securityContext"]["runAsUser"] == 7474  # the image's neo4j user
    for container in (init, c):
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert init["resources"] == values["neo4j"]["resources"][profile]["neo4j-conf"]
    check_sizing(rendered, profile, "neo4j")


# Settings aimed at authentication and the chart's own variables, in several spellings (case, the `..` that
# also maps to `_`, the image's own NEO4J_AUTH / NEO4J_PLUGINS, a newline in a value).
HOSTILE_SETTINGS = {
    "dbms.security.auth_enabled": "false",
    "dbms.security.auth..enabled": "false",
    "DBMS.security.auth_enabled": "false",
    "AUTH": "none",
    "auth": "none",
    "PLUGINS": '["apoc"]',
    "dbms.security.procedures.unrestricted": "*",
    "server.bolt.listen_address": ":7688",
    "server.https.enabled": "true",
    "server.memory.heap.max_size": "64g",
}


@pytest.mark.parametrize("key", sorted(HOSTILE_SETTINGS))
def test_settings_outside_the_allowlist_are_refused_naming_the_key(key: str) -> None:
    error = str(render_error([QMTL_OFF, {"neo4j": {"config": {key: HOSTILE_SETTINGS[key]}}}]))
    assert f"- at '/neo4j/config': additional properties '{key}' not allowed" in error, error


def test_a_value_with_a_newline_is_refused() -> None:
    error = str(render_error([QMTL_OFF, {"neo4j": {"config": {"db.transaction.timeout": "60s\nauth=off"}}}]))
    assert "- at '/neo4j/config/db.transaction.timeout'" in error, error


def test_no_setting_replaces_a_variable_the_chart_sets_even_without_the_schema() -> None:
    """--skip-schema-validation: every hostile spelling renders, and the chart's own variables keep their one
    entry and their value (Kubernetes uses the later of two entries with one name)."""
    chart = env(only_container(render_chart([QMTL_OFF]), "StatefulSet", "neo4j"))
    rendered = render_chart(
        [QMTL_OFF, {"neo4j": {"config": HOSTILE_SETTINGS}}], extra_args=("--skip-schema-validation",)
    )
    container = only_container(rendered, "StatefulSet", "neo4j")
    names = [e["name"] for e in container["env"]]
    assert len(names) == len(set(names)), names
    assert {n: e for n, e in env(container).items() if n in chart} == chart


def test_extra_settings_become_neo4j_env_vars() -> None:
    rendered = render_chart([QMTL_OFF, {"neo4j": {"config": {"db.transaction.timeout": "60s"}}}])
    c = only_container(rendered, "StatefulSet", "neo4j")
    assert env(c)["NEO4J_db_transaction_timeout"]["value"] == "60s"

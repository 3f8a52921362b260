"""PostgreSQL subchart, rendered (dev and prod): the provisioning artifacts (the SQL's roles, databases
and revokes, the Job that runs it on install and upgrade), who may read which password, and the
server's StatefulSet. What the SQL really does is proven on a real PostgreSQL in
test_postgres_engine.py; here the render is checked against the rest of the release (the QMTL config's
DSNs, the services' secretKeyRefs, global.ports, the sizing table)."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest

from tests.dependencies.common import PROFILES, check_sizing
from tests.harness import render_chart, render_error
from tests.harness.objects import (
    chart_values,
    component,
    containers,
    env,
    only_container,
    pod_specs,
    qmtl_config,
    secret_data,
    secret_refs,
    subchart_values,
)

SERVICES = ("gateway", "worldservice")
SUPERUSER_SECRET = "qmtl-postgres-superuser"
SERVICE_SECRET = "qmtl-postgres"


@pytest.fixture(scope="module")
def sql(rendered) -> str:
    return rendered.get("ConfigMap", "qmtl-postgres-provision")["data"]["provision.sql"]


def dsn_user_db(dsn: str) -> tuple[str, str]:
    parts = urlsplit(dsn)
    return parts.username, parts.path.lstrip("/")


def test_the_sql_creates_exactly_the_roles_and_databases_of_the_qmtl_config(rendered, sql) -> None:
    config = qmtl_config(rendered)
    wanted = {
        "gateway": dsn_user_db(config["gateway"]["database_dsn"]),
        "worldservice": dsn_user_db(config["worldservice"]["server"]["dsn"]),
    }
    created_roles = set(re.findall(r"format\('CREATE ROLE %I LOGIN', '(\w+)'\)", sql))
    created_dbs = dict(re.findall(r"format\('CREATE DATABASE %I OWNER %I', '(\w+)', '(\w+)'\)", sql))
    assert created_roles == {user for user, _ in wanted.values()}
    assert created_dbs == {db: user for user, db in wanted.values()}, "each database is owned by its service's role"


def test_the_sql_grants_nothing_and_closes_every_database_to_public_and_the_other_service(sql) -> None:
    assert not re.search(r"\bGRANT\b", sql), "provisioning must not grant: ownership is the only right a role gets"
    revoked_public = re.search(r"REVOKE ALL ON DATABASE %I FROM PUBLIC'.*?WHERE d\.datname IN \(([^)]*)\)", sql, re.S)
    assert revoked_public
    assert set(re.findall(r"'(\w+)'", revoked_public.group(1))) == {"postgres", "template1", *SERVICES}
    assert "REVOKE ALL ON DATABASE %I FROM %I" in sql  # whatever another service was granted
    assert sql.count("REVOKE CREATE ON SCHEMA public FROM PUBLIC") == len(SERVICES)
    for role in SERVICES:
        assert re.search(
            rf"ALTER ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS'.*?"
            rf"rolname = '{role}'",
            sql,
            re.S,
        ), f"{role}'s attributes are not enforced"


def test_passwords_come_from_env_never_from_the_configmap(rendered, sql) -> None:
    passwords = secret_data(rendered, SERVICE_SECRET).values()
    superuser = secret_data(rendered, SUPERUSER_SECRET)["password"]
    cm = rendered.get("ConfigMap", "qmtl-postgres-provision")["data"]
    for text in cm.values():
        for pw in [*passwords, superuser]:
            assert pw not in text
    for service in SERVICES:
        assert f"\\getenv {service}_password QMTL_POSTGRES_{service.upper()}_PASSWORD" in sql


def test_secrets_hold_one_password_per_service_and_the_superuser_apart(rendered) -> None:
    assert set(secret_data(rendered, SERVICE_SECRET)) == {f"{s}-password" for s in SERVICES}
    assert set(secret_data(rendered, SUPERUSER_SECRET)) == {"password"}
    for pw in [*secret_data(rendered, SERVICE_SECRET).values(), secret_data(rendered, SUPERUSER_SECRET)["password"]]:
        assert re.fullmatch(r"[A-Za-z0-9]{32}", pw), "generated passwords are 32 URL-safe characters"


def test_the_superuser_password_reaches_only_the_server_and_the_provisioning_job(rendered) -> None:
    readers = {
        component(obj)
        for obj, spec in pod_specs(rendered)
        if any(name == SUPERUSER_SECRET for name, _ in secret_refs(spec))
    }
    assert readers == {"postgres", "postgres-provision"}


def test_each_service_reads_only_its_own_password(rendered) -> None:
    for obj, spec in pod_specs(rendered):
        keys = {key for name, key in secret_refs(spec) if name == SERVICE_SECRET}
        who = component(obj)
        if who == "postgres-provision":
            assert keys == {f"{s}-password" for s in SERVICES}
        elif keys:
            assert None not in keys, f"{who} mounts all of {SERVICE_SECRET}"
            assert keys == {f"{who}-password"} or who.startswith("helm-test-"), f"{who} reads {keys}"


def test_the_provisioning_job_runs_the_rendered_files_on_install_and_upgrade(rendered) -> None:
    job = rendered.get("Job", "postgres-provision")
    hooks = set(job["metadata"]["annotations"]["helm.sh/hook"].split(","))
    assert hooks == {"post-install", "post-upgrade"}
    assert "before-hook-creation" in job["metadata"]["annotations"]["helm.sh/hook-delete-policy"]
    spec = job["spec"]["template"]["spec"]
    (c,) = spec["containers"]
    assert c["command"] == ["bash", "/provision/provision.sh"]
    mount = next(m for m in c["volumeMounts"] if m["mountPath"] == "/provision")
    vol = next(v for v in spec["volumes"] if v["name"] == mount["name"])
    assert vol["configMap"]["name"] == "qmtl-postgres-provision"
    e = env(c)
    assert e["PGHOST"]["value"] == "postgres"
    assert e["PGPASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": SUPERUSER_SECRET, "key": "password"}
    for s in SERVICES:
        assert e[f"QMTL_POSTGRES_{s.upper()}_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
            "name": SERVICE_SECRET,
            "key": f"{s}-password",
        }


def test_the_job_passwords_are_the_ones_the_services_log_in_with(rendered) -> None:
    job_refs = {
        k: v["valueFrom"]["secretKeyRef"]
        for k, v in env(only_container(rendered, "Job", "postgres-provision")).items()
        if k.startswith("QMTL_POSTGRES_")
    }
    for obj, spec in pod_specs(rendered):
        who = component(obj)
        if who not in SERVICES:
            continue
        service_refs = [
            e["valueFrom"]["secretKeyRef"]
            for c in containers(spec)
            for e in c.get("env", [])
            if e["name"] == f"QMTL_SECRET_POSTGRES_{who.upper()}"
        ]
        assert service_refs, f"{who} gets no postgres password"
        assert service_refs[0] == job_refs[f"QMTL_POSTGRES_{who.upper()}_PASSWORD"]


def test_statefulset_ports_probes_security_resources_and_storage(rendered, profile) -> None:
    values = chart_values(extra=(PROFILES[profile],))
    own = subchart_values("postgres")
    port = values["global"]["ports"]["postgres"]
    sts = rendered.get("StatefulSet", "postgres")
    spec = sts["spec"]["template"]["spec"]
    (c,) = spec["containers"]
    image = c["image"]
    assert image.startswith("docker.io/library/postgres:"), image
    assert not image.endswith(":latest")
    assert re.fullmatch(r"\d+\.\d+", image.rsplit(":", 1)[1]), "pinned to a minor release"
    assert c["ports"] == [{"name": "postgres", "containerPort": port, "protocol": "TCP"}]
    assert env(c)["PGPORT"]["value"] == str(port)
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert c[probe]["exec"]["command"][0] == "pg_isready", probe
        assert "127.0.0.1" in c[probe]["exec"]["command"], f"{probe} must go over TCP"
    assert spec["securityContext"]["runAsUser"] == 999  # the image's postgres user
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert c["securityContext"]["readOnlyRootFilesystem"] is True
    assert c["securityContext"]["capabilities"]["drop"] == ["ALL"]
    check_sizing(rendered, profile, "postgres")
    mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
    assert mounts["/var/lib/postgresql"] == "data"
    assert {"/var/run/postgresql", "/tmp", "/dev/shm"} <= set(mounts)
    assert sts["spec"]["persistentVolumeClaimRetentionPolicy"] == own["persistence"]["retentionPolicy"]
    assert env(c)["POSTGRES_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == SUPERUSER_SECRET
    svc = rendered.get("Service", "postgres")
    assert [p["port"] for p in svc["spec"]["ports"]] == [port]
    assert sts["spec"]["serviceName"] == "postgres-headless"
    assert rendered.get("Service", "postgres-headless")["spec"]["clusterIP"] == "None"


def test_retained_data_keeps_the_superuser_secret_and_deleted_data_does_not(profile) -> None:
    kept = render_chart(PROFILES[profile]).get("Secret", SUPERUSER_SECRET)
    assert kept["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    dropped = render_chart(
        [PROFILES[profile], {"postgres": {"persistence": {"retentionPolicy": {"whenDeleted": "Delete"}}}}]
    ).get("Secret", SUPERUSER_SECRET)
    assert "helm.sh/resource-policy" not in (dropped["metadata"].get("annotations") or {})


def test_bad_persistence_values_are_refused_naming_the_key() -> None:
    error = render_error({"postgres": {"persistence": {"size": "lots"}}}, extra_args=("--skip-schema-validation",))
    assert "postgres.persistence.size" in str(error)
    error = render_error(
        {"postgres": {"persistence": {"retentionPolicy": {"whenDeleted": "Keep"}}}},
        extra_args=("--skip-schema-validation",),
    )
    assert "postgres.persistence.retentionPolicy.whenDeleted" in str(error)

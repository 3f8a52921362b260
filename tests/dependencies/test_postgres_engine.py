"""The RENDERED PostgreSQL provisioning (provision.sh + provision.sql from ConfigMap
qmtl-postgres-provision, with the passwords of the rendered Secret and the Job's own environment) run
against a real PostgreSQL (tests/engines: the local server, and the testcontainers image where a Docker
engine exists):

- twice: the second run executes no DDL and leaves the catalog byte-for-byte as it was (roles, password
  verifiers, databases, ACLs, schema owners, even the catalog rows' xmin);
- each service then logs in with the DSN of the rendered QMTL config, creates and uses tables in its own
  database, and is refused every other database;
- a re-run repairs drift (grants to PUBLIC or to the other service, extra role attributes, membership,
  CREATE on public for PUBLIC) and applies a changed password.
"""

from __future__ import annotations

import os
import re
import subprocess
from urllib.parse import quote, urlsplit, urlunsplit

import psycopg
import pytest

from tests.engines import fixtures, pins
from tests.harness import render_chart
from tests.harness.objects import only_container, qmtl_config, resolved_env, secret_data

pytestmark = pytest.mark.engines

VALUES: dict = {}  # the default (dev) release: gateway and worldservice with their bundled databases
SERVICES = ("gateway", "worldservice")
DDL = re.compile(r"^(CREATE|ALTER|REVOKE|GRANT|DROP)\b", re.M)


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory) -> dict:
    rendered = render_chart(VALUES)
    data = rendered.get("ConfigMap", "qmtl-postgres-provision")["data"]
    folder = tmp_path_factory.mktemp("postgres-provision")
    (folder / "provision.sql").write_text(data["provision.sql"])
    (folder / "provision.sh").write_text(data["provision.sh"])
    return {
        "dir": folder,
        # the Job's environment (its superuser connection is aimed at the test server by run_provisioning)
        "env": resolved_env(rendered, only_container(rendered, "Job", "postgres-provision")),
        "passwords": secret_data(rendered, "qmtl-postgres"),  # <service>-password, as the Job sets them
        "config": qmtl_config(rendered),
    }


def run_provisioning(server, artifacts: dict, **overrides: str) -> subprocess.CompletedProcess:
    # the script runs psql (>= 15), as in the Job's image
    psql_dir = fixtures.local_engine(lambda: pins.postgres_binaries().bindir)
    run_env = {
        **os.environ,
        **artifacts["env"],
        "PATH": f"{psql_dir}:{os.environ.get('PATH', '')}",
        # the Job's connection, aimed at the test server: superuser, its password, host and port
        "PGHOST": server.host,
        "PGPORT": str(server.port),
        "PGUSER": server.superuser,
        "PGPASSWORD": server.superuser_password,
        "QMTL_PROVISION_WAIT_SECONDS": "30",
        **overrides,
    }
    result = subprocess.run(
        ["bash", str(artifacts["dir"] / "provision.sh")], env=run_env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, f"provision.sh failed:\n{result.stdout}\n{result.stderr}"
    return result


def catalog(server) -> dict:
    """Everything provisioning may touch, including the catalog rows' xmin (a rewritten row changes it)."""
    snap = {}
    with server.connect() as conn:
        snap["roles"] = conn.execute(
            "SELECT rolname, rolsuper, rolinherit, rolcreaterole, rolcreatedb, rolcanlogin, rolreplication, "
            "rolbypassrls, rolpassword, xmin::text FROM pg_authid WHERE rolname = ANY(%s) ORDER BY 1",
            (list(SERVICES),),
        ).fetchall()
        snap["members"] = conn.execute(
            "SELECT roleid::regrole::text, member::regrole::text FROM pg_auth_members ORDER BY 1, 2"
        ).fetchall()
        snap["databases"] = conn.execute(
            "SELECT datname, datdba::regrole::text, datacl::text, xmin::text FROM pg_database ORDER BY 1"
        ).fetchall()
    for db in SERVICES:
        with server.connect(dbname=db) as conn:
            snap[f"schema:{db}"] = conn.execute(
                "SELECT nspowner::regrole::text, nspacl::text, xmin::text FROM pg_namespace WHERE nspname = 'public'"
            ).fetchall()
    return snap


@pytest.fixture(scope="module")
def provisioned(postgres_server, artifacts) -> dict:
    first = run_provisioning(postgres_server, artifacts)
    before = catalog(postgres_server)
    second = run_provisioning(postgres_server, artifacts)
    after = catalog(postgres_server)
    return {"server": postgres_server, "first": first, "second": second, "before": before, "after": after}


def service_dsn(artifacts: dict, server, service: str, password: str | None = None) -> str:
    """The service's DSN from the rendered QMTL config, its password filled in as the pod's assembler
    does, pointed at the test server."""
    config = artifacts["config"]
    dsn = config["gateway"]["database_dsn"] if service == "gateway" else config["worldservice"]["server"]["dsn"]
    secret = password if password is not None else artifacts["passwords"][f"{service}-password"]
    dsn = re.sub(r"\$\{QMTL_SECRET_POSTGRES_[A-Z]+\|url\}", quote(secret, safe=""), dsn)
    parts = urlsplit(dsn)
    netloc = f"{parts.username}:{parts.password}@{server.host}:{server.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))


def other_db(dsn: str, dbname: str) -> str:
    parts = urlsplit(dsn)
    return urlunsplit((parts.scheme, parts.netloc, f"/{dbname}", parts.query, ""))


def test_first_run_provisions_and_the_second_changes_nothing(provisioned) -> None:
    assert DDL.search(provisioned["first"].stdout), provisioned["first"].stdout
    assert not DDL.search(provisioned["second"].stdout), f"second run ran DDL:\n{provisioned['second'].stdout}"
    assert provisioned["before"] == provisioned["after"]
    assert [row[0] for row in provisioned["after"]["roles"]] == list(SERVICES)


def test_roles_can_only_log_in(provisioned) -> None:
    for name, superuser, _inherit, createrole, createdb, login, replication, bypassrls, *_ in provisioned["after"][
        "roles"
    ]:
        assert login, name
        assert [superuser, createrole, createdb, replication, bypassrls] == [False] * 5, name


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_creates_and_uses_tables_in_its_own_database(provisioned, artifacts, service) -> None:
    dsn = service_dsn(artifacts, provisioned["server"], service)
    with psycopg.connect(dsn, autocommit=True, connect_timeout=10) as conn:
        assert conn.execute("SELECT current_user, current_database()").fetchone() == (service, service)
        conn.execute(f"CREATE TABLE IF NOT EXISTS {service}_probe (id int PRIMARY KEY, note text)")
        conn.execute(f"INSERT INTO {service}_probe VALUES (1, 'x') ON CONFLICT (id) DO UPDATE SET note = 'y'")
        assert conn.execute(f"SELECT count(*) FROM {service}_probe").fetchone() == (1,)
        conn.execute("CREATE SCHEMA IF NOT EXISTS own_schema")  # CREATE on its own database


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_is_refused_every_other_database(provisioned, artifacts, service) -> None:
    dsn = service_dsn(artifacts, provisioned["server"], service)
    others = [s for s in SERVICES if s != service] + ["postgres", "template1"]
    for db in others:
        with pytest.raises(psycopg.OperationalError, match=f'permission denied for database "{db}"'):
            psycopg.connect(other_db(dsn, db), connect_timeout=10).close()


@pytest.mark.parametrize("service", SERVICES)
def test_a_wrong_password_is_refused(provisioned, artifacts, service) -> None:
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(
            service_dsn(artifacts, provisioned["server"], service, password="not-it"), connect_timeout=10
        ).close()


def test_a_rerun_repairs_drift_and_applies_a_changed_password(provisioned, artifacts) -> None:
    server = provisioned["server"]
    with server.connect() as conn:
        conn.execute("GRANT CONNECT ON DATABASE gateway TO worldservice")
        conn.execute("GRANT ALL ON DATABASE worldservice TO PUBLIC")
        conn.execute("ALTER ROLE gateway CREATEDB")
        conn.execute("GRANT worldservice TO gateway")
    with server.connect(dbname="gateway") as conn:
        conn.execute("GRANT CREATE ON SCHEMA public TO PUBLIC")
    new_password = "Rotated" + artifacts["passwords"]["gateway-password"][:20]
    run_provisioning(server, artifacts, QMTL_POSTGRES_GATEWAY_PASSWORD=new_password)
    ws_dsn = service_dsn(artifacts, server, "worldservice")
    with pytest.raises(psycopg.OperationalError, match='permission denied for database "gateway"'):
        psycopg.connect(other_db(ws_dsn, "gateway"), connect_timeout=10).close()
    gw_dsn = service_dsn(artifacts, server, "gateway", password=new_password)
    with pytest.raises(psycopg.OperationalError, match='permission denied for database "worldservice"'):
        psycopg.connect(other_db(gw_dsn, "worldservice"), connect_timeout=10).close()
    with psycopg.connect(gw_dsn, connect_timeout=10) as conn:
        assert conn.execute("SELECT rolcreatedb FROM pg_roles WHERE rolname = 'gateway'").fetchone() == (False,)
        assert conn.execute("SELECT pg_has_role('gateway', 'worldservice', 'MEMBER')").fetchone() == (False,)
        assert conn.execute("SELECT has_schema_privilege('public', 'public', 'CREATE')").fetchone() == (False,)
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(service_dsn(artifacts, server, "gateway"), connect_timeout=10).close()
    # back to the Secret's password: the next run applies it again
    run_provisioning(server, artifacts)
    psycopg.connect(service_dsn(artifacts, server, "gateway"), connect_timeout=10).close()

"""The RENDERED helm test checks (the command of each qmtl-test-* pod, exactly as rendered) run against
real servers (tests/engines), with the credentials of the rendered Secrets and the servers provisioned by
the chart's own rendered provisioning, where the chart ships one:

- Redis: the rendered ACL file; the check passes, and fails (naming each hole) when the coordinator's
  user is opened to every key and DB and the default user is switched on;
- PostgreSQL: the rendered provision.sh/provision.sql; the check passes, and fails when gateway is
  granted CONNECT on the worldservice database;
- QuestDB: the coordinator's credentials; the check passes, and fails with a wrong password;
- MinIO: the rendered provision.sh and policy; the check passes, and fails when the coordinator's user
  also gets MinIO's built-in readwrite policy;
- Neo4j: the DAG Manager's password (the server's, as the chart's Secret sets it); the check passes with
  the Neo4j driver, and fails for a user that is not the DAG Manager's.

The ControlBus check (rpk against Redpanda's admin API) needs Redpanda's own client and admin API, which
these engines do not have: it is checked rendered (test_helm_test_pods) and runs on kind.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from qmtl_stack.render import Rendered

from tests.engines import pins, servers
from tests.engines.fixtures import local_engine
from tests.harness import render_chart
from tests.harness.objects import only_container, redis_acl, resolved_env, secret_data

pytestmark = pytest.mark.engines

# The chart's defaults (every dependency bundled): the render the other engine tests use too, so that the
# QuestDB server started for its credentials is shared.
VALUES: dict = {}


@pytest.fixture(scope="module")
def rendered() -> Rendered:
    return render_chart(VALUES)


def pod_env(rendered: Rendered, c: dict, overrides: dict[str, str]) -> dict[str, str]:
    """The container's env as the kubelet would give it, then `overrides` (where the real server listens)."""
    return {**resolved_env(rendered, c), **overrides}


def run_check(
    rendered: Rendered, check: str, overrides: dict[str, str], home: Path, path: list[str] = ()
) -> subprocess.CompletedProcess:
    c = only_container(rendered, "Pod", f"qmtl-test-{check}")
    command = list(c["command"])
    if command[0] == "python3":
        command[0] = sys.executable
    env = {
        "PATH": os.pathsep.join([*path, os.environ.get("PATH", "")]),
        "LANG": "C.UTF-8",
        **pod_env(rendered, c, overrides),
        "HOME": str(home),
    }
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=240)


def passed(result: subprocess.CompletedProcess) -> None:
    assert result.returncode == 0, f"the check failed:\n{result.stdout}\n{result.stderr}"
    assert "FAIL" not in result.stdout + result.stderr
    assert result.stdout.strip().splitlines()[-1] == "all checks passed"


def failed(result: subprocess.CompletedProcess, *expected: str) -> None:
    assert result.returncode == 1, f"the check passed though it must not:\n{result.stdout}\n{result.stderr}"
    for text in expected:
        assert text in result.stderr, f"{text!r} not reported:\n{result.stderr}"


def start(factory, *args, **kwargs):
    """factory(...): a started server; SKIP (FAIL under QMTL_REQUIRE_ENGINES=1) when it is not installed."""
    return local_engine(lambda: factory(*args, **kwargs))


# --- Redis ------------------------------------------------------------------------------------------------
def _redis_cli() -> str:
    def find() -> str:
        found = shutil.which("redis-cli")
        if not found:
            raise pins.EngineUnavailable("redis-cli is not on PATH (it comes with the redis-server engine)")
        return found

    return local_engine(find)


@pytest.fixture
def redis_check(rendered, tmp_path) -> Iterator:
    _redis_cli()
    acl = redis_acl(rendered)
    started = []

    def run(acl_text: str) -> subprocess.CompletedProcess:
        server = start(servers.start_redis, acl_text=acl_text)
        started.append(server)
        return run_check(rendered, "redis", {"REDIS_HOST": server.host, "REDIS_PORT": str(server.port)}, tmp_path)

    yield acl, run
    for server in started:
        server.stop()


def test_redis_check_passes_against_the_rendered_acl(redis_check) -> None:
    acl, run = redis_check
    passed(run(acl))


def test_redis_check_fails_when_the_coordinator_user_is_not_fenced(redis_check) -> None:
    acl, run = redis_check
    opened = []
    for line in acl.splitlines():
        if line.startswith("user default "):
            line = "user default on nopass ~* &* +@all"
        elif line.startswith("user seamless-coordinator "):
            words = line.split()
            line = " ".join([*words[:4], "~*", "+@all"])  # user <name> on #<hash>
        opened.append(line)
    result = run("\n".join(opened) + "\n")
    failed(
        result,
        "SET strategy:qmtl-helm-test outside the user's key patterns was not refused",
        "another service's DB) was not refused",
        "a connection without AUTH was not refused",
    )


def provision(rendered: Rendered, job: str, folder: Path, base_env, overrides: dict[str, str], timeout: float) -> None:
    """The chart's provisioning Job `job`, run here as the cluster would: the files of its ConfigMap
    (qmtl-<job>) in `folder`, its env (rendered Secrets resolved, then `overrides`) on top of `base_env`,
    provision.sh by bash. It must succeed."""
    for name, text in rendered.get("ConfigMap", f"qmtl-{job}")["data"].items():
        (folder / name).write_text(text)
    env = {**base_env, **pod_env(rendered, only_container(rendered, "Job", job), overrides)}
    done = subprocess.run(
        ["bash", str(folder / "provision.sh")], env=env, capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, f"the rendered provision.sh failed:\n{done.stdout}\n{done.stderr}"


# --- PostgreSQL ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def postgres(rendered, tmp_path_factory) -> Iterator:
    bindir = local_engine(lambda: pins.postgres_binaries().bindir)
    server = start(servers.start_postgres)
    provision(
        rendered,
        "postgres-provision",
        tmp_path_factory.mktemp("postgres-provision"),
        os.environ,
        {
            "PGHOST": server.host,
            "PGPORT": str(server.port),
            "PGUSER": server.superuser,
            "PGPASSWORD": server.superuser_password,
            "QMTL_PROVISION_WAIT_SECONDS": "30",
            "PATH": f"{bindir}:{os.environ.get('PATH', '')}",
        },
        timeout=120,
    )
    yield server, str(bindir)
    server.stop()


def test_postgres_check_passes_against_the_provisioned_server(rendered, postgres, tmp_path) -> None:
    server, bindir = postgres
    passed(run_check(rendered, "postgres", {"PGHOST": server.host, "PGPORT": str(server.port)}, tmp_path, [bindir]))


def test_postgres_check_fails_when_a_service_reaches_another_database(rendered, postgres, tmp_path) -> None:
    server, bindir = postgres
    server.run_sql("GRANT CONNECT ON DATABASE worldservice TO gateway;")
    try:
        result = run_check(
            rendered, "postgres", {"PGHOST": server.host, "PGPORT": str(server.port)}, tmp_path, [bindir]
        )
    finally:
        server.run_sql("REVOKE CONNECT ON DATABASE worldservice FROM gateway;")
    failed(result, "gateway connected to worldservice, another service's database")


# --- QuestDB ------------------------------------------------------------------------------------------------
def test_questdb_check_passes_with_the_coordinators_credentials(rendered, questdb_server, tmp_path) -> None:
    creds = secret_data(rendered, "qmtl-questdb")
    server = questdb_server(pg_user=creds["username"], pg_password=creds["password"])
    passed(run_check(rendered, "questdb", {"QUESTDB_HOST": server.host, "QUESTDB_PORT": str(server.pg_port)}, tmp_path))


def test_questdb_check_fails_when_the_credentials_do_not_log_in(rendered, questdb_server, tmp_path) -> None:
    creds = secret_data(rendered, "qmtl-questdb")
    server = questdb_server(pg_user=creds["username"], pg_password=creds["password"])
    result = run_check(
        rendered,
        "questdb",
        {
            "QUESTDB_HOST": server.host,
            "QUESTDB_PORT": str(server.pg_port),
            "QUESTDB_PASSWORD": "not-" + creds["password"],
        },
        tmp_path,
    )
    failed(result, "cannot log in over PG wire")


# --- MinIO --------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def minio(rendered, tmp_path_factory) -> Iterator:
    server = start(servers.start_minio)
    try:
        mc_env = local_engine(server.mc_env)
    except BaseException:  # skipped or failed for want of mc: do not leave the server running
        server.stop()
        raise
    folder = tmp_path_factory.mktemp("minio-provision")
    overrides = {
        "MINIO_ENDPOINT": server.url,
        "MINIO_ROOT_USER": server.root_user,
        "MINIO_ROOT_PASSWORD": server.root_password,
        "QMTL_PROVISION_WAIT_SECONDS": "30",
        "TMPDIR": str(folder),
    }
    provision(rendered, "minio-provision", folder, mc_env, overrides, timeout=180)
    yield server
    server.stop()


def _run_minio_check(rendered, server, home) -> subprocess.CompletedProcess:
    return run_check(rendered, "minio", {"S3_ENDPOINT": server.url}, home, [str(Path(server.mc_path).parent)])


def test_minio_check_passes_against_the_provisioned_server(rendered, minio, tmp_path) -> None:
    passed(_run_minio_check(rendered, minio, tmp_path))


def test_minio_check_fails_when_the_coordinator_gets_more_than_its_prefix(rendered, minio, tmp_path) -> None:
    user = secret_data(rendered, "qmtl-minio-coordinator")["access-key"]
    minio.mc("admin", "policy", "attach", "local", "readwrite", "--user", user)
    try:
        result = _run_minio_check(rendered, minio, tmp_path)
    finally:
        minio.mc("admin", "policy", "detach", "local", "readwrite", "--user", user)
    failed(
        result,
        "(outside artifacts/) was allowed",
        "listing the whole bucket qmtl-seamless was allowed",
        "qmtl-seamless-qmtl-helm-test-other/qmtl-helm-test: expected Access Denied",
    )


# --- Neo4j --------------------------------------------------------------------------------------------------
def _neo4j(rendered, neo4j_server):
    c = only_container(rendered, "Pod", "qmtl-test-neo4j")
    password = pod_env(rendered, c, {})["NEO4J_PASSWORD"]
    return start(neo4j_server, password=password)


def test_neo4j_check_passes_with_the_dagmanagers_credentials(rendered, neo4j_server, tmp_path) -> None:
    server = _neo4j(rendered, neo4j_server)
    passed(run_check(rendered, "neo4j", {"NEO4J_URI": server.bolt_uri}, tmp_path))


def test_neo4j_check_fails_when_the_credentials_do_not_open_a_session(rendered, neo4j_server, tmp_path) -> None:
    server = _neo4j(rendered, neo4j_server)
    # another user name, so that the failed attempts cannot lock the real user out (Neo4j's lockout)
    result = run_check(rendered, "neo4j", {"NEO4J_URI": server.bolt_uri, "NEO4J_USERNAME": "not-dagmanager"}, tmp_path)
    failed(result, "not-dagmanager@" + server.bolt_uri + ": no session")

"""validate --online against real local servers: an HTTP coordinator answering 200, 503, or nothing (no
listener, or a listener that never answers), and a real redis-server with the coordinator's ACL user.

The coordinator probe is the runtime guard's own script with the guard's bounds from the values; these
tests shorten the spacing and timeout through those same values (global.guard) and check the attempt
count and the spacing's lower bound; the defaults (3 attempts, 10 s apart, 5 s timeout) are checked
separately, without waiting for them."""

from __future__ import annotations

import base64
import contextlib
import http.server
import re
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from qmtl_validate import online

from tests.harness import render_chart
from tests.harness.paths import REPO_ROOT
from tests.validation.conftest import DEV_FILE, PROD_FILE, check_named, run_validate

FAST_GUARD = {"attempts": 3, "intervalSeconds": 1, "timeoutSeconds": 1}


class Coordinator:
    """A local HTTP server answering GET /healthz with `status`, recording when each request came."""

    def __init__(self, status: int):
        self.status = status
        self.hits: list[float] = []
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                owner.hits.append(time.monotonic())
                body = b'{"status": "ok"}' if owner.status < 300 else b'{"status": "unavailable"}'
                self.send_response(owner.status if self.path == "/healthz" else 404)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@contextlib.contextmanager
def coordinator(status: int) -> Iterator[Coordinator]:
    server = Coordinator(status)
    try:
        yield server
    finally:
        server.close()


@contextlib.contextmanager
def silent_listener() -> Iterator[str]:
    """Accepts connections (kernel backlog) and never answers: every probe times out."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        sock.close()


def closed_port_url() -> str:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return f"http://127.0.0.1:{port}"


def dev_with(url: str, guard: dict = FAST_GUARD) -> dict:
    return {"global": {"seamless": {"coordinator_url": url}, "guard": guard}}


def prod_with_external(url: str) -> dict:
    return {
        "global": {
            "seamless": {"coordinator_url": url},
            "guard": FAST_GUARD,
            "networkPolicy": {"coordinatorCidrs": ["127.0.0.1/32"]},
        },
        "seamless-coordinator": {"enabled": False},
    }


def healthz(files, values, extra_args=()) -> tuple[int, dict]:
    code, report, stderr = run_validate(files, [values], ["--online", "--target", "seamless", *extra_args])
    assert report is not None, stderr
    return code, check_named(report, "seamless", "coordinator_healthz")


def test_healthy_coordinator_passes_on_the_first_attempt() -> None:
    with coordinator(200) as server:
        code, check = healthz([DEV_FILE], dev_with(server.url))
    assert check["severity"] == "ok", check
    assert "1 attempt(s)" in check["hint"]
    assert len(server.hits) == 1
    assert code == 0


def test_unhealthy_coordinator_is_retried_at_the_stated_count_and_spacing() -> None:
    with coordinator(503) as server:
        _, check = healthz([DEV_FILE], dev_with(server.url))
    assert len(server.hits) == FAST_GUARD["attempts"]
    gaps = [b - a for a, b in zip(server.hits, server.hits[1:], strict=False)]
    assert all(gap >= FAST_GUARD["intervalSeconds"] - 0.05 for gap in gaps), gaps
    assert check["severity"] == "warning"  # dev
    assert "HTTP 503" in check["hint"]
    assert "3 attempt(s)" in check["hint"]


def test_attempts_come_from_the_values() -> None:
    with coordinator(503) as server:
        healthz([DEV_FILE], dev_with(server.url, dict(FAST_GUARD, attempts=2)))
    assert len(server.hits) == 2


def test_unhealthy_coordinator_is_an_error_in_prod() -> None:
    # prod refuses a loopback coordinator URL: name an external host and reach it at the local server
    with coordinator(503) as server:
        port = server.url.rsplit(":", 1)[1]
        name = f"coordinator.example.internal:{port}"
        code, check = healthz(
            [PROD_FILE], prod_with_external(f"http://{name}"), ["--resolve", f"{name}=127.0.0.1:{port}"]
        )
    assert check["severity"] == "error"
    assert "pods would not start" in check["hint"]
    assert code == 1


def test_nothing_listening_is_retried_then_refused() -> None:
    started = time.monotonic()
    _, check = healthz([DEV_FILE], dev_with(closed_port_url()))
    assert check["severity"] == "warning"
    assert "3 attempt(s)" in check["hint"]
    assert "refused" in check["hint"].lower()
    assert time.monotonic() - started >= 2 * FAST_GUARD["intervalSeconds"] - 0.1


def test_a_coordinator_that_never_answers_times_out_each_attempt() -> None:
    with silent_listener() as url:
        started = time.monotonic()
        _, check = healthz([DEV_FILE], dev_with(url))
    assert "3 attempt(s)" in check["hint"]
    assert "timed out" in check["hint"].lower()
    attempts, interval, timeout = FAST_GUARD["attempts"], FAST_GUARD["intervalSeconds"], FAST_GUARD["timeoutSeconds"]
    assert time.monotonic() - started >= attempts * timeout + (attempts - 1) * interval - 0.2


def test_bundled_coordinator_name_is_not_probed_from_outside_the_cluster() -> None:
    _, report, _ = run_validate([PROD_FILE], args=["--online", "--target", "seamless"])
    check = check_named(report, "seamless", "coordinator_healthz")
    assert check["severity"] == "warning"
    assert "--resolve seamless-coordinator=" in check["hint"]


def test_resolve_maps_the_bundled_name_to_a_local_server() -> None:
    with coordinator(200) as server:
        port = server.url.rsplit(":", 1)[1]
        _, report, _ = run_validate(
            [PROD_FILE],
            [{"global": {"guard": FAST_GUARD}}],
            ["--online", "--target", "seamless", "--resolve", f"seamless-coordinator:8080=127.0.0.1:{port}"],
        )
    check = check_named(report, "seamless", "coordinator_healthz")
    assert check["severity"] == "ok", check
    assert len(server.hits) == 1


# --- the defaults, without waiting for them ---------------------------------------------------------------


def test_guard_defaults_are_3_attempts_10_seconds_apart_5_second_timeout() -> None:
    values = yaml.safe_load((REPO_ROOT / "values.yaml").read_text())
    assert values["global"]["guard"] == {"attempts": 3, "intervalSeconds": 10, "timeoutSeconds": 5}
    script = render_chart(values_files=[PROD_FILE]).get("ConfigMap", "qmtl-config")["data"]["coordinator_guard.py"]
    defaults = dict(re.findall(r'os\.environ\.get\("(QMTL_GUARD_[A-Z_]+)", "([0-9.]+)"\)', script))
    assert defaults == {
        "QMTL_GUARD_ATTEMPTS": "3",
        "QMTL_GUARD_INTERVAL_SECONDS": "10",
        "QMTL_GUARD_TIMEOUT_SECONDS": "5",
    }
    # validate hands the guard exactly the settings the script reads, from global.guard
    assert set(online.GUARD_ENV.values()) == set(defaults)
    assert set(online.GUARD_ENV) == set(values["global"]["guard"])


# --- Redis PING with the service's own credentials --------------------------------------------------------


@pytest.fixture(scope="module")
def redis_server():
    from tests.engines import servers
    from tests.engines.fixtures import local_engine

    password = secrets.token_hex(12)
    acl = (
        f"user default off\n"
        f"user seamless-coordinator on >{password} ~seamless:* resetchannels -@all +auth +ping +select|3\n"
    )
    server = local_engine(lambda: servers.start_redis(acl_text=acl))
    server.password = password  # type: ignore[attr-defined]
    yield server
    server.stop()


def external_redis(server, **extra) -> dict:
    return {
        "global": {
            "redis": {
                "enabled": False,
                "external": {
                    "host": server.host,
                    "port": server.port,
                    "existingSecret": "managed-redis",
                    "cidrs": ["127.0.0.1/32"],
                },
                **extra,
            }
        }
    }


def secret_file(tmp_path: Path, password: str, *, encoded: bool) -> Path:
    key = "seamless-coordinator-password"  # the default key of the seamless user in an existingSecret
    body = {"data": {key: base64.b64encode(password.encode()).decode()}} if encoded else {"stringData": {key: password}}
    path = tmp_path / "secret.yaml"
    path.write_text(
        yaml.safe_dump({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "managed-redis"}, **body})
    )
    return path


def redis_check(values: dict, *args: str) -> dict:
    _, report, stderr = run_validate([DEV_FILE], [values], ["--online", "--target", "seamless", *args])
    assert report is not None, stderr
    return check_named(report, "seamless", "redis_as_seamless_coordinator")


@pytest.mark.parametrize("encoded", [False, True], ids=["stringData", "data"])
def test_redis_ping_as_the_coordinators_own_user(redis_server, tmp_path: Path, encoded: bool) -> None:
    check = redis_check(
        external_redis(redis_server), "--secret", str(secret_file(tmp_path, redis_server.password, encoded=encoded))
    )
    assert check["severity"] == "ok", check
    assert "PING as seamless-coordinator (db 3) answered PONG" in check["hint"]


def test_redis_wrong_password_is_reported(redis_server, tmp_path: Path) -> None:
    check = redis_check(external_redis(redis_server), "--secret", str(secret_file(tmp_path, "wrong", encoded=False)))
    assert check["severity"] == "warning"  # dev; prod: error
    assert "WRONGPASS" in check["hint"]


def test_redis_other_database_is_refused_by_the_acl(redis_server, tmp_path: Path) -> None:
    values = external_redis(redis_server, databases={"seamless": 5})
    check = redis_check(values, "--secret", str(secret_file(tmp_path, redis_server.password, encoded=False)))
    assert check["severity"] == "warning"
    assert "SELECT 5" in check["hint"]
    assert "NOPERM" in check["hint"]


def test_redis_without_credentials_is_skipped_with_the_way_to_give_them(redis_server) -> None:
    check = redis_check(external_redis(redis_server))
    assert check["severity"] == "warning"
    assert check["hint"].startswith("skipped")
    assert "QMTL_SECRET_MANAGED_REDIS_SEAMLESS_COORDINATOR_PASSWORD" in check["hint"]


def test_redis_credentials_from_the_environment(redis_server, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QMTL_SECRET_MANAGED_REDIS_SEAMLESS_COORDINATOR_PASSWORD", redis_server.password)
    check = redis_check(external_redis(redis_server), "--secret-env")
    assert check["severity"] == "ok", check


# --- S3 health of a real MinIO -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def minio_server():
    from tests.engines import servers
    from tests.engines.fixtures import local_engine

    server = local_engine(servers.start_minio)
    yield server
    server.stop()


def test_s3_health_of_a_real_minio(minio_server) -> None:
    values = {
        "global": {
            "minio": {
                "enabled": False,
                "external": {"endpoint": minio_server.url, "existingSecret": "managed-s3", "cidrs": ["127.0.0.1/32"]},
            }
        }
    }
    _, report, stderr = run_validate([DEV_FILE], [values], ["--online", "--target", "seamless"])
    assert report is not None, stderr
    check = check_named(report, "seamless", "s3_health")
    assert check["severity"] == "ok", check
    assert "/minio/health/live answered HTTP 200" in check["hint"]


# --- QuestDB PG wire, Kafka metadata and Neo4j Bolt against real servers (tests/engines fixtures) --------------


def _secret(tmp_path: Path, name: str, data: dict[str, str]) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(
        yaml.safe_dump({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "stringData": data})
    )
    return path


def _online_check(values: dict, target: str, name: str, *args: str) -> dict:
    _, report, stderr = run_validate([DEV_FILE], [values], ["--online", "--target", target, *args])
    assert report is not None, stderr
    return check_named(report, target, name)


def external_questdb(server) -> dict:
    return {
        "global": {
            "questdb": {
                "enabled": False,
                "external": {
                    "host": server.host,
                    "port": server.pg_port,
                    "database": "qdb",
                    "sslmode": "disable",
                    "existingSecret": "managed-questdb",
                    "cidrs": ["127.0.0.1/32"],
                },
            }
        }
    }


def test_questdb_pg_wire_with_the_coordinators_credentials(questdb_server, tmp_path: Path) -> None:
    server = questdb_server()
    good = _secret(tmp_path, "managed-questdb", {"username": server.pg_user, "password": server.pg_password})
    check = _online_check(external_questdb(server), "seamless", "questdb_pgwire", "--secret", str(good))
    assert check["severity"] == "ok", check
    assert f"connected to qdb as {server.pg_user}" in check["hint"]
    wrong = _secret(tmp_path, "managed-questdb", {"username": server.pg_user, "password": "not-the-password"})
    check = _online_check(external_questdb(server), "seamless", "questdb_pgwire", "--secret", str(wrong))
    assert check["severity"] == "warning", check  # dev; prod: error
    assert "OperationalError" in check["hint"], check


def external_kafka(broker, prefix: str) -> dict:
    return {
        "global": {
            "controlbus": {
                "enabled": False,
                "topicPrefix": prefix,
                "topicPrefixAcknowledged": True,
                "external": {"brokers": [broker.internal_bootstrap], "cidrs": ["127.0.0.1/32"]},
            }
        }
    }


def test_kafka_metadata_and_the_controlbus_topics(kafka_broker, engine_name) -> None:
    """QMTL's clients connect anonymously: the probe does too. Before the topics exist (and before the
    anonymous principal may describe them) it lists them as missing; after, it finds every one."""
    prefix = engine_name("cb") + "."
    values = external_kafka(kafka_broker, prefix)
    check = _online_check(values, "gateway", "kafka_metadata")
    assert check["severity"] == "ok", check
    assert "1 broker(s)" in check["hint"]
    assert f"not there yet: {prefix}activation" in check["hint"], check
    topics = [
        f"{prefix}{name}"
        for name in yaml.safe_load((REPO_ROOT / "values.yaml").read_text())["global"]["controlbus"]["topics"]
    ]
    kafka_broker.create_topics(topics)
    kafka_broker.create_acls(
        [{"principal": "User:ANONYMOUS", "name": prefix, "pattern": "prefixed", "operations": ["describe"]}]
    )
    check = _online_check(values, "gateway", "kafka_metadata")
    assert check["severity"] == "ok", check
    assert "every ControlBus topic exists" in check["hint"], check


def test_kafka_without_a_broker_is_reported() -> None:
    values = {
        "global": {
            "controlbus": {
                "enabled": False,
                "external": {"brokers": [closed_port_url().removeprefix("http://")], "cidrs": ["127.0.0.1/32"]},
            }
        }
    }
    check = _online_check(values, "dagmanager", "kafka_metadata")
    assert check["severity"] == "warning", check
    assert "no metadata" in check["hint"], check


def external_neo4j(server) -> dict:
    return {
        "global": {
            "neo4j": {
                "enabled": False,
                "external": {
                    "uri": server.bolt_uri,
                    "username": server.user,
                    "existingSecret": "managed-neo4j",
                    "cidrs": ["127.0.0.1/32"],
                },
            }
        }
    }


def test_neo4j_bolt_as_the_dagmanagers_user(neo4j_server, tmp_path: Path) -> None:
    server = neo4j_server()  # the session's shared server (tests/dependencies uses the same)
    good = _secret(tmp_path, "managed-neo4j", {"password": server.password})
    check = _online_check(external_neo4j(server), "dagmanager", "neo4j_bolt", "--secret", str(good))
    assert check["severity"] == "ok", check
    assert f"Bolt as {server.user}" in check["hint"]
    # one wrong attempt only: Neo4j locks a user out after repeated failures
    wrong = _secret(tmp_path, "managed-neo4j", {"password": "not-the-password"})
    check = _online_check(external_neo4j(server), "dagmanager", "neo4j_bolt", "--secret", str(wrong))
    assert check["severity"] == "warning", check
    assert "AuthError" in check["hint"] or "nauthorized" in check["hint"], check

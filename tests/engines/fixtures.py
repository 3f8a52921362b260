"""pytest plugin: real dependency servers as session fixtures.

Use from any test folder by listing the plugin in the top-level conftest:

    pytest_plugins = ["tests.engines.fixtures"]

(tests under tests/engines get it from tests/engines/conftest.py). Fixtures, all session-scoped, so each
pytest-xdist worker starts its own servers, on free loopback ports, in temp dirs, stopped at the end:

    redis_server      factory: redis_server(acl_file=None, *, acl_text=None, config=(), admin=False)
                      -> servers.RedisServer; parametrized over backends "local" and "container"
    postgres_server   servers.PostgresServer; parametrized over "local" and "container"
    kafka_broker      servers.KafkaBroker (KRaft, INTERNAL plaintext + EXTERNAL SASL/SCRAM, ACLs on)
    minio_server      servers.MinioServer
    questdb_server    factory: questdb_server(pg_user="admin", pg_password=None, config=None)
                      -> servers.QuestDBServer (one server per distinct credentials)
    neo4j_server      factory: neo4j_server(password=None) -> servers.Neo4jServer (one per password)
    engine_name       function-scoped: engine_name("topic") -> "topic-<random>", for names that must not
                      clash between tests sharing a server

Missing engine -> the test SKIPs with what is missing and how to install it (scripts/engines/install.sh);
with QMTL_REQUIRE_ENGINES=1 (CI) it FAILS instead. The "container" backend needs a reachable Docker engine
and skips otherwise (fails only with QMTL_REQUIRE_CONTAINERS=1). QMTL_ENGINE_BACKENDS=local (or
container) keeps one backend. Every test using these fixtures gets the `engines` marker.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from . import containers, pins, servers
from .pins import EngineUnavailable

ENGINE_FIXTURES = (
    "redis_server",
    "postgres_server",
    "kafka_broker",
    "minio_server",
    "questdb_server",
    "neo4j_server",
)
START_TIMES: dict[str, float] = {}  # "<engine>[backend]" -> seconds of its (last) start, for reports


def _required() -> bool:
    return os.environ.get("QMTL_REQUIRE_ENGINES") == "1"


def _unavailable(reason: str, required: bool, env: str = "QMTL_REQUIRE_ENGINES") -> None:
    if required:
        pytest.fail(f"{reason} [{env}=1: a missing engine is a failure, not a skip]", pytrace=False)
    pytest.skip(reason)


def _backends() -> list[str]:
    chosen = [b.strip() for b in os.environ.get("QMTL_ENGINE_BACKENDS", "local,container").split(",")]
    return [b for b in ("local", "container") if b in chosen] or ["local"]


def _check_backend(engine: str, backend: str, local_check: Callable[[], Any]) -> None:
    if backend == "container":
        reason = containers.docker_unavailable_reason()
        if reason:
            _unavailable(
                f"{engine} container backend: {reason}",
                os.environ.get("QMTL_REQUIRE_CONTAINERS") == "1",
                "QMTL_REQUIRE_CONTAINERS",
            )
        return
    try:
        local_check()
    except EngineUnavailable as exc:
        _unavailable(str(exc), _required())


def _timed(key: str, start: Callable[[], Any]) -> Any:
    t0 = time.monotonic()
    server = start()
    START_TIMES[key] = time.monotonic() - t0
    return server


class _Started:
    """Servers started by a fixture, all stopped at its teardown."""

    def __init__(self) -> None:
        self.servers: list[Any] = []

    def add(self, server: Any) -> Any:
        self.servers.append(server)
        return server

    def close(self) -> None:
        while self.servers:
            self.servers.pop().stop()


class RedisFactory:
    """redis_server(acl_file=None, *, acl_text=None, config=(), admin=False) -> RedisServer.

    Each call starts a new redis-server (local: ~0.1 s) loaded with that ACL file; all are stopped at the
    end of the session. A file redis rejects raises servers.EngineStartError with redis' own message."""

    def __init__(self, backend: str) -> None:
        self.backend = backend
        self._started = _Started()

    def __call__(self, acl_file=None, *, acl_text=None, config=(), admin=False) -> servers.RedisServer:
        start = containers.start_redis_container if self.backend == "container" else servers.start_redis
        return self._started.add(
            _timed(f"redis[{self.backend}]", lambda: start(acl_file, acl_text=acl_text, config=config, admin=admin))
        )

    def close(self) -> None:
        self._started.close()


@pytest.fixture(scope="session", params=_backends())
def redis_server(request: pytest.FixtureRequest) -> Iterator[RedisFactory]:
    backend = request.param

    def local() -> None:
        pins.redis_binary()
        pins.require_python_module("redis", "redis", "redis")

    _check_backend("redis", backend, local)
    factory = RedisFactory(backend)
    yield factory
    factory.close()


@pytest.fixture(scope="session", params=_backends())
def postgres_server(request: pytest.FixtureRequest) -> Iterator[servers.PostgresServer]:
    backend = request.param

    def local() -> None:
        pins.postgres_binaries()
        pins.postgres_os_user()
        pins.require_python_module("postgres", "psycopg", "psycopg[binary]")

    _check_backend("postgres", backend, local)
    start = containers.start_postgres_container if backend == "container" else servers.start_postgres
    server = _timed(f"postgres[{backend}]", start)
    yield server
    server.stop()


def _local_engine(name: str, start: Callable[[], Any]) -> Any:
    try:
        return _timed(name, start)
    except EngineUnavailable as exc:
        _unavailable(str(exc), _required())


@pytest.fixture(scope="session")
def kafka_broker() -> Iterator[servers.KafkaBroker]:
    broker = _local_engine("kafka", servers.start_kafka)
    yield broker
    broker.stop()


@pytest.fixture(scope="session")
def minio_server() -> Iterator[servers.MinioServer]:
    server = _local_engine("minio", servers.start_minio)
    yield server
    server.stop()


class QuestDBFactory:
    """questdb_server(pg_user="admin", pg_password=None, config=None) -> QuestDBServer, one server per
    distinct (user, password, config) for the session (a start takes a few seconds)."""

    def __init__(self) -> None:
        self._cache: dict[Any, servers.QuestDBServer] = {}
        self._started = _Started()
        self._default_password = secrets.token_hex(16)

    def __call__(self, pg_user: str = "admin", pg_password: str | None = None, config=None) -> servers.QuestDBServer:
        password = self._default_password if pg_password is None else pg_password
        key = (pg_user, password, tuple(sorted((config or {}).items())))
        if key not in self._cache:
            self._cache[key] = self._started.add(
                _timed("questdb", lambda: servers.start_questdb(pg_user, password, config=config))
            )
        return self._cache[key]

    def close(self) -> None:
        self._started.close()


@pytest.fixture(scope="session")
def questdb_server() -> Iterator[QuestDBFactory]:
    try:
        pins.questdb_jar()
        pins.require_python_module("questdb", "psycopg", "psycopg[binary]")
    except EngineUnavailable as exc:
        _unavailable(str(exc), _required())
    factory = QuestDBFactory()
    yield factory
    factory.close()


class Neo4jFactory:
    """neo4j_server(password=None) -> Neo4jServer (user `neo4j`, auth on), one per password per session
    (a start takes 15-40 s)."""

    def __init__(self) -> None:
        self._cache: dict[str, servers.Neo4jServer] = {}
        self._started = _Started()
        self._default_password = secrets.token_hex(16)

    def __call__(self, password: str | None = None) -> servers.Neo4jServer:
        password = password or self._default_password
        if password not in self._cache:
            self._cache[password] = self._started.add(_timed("neo4j", lambda: servers.start_neo4j(password=password)))
        return self._cache[password]

    def close(self) -> None:
        self._started.close()


@pytest.fixture(scope="session")
def neo4j_server() -> Iterator[Neo4jFactory]:
    try:
        pins.neo4j_classpath()
        pins.require_python_module("neo4j", "neo4j", "neo4j")
    except EngineUnavailable as exc:
        _unavailable(str(exc), _required())
    factory = Neo4jFactory()
    yield factory
    factory.close()


@pytest.fixture
def engine_name() -> Callable[[str], str]:
    """engine_name("topic") -> "topic-1a2b3c4d": unique names for objects on a shared server."""
    return lambda prefix: f"{prefix}-{secrets.token_hex(4)}"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if any(name in ENGINE_FIXTURES for name in getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.engines)


# ------------------------------------------------------------------------------ start times in the summary
def pytest_sessionfinish(session: pytest.Session) -> None:
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:  # an xdist worker: hand its start times to the controller
        workeroutput["qmtl_engine_start_times"] = json.dumps(START_TIMES)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    times = json.loads(getattr(node, "workeroutput", {}).get("qmtl_engine_start_times", "{}"))
    worker = getattr(node, "gateway", None)
    for key, seconds in times.items():
        START_TIMES[f"{key}@{getattr(worker, 'id', '?')}"] = seconds


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if START_TIMES:
        started = ", ".join(f"{k} {v:.1f}s" for k, v in sorted(START_TIMES.items()))
        terminalreporter.write_line(f"engine servers started: {started}")

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
with QMTL_REQUIRE_ENGINES=1 (CI) it FAILS instead; a test that starts its own server (servers.start_*)
gets the same from `local_engine(start)`. The "container" backend (containers.py: testcontainers with
this repository's images/redis and images/postgres) runs on a Docker engine where one answers, else on
podman's Docker-compatible API in a network namespace of its own (podman_service.py), started by the
session fixture `container_engine` and stopped at the session's end (one per xdist worker); where neither
can run it skips, or fails under QMTL_REQUIRE_ENGINES=1 or QMTL_REQUIRE_CONTAINERS=1.
QMTL_ENGINE_BACKENDS=local (or container) keeps one backend. Every test using these fixtures gets the
`engines` marker.
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


def local_engine(call: Callable[[], Any]) -> Any:
    """call() (an engine's availability checks, or its start), its result; when the engine is not installed
    (EngineUnavailable) the test SKIPs saying what is missing, or FAILs under QMTL_REQUIRE_ENGINES=1."""
    try:
        return call()
    except EngineUnavailable as exc:
        _unavailable(str(exc), _required())


def _containers_required() -> tuple[bool, str]:
    if os.environ.get("QMTL_REQUIRE_CONTAINERS") == "1":
        return True, "QMTL_REQUIRE_CONTAINERS"
    return _required(), "QMTL_REQUIRE_ENGINES"


def _check_backend(engine: str, backend: str, local_check: Callable[[], Any]) -> None:
    if backend == "container":
        reason = containers.engine_unavailable_reason()
        if reason:
            _unavailable(f"{engine} container backend: {reason}", *_containers_required())
        return
    local_engine(local_check)


@pytest.fixture(scope="session")
def container_engine() -> Iterator[containers.ContainerEngine]:
    """The container backend's engine for this process (Docker, or the podman service it starts), with the
    images built; stopped (every container removed, the podman service and its namespace gone) at the end."""
    try:
        engine = timed("container-engine", containers.start_engine)
    except EngineUnavailable as exc:
        _unavailable(str(exc), *_containers_required())
    yield engine
    engine.stop()


def timed(key: str, start: Callable[[], Any]) -> Any:
    """start() -> the server; its start time is kept under `key` for the session summary."""
    t0 = time.monotonic()
    server = start()
    START_TIMES[key] = time.monotonic() - t0
    return server


class _Factory:
    """A fixture's servers, started on demand; all are stopped at its teardown (close)."""

    def __init__(self) -> None:
        self._servers: list[Any] = []

    def _add(self, server: Any) -> Any:
        self._servers.append(server)
        return server

    def close(self) -> None:
        while self._servers:
            self._servers.pop().stop()


class _SharedFactory(_Factory):
    """One server per distinct start arguments for the whole session (a start takes seconds)."""

    def __init__(self, engine: str) -> None:
        super().__init__()
        self._engine = engine
        self._by_key: dict[Any, Any] = {}
        self._default_password = secrets.token_hex(16)

    def _shared(self, key: Any, start: Callable[[], Any]) -> Any:
        if key not in self._by_key:
            self._by_key[key] = self._add(timed(self._engine, start))
        return self._by_key[key]


class RedisFactory(_Factory):
    """redis_server(acl_file=None, *, acl_text=None, config=(), admin=False) -> RedisServer.

    Each call starts a new redis-server (local: ~0.1 s) loaded with that ACL file; all are stopped at the
    end of the session. A file redis rejects raises servers.EngineStartError with redis' own message."""

    def __init__(self, backend: str, engine: containers.ContainerEngine | None = None) -> None:
        super().__init__()
        self.backend = backend
        self.engine = engine

    def __call__(self, acl_file=None, *, acl_text=None, config=(), admin=False) -> servers.RedisServer:
        def start() -> servers.RedisServer:
            if self.engine is not None:
                return containers.start_redis_container(
                    self.engine, acl_file, acl_text=acl_text, config=config, admin=admin
                )
            return servers.start_redis(acl_file, acl_text=acl_text, config=config, admin=admin)

        return self._add(timed(f"redis[{self.backend}]", start))


@pytest.fixture(scope="session", params=_backends())
def redis_server(request: pytest.FixtureRequest) -> Iterator[RedisFactory]:
    backend = request.param

    def local() -> None:
        pins.redis_binary()
        pins.require_python_module("redis", "redis", "redis")

    _check_backend("redis", backend, local)
    engine = request.getfixturevalue("container_engine") if backend == "container" else None
    factory = RedisFactory(backend, engine)
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
    if backend == "container":
        engine = request.getfixturevalue("container_engine")
        server = timed("postgres[container]", lambda: containers.start_postgres_container(engine))
    else:
        server = timed("postgres[local]", servers.start_postgres)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def kafka_broker() -> Iterator[servers.KafkaBroker]:
    broker = local_engine(lambda: timed("kafka", servers.start_kafka))
    yield broker
    broker.stop()


@pytest.fixture(scope="session")
def minio_server() -> Iterator[servers.MinioServer]:
    server = local_engine(lambda: timed("minio", servers.start_minio))
    yield server
    server.stop()


class QuestDBFactory(_SharedFactory):
    """questdb_server(pg_user="admin", pg_password=None, config=None) -> QuestDBServer, one server per
    distinct (user, password, config) for the session (a start takes a few seconds)."""

    def __init__(self) -> None:
        super().__init__("questdb")

    def __call__(self, pg_user: str = "admin", pg_password: str | None = None, config=None) -> servers.QuestDBServer:
        password = self._default_password if pg_password is None else pg_password
        key = (pg_user, password, tuple(sorted((config or {}).items())))
        return self._shared(key, lambda: servers.start_questdb(pg_user, password, config=config))


@pytest.fixture(scope="session")
def questdb_server() -> Iterator[QuestDBFactory]:
    def available() -> None:
        pins.questdb_jar()
        pins.require_python_module("questdb", "psycopg", "psycopg[binary]")

    local_engine(available)
    factory = QuestDBFactory()
    yield factory
    factory.close()


class Neo4jFactory(_SharedFactory):
    """neo4j_server(password=None) -> Neo4jServer (user `neo4j`, auth on), one per password per session
    (a start takes 15-40 s)."""

    def __init__(self) -> None:
        super().__init__("neo4j")

    def __call__(self, password: str | None = None) -> servers.Neo4jServer:
        password = password or self._default_password
        return self._shared(password, lambda: servers.start_neo4j(password=password))


@pytest.fixture(scope="session")
def neo4j_server() -> Iterator[Neo4jFactory]:
    def available() -> None:
        pins.neo4j_classpath()
        pins.require_python_module("neo4j", "neo4j", "neo4j")

    local_engine(available)
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

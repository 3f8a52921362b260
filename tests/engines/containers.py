"""The same servers from container images (testcontainers), where a Docker engine is reachable.

They return the very objects servers.py returns (RedisServer, PostgresServer, with backend="container"),
so a provisioning test runs unchanged against the local engine and the image. Images are pinned in
pyproject.toml [tool.qmtl-stack.engines] (redis_image, postgres_image).
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import os
import pathlib
import shutil
import subprocess
import time
from collections.abc import Iterable

from . import pins
from .pins import EngineStartError
from .servers import (
    PostgresServer,
    RedisServer,
    _password,
    _redis_ping,
    local_psql_runner,
    prepare_acl,
    redis_config,
)

_COUNTER = itertools.count()


@functools.cache
def docker_unavailable_reason() -> str | None:
    """None when a Docker engine answers a ping, else why not (no engine on this machine kind)."""
    try:
        import docker
    except ImportError:
        return "the `docker` Python package (a testcontainers dependency) is not installed"
    try:
        client = docker.from_env(timeout=5)
        client.ping()
    except Exception as exc:
        host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
        return f"no Docker engine reachable at {host} ({type(exc).__name__}: {str(exc)[:160]})"
    return None


def _image_tag(image: str) -> str:
    return image.rsplit(":", 1)[-1] if ":" in image.rsplit("/", 1)[-1] else "latest"


def _wait(container, check, *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        container.reload()
        if container.status in ("exited", "dead"):
            logs = b"".join(container.get_logs()).decode(errors="replace")
            raise EngineStartError(f"{what} container exited before it was ready:\n{logs[-4000:]}")
        try:
            if check():
                return
        except Exception as exc:
            last = exc
        time.sleep(0.25)
    logs = b"".join(container.get_logs()).decode(errors="replace")
    container.stop()
    raise EngineStartError(f"{what} container not ready after {timeout:.0f}s ({last!r}):\n{logs[-4000:]}")


def start_redis_container(
    acl_file: str | os.PathLike | None = None,
    *,
    acl_text: str | None = None,
    config: Iterable[str] = (),
    admin: bool = False,
    timeout: float = 120,
) -> RedisServer:
    from testcontainers.core.container import DockerContainer

    image = pins.pins()["redis_image"]
    text, admin_user, admin_pw = prepare_acl(acl_file, acl_text, admin)
    acl_path = "/tmp/qmtl-users.acl" if text is not None else None
    conf = redis_config(port=6379, bind="0.0.0.0", data_dir="/data", acl_path=acl_path, extra=config)
    container = (
        DockerContainer(image)
        .with_exposed_ports(6379)
        .with_copy_into_container(conf.encode(), "/tmp/qmtl-redis.conf")
        .with_command(["redis-server", "/tmp/qmtl-redis.conf"])
    )
    if text is not None:
        container = container.with_copy_into_container(text.encode(), acl_path)
    container.start()
    try:
        host = container.get_container_host_ip()
        port = int(container.get_exposed_port(6379))
        _wait(container, lambda: _redis_ping(host, port), timeout=timeout, what=f"redis ({image})")
    except BaseException:
        container.stop()
        raise
    return RedisServer(host, port, _image_tag(image), None, "container", admin_user, admin_pw, None, None, container)


def _exec_psql_runner(container):
    """psql inside the container, for hosts without a psql client."""

    def runner(argv: list[str], env: dict[str, str], input: str | None) -> subprocess.CompletedProcess:
        argv = list(argv)
        if input is not None:  # "-f -": hand the text over as a file
            path = f"/tmp/qmtl-{next(_COUNTER)}.sql"
            container.copy_into_container(input.encode(), path)
            argv[argv.index("-")] = path
        res = container.get_wrapped_container().exec_run(
            ["psql", "-h", "127.0.0.1", "-p", "5432", *argv], environment=env, demux=True
        )
        out, err = res.output
        return subprocess.CompletedProcess(
            argv, res.exit_code, (out or b"").decode(errors="replace"), (err or b"").decode(errors="replace")
        )

    return runner


def start_postgres_container(*, superuser_password: str | None = None, timeout: float = 180) -> PostgresServer:
    """The official postgres image: its pg_hba uses scram-sha-256 for TCP once POSTGRES_PASSWORD is set."""
    from testcontainers.core.container import DockerContainer

    image = pins.pins()["postgres_image"]
    password = superuser_password or _password()
    container = (
        DockerContainer(image)
        .with_env("POSTGRES_USER", "postgres")
        .with_env("POSTGRES_PASSWORD", password)
        .with_env("POSTGRES_HOST_AUTH_METHOD", "scram-sha-256")
        .with_env("POSTGRES_INITDB_ARGS", "--auth-host=scram-sha-256 --auth-local=scram-sha-256")
        .with_exposed_ports(5432)
    )
    container.start()
    try:
        host = container.get_container_host_ip()
        port = int(container.get_exposed_port(5432))
        local_psql = shutil.which("psql")
        with contextlib.suppress(pins.EngineUnavailable):
            local_psql = pins.postgres_binaries().tool("psql")
        if local_psql:
            runner, file_arg = local_psql_runner(local_psql, host, port), str
        else:
            runner = _exec_psql_runner(container)

            def file_arg(path: pathlib.Path) -> str:
                target = f"/tmp/qmtl-{next(_COUNTER)}-{path.name}"
                container.copy_into_container(path.read_bytes(), target)
                return target

        server = PostgresServer(
            host,
            port,
            _image_tag(image),
            "postgres",
            password,
            "container",
            None,
            None,
            container,
            _psql_runner=runner,
            _file_arg=file_arg,
        )

        def ready() -> bool:
            with server.connect() as conn:
                conn.execute("SELECT 1")
            return True

        _wait(container, ready, timeout=timeout, what=f"postgres ({image})")
    except BaseException:
        container.stop()
        raise
    return server

"""The same servers from container images (testcontainers): through a Docker engine where one is reachable,
else through podman's Docker-compatible API in a network namespace of its own (podman_service.py).

They return the very objects servers.py returns (RedisServer, PostgresServer, with backend="container"),
so a provisioning test runs unchanged against the local engine and the image. The images are this
repository's dependency images, images/redis and images/postgres (scripts/images.sh builds them once per
run from the same Debian packages and pins as the local servers; nothing is pulled). A Docker engine that
lacks them gets them from podman (`podman save`, then the engine's image load).

    engine = start_engine()           # session fixture `container_engine` (fixtures.py) does this
    redis = start_redis_container(engine, acl_text=...)
    engine.stop()

Which engine: QMTL_CONTAINER_ENGINE=docker or podman chooses; by default a Docker engine when one answers
(DOCKER_HOST, or the default socket), else the podman service.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import os
import pathlib
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from . import pins, podman_service
from .images import ensure_images, podman_unavailable_reason
from .pins import EngineStartError, EngineUnavailable
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
# a container's states before it runs (Docker's, and podman's through its Docker API); any other state but
# "running" means it is not going to run (Docker says "exited", podman "stopped")
STARTING = ("created", "configured", "initialized", "restarting")
IMAGES = ("redis", "postgres")  # images/<name>: what the container backend runs
ENGINE_ENV = "QMTL_CONTAINER_ENGINE"


@functools.cache
def docker_unavailable_reason() -> str | None:
    """None when a Docker engine answers a ping, else why not."""
    try:
        import docker
    except ImportError:
        return "the `docker` Python package (a testcontainers dependency) is not installed"
    try:
        client = docker.from_env(timeout=5)
        client.ping()
        client.close()
    except Exception as exc:
        host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
        return f"no Docker engine reachable at {host} ({type(exc).__name__}: {str(exc)[:160]})"
    return None


def _chosen() -> str:
    chosen = os.environ.get(ENGINE_ENV, "")
    if chosen not in ("", "docker", "podman"):
        raise ValueError(f"{ENGINE_ENV}={chosen!r}: docker, podman, or unset (Docker when one answers, else podman)")
    if chosen:
        return chosen
    return "docker" if docker_unavailable_reason() is None else "podman"


def engine_unavailable_reason() -> str | None:
    """None when the container backend can run here, else why not (both engines' reasons)."""
    if _chosen() == "docker":
        return docker_unavailable_reason()
    reason = podman_service.unavailable_reason() or podman_unavailable_reason()
    if reason is None:
        return None
    docker = "" if os.environ.get(ENGINE_ENV) == "podman" else f"{docker_unavailable_reason()}; "
    return f"{docker}podman: {reason}"


@dataclass
class ContainerEngine:
    """The engine the backend's containers run on, and how this host reaches their published ports."""

    kind: str  # "docker" or "podman"
    images: dict[str, str]  # images/<name> -> reference
    service: podman_service.PodmanService | None = None
    _saved_env: dict[str, str | None] = field(default_factory=dict)
    _saved_config: dict[str, Any] = field(default_factory=dict)

    def container(self, name: str):
        """A testcontainers DockerContainer of image images/<name>, on this engine."""
        from testcontainers.core.container import DockerContainer

        return DockerContainer(self.images[name])

    def endpoint(self, container, port: int) -> tuple[str, int]:
        """host, port of this host at which the container's `port` (published) answers."""
        if self.service is None:
            return container.get_container_host_ip(), int(container.get_exposed_port(port))
        published = int(container.get_exposed_port(port))  # bound inside the service's namespace
        return self.service.forward(published)

    def stop(self) -> None:
        if self.service is not None:
            self.service.stop()
            self.service = None
        for key, value in self._saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        if self._saved_config:
            from testcontainers.core.config import testcontainers_config

            for key, value in self._saved_config.items():
                setattr(testcontainers_config, key, value)


def start_engine() -> ContainerEngine:
    """The container engine for this process: the images built (or loaded into Docker), the podman service
    started when there is no Docker engine. EngineUnavailable says what is missing."""
    reason = engine_unavailable_reason()
    if reason:
        raise EngineUnavailable(f"container backend: {reason}")
    if _chosen() == "docker":
        return ContainerEngine("docker", {name: _docker_image(name) for name in IMAGES})
    images = ensure_images(*IMAGES)  # before the service starts: it reads them from the build's store
    service = podman_service.PodmanService.start()
    engine = ContainerEngine("podman", images, service)
    engine._saved_env = {"DOCKER_HOST": os.environ.get("DOCKER_HOST")}
    os.environ["DOCKER_HOST"] = service.docker_host  # testcontainers' client reads it
    from testcontainers.core.config import ConnectionMode, testcontainers_config

    engine._saved_config = {
        "ryuk_disabled": testcontainers_config.ryuk_disabled,
        "connection_mode_override": testcontainers_config.connection_mode_override,
    }
    # no reaper container (its image is not here; stop() removes every container), and published ports
    # are the service's, whatever testcontainers guesses from this process running inside a container
    testcontainers_config.ryuk_disabled = True
    testcontainers_config.connection_mode_override = ConnectionMode.docker_host
    return engine


def _docker_image(name: str) -> str:
    """images/<name> in the Docker engine: the one podman built (loaded when the engine has another or
    none), or, where podman does not work, the engine's own copy."""
    import docker

    from .images import IMAGES_SH, image_refs

    ref = image_refs(name)[name]
    client = docker.from_env(timeout=300)
    try:
        try:
            have = client.images.get(ref).id
        except docker.errors.ImageNotFound:
            have = None
        if podman_unavailable_reason() is not None:
            if have is None:
                raise EngineUnavailable(
                    f"the Docker engine has no {ref}, and podman, which builds it, does not work here: build "
                    f"it with `scripts/images.sh build {name}` where podman works and load it "
                    f"(`scripts/images.sh podman save {ref} | docker load`)"
                )
            return ref
        ensure_images(name)
        built = _podman(str(IMAGES_SH), "image", "inspect", "--format", "{{.Id}}", ref).strip()
        if have is None or have.removeprefix("sha256:") != built.removeprefix("sha256:"):
            with tempfile.TemporaryDirectory() as tmp:
                archive = pathlib.Path(tmp) / f"{name}.tar"
                _podman(str(IMAGES_SH), "save", "--quiet", "--format", "docker-archive", "-o", str(archive), ref)
                with archive.open("rb") as data:
                    client.images.load(data)
        return ref
    finally:
        client.close()


def _podman(images_sh: str, *args: str) -> str:
    done = subprocess.run([images_sh, "podman", *args], capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise AssertionError(f"podman {' '.join(args)}: {done.stderr[-2000:]}")
    return done.stdout


def _image_tag(image: str) -> str:
    return image.rsplit(":", 1)[-1] if ":" in image.rsplit("/", 1)[-1] else "latest"


def _endpoint(engine: ContainerEngine, container, port: int, *, what: str, timeout: float = 60) -> tuple[str, int]:
    """The container is running (one that exits at once, e.g. on a bad config, raises EngineStartError with
    its log) and its published `port` is reachable from this host at the address returned."""
    deadline = time.monotonic() + timeout
    while True:
        container.reload()
        status = container.status
        if status == "running":
            try:
                return engine.endpoint(container, port)
            except Exception as exc:  # it stopped meanwhile: say why, with its log
                container.reload()
                if container.status == "running":
                    raise
                logs = b"".join(container.get_logs()).decode(errors="replace")
                raise EngineStartError(f"{what} container exited:\n{logs[-4000:]}") from exc
        if status not in STARTING or time.monotonic() > deadline:
            logs = b"".join(container.get_logs()).decode(errors="replace")
            raise EngineStartError(f"{what} container is {status}, not running:\n{logs[-4000:]}")
        time.sleep(0.1)


def _wait(container, check, *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        container.reload()
        if container.status != "running":
            logs = b"".join(container.get_logs()).decode(errors="replace")
            raise EngineStartError(f"{what} container is {container.status} before it was ready:\n{logs[-4000:]}")
        try:
            if check():
                return
        except Exception as exc:
            last = exc
        time.sleep(0.25)
    logs = b"".join(container.get_logs()).decode(errors="replace")
    raise EngineStartError(f"{what} container not ready after {timeout:.0f}s ({last!r}):\n{logs[-4000:]}")


def start_redis_container(
    engine: ContainerEngine,
    acl_file: str | os.PathLike | None = None,
    *,
    acl_text: str | None = None,
    config: Iterable[str] = (),
    admin: bool = False,
    timeout: float = 120,
) -> RedisServer:
    """redis-server of images/redis, as the local one: the ACL file and config given, port 6379 published."""
    image = engine.images["redis"]
    text, admin_user, admin_pw = prepare_acl(acl_file, acl_text, admin)
    acl_path = "/tmp/qmtl-users.acl" if text is not None else None
    conf = redis_config(port=6379, bind="0.0.0.0", data_dir="/data", acl_path=acl_path, extra=config)
    container = (
        engine.container("redis")
        .with_exposed_ports(6379)
        .with_copy_into_container(conf.encode(), "/tmp/qmtl-redis.conf")
        .with_command(["redis-server", "/tmp/qmtl-redis.conf"])
    )
    if text is not None:
        container = container.with_copy_into_container(text.encode(), acl_path)
    container.start()
    try:
        host, port = _endpoint(engine, container, 6379, what=f"redis ({image})")
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


# images/postgres has no entrypoint (it is not the official image): the cluster is made here, as the local
# server's is (servers.start_postgres), with SCRAM for local and TCP logins, the superuser's password from
# the environment (never an argument), and one pg_hba rule more for TCP from any address (the published
# port's connections come from the network's gateway).
POSTGRES_INIT = """set -eu
umask 077
printf '%s\\n' "$POSTGRES_PASSWORD" >/tmp/superuser.pw
initdb -D "$PGDATA" -U postgres --pwfile=/tmp/superuser.pw --auth-local=scram-sha-256 --auth-host=scram-sha-256 \\
  -E UTF8 --locale=C --no-sync >/tmp/initdb.log
rm -f /tmp/superuser.pw
echo 'host all all all scram-sha-256' >>"$PGDATA/pg_hba.conf"
exec postgres -c listen_addresses='*' -c fsync=off -c synchronous_commit=off -c full_page_writes=off \\
  -c password_encryption=scram-sha-256
"""


def start_postgres_container(
    engine: ContainerEngine, *, superuser_password: str | None = None, timeout: float = 180
) -> PostgresServer:
    """PostgreSQL of images/postgres: a fresh cluster, password (SCRAM) authentication on TCP, port 5432
    published."""
    image = engine.images["postgres"]
    password = superuser_password or _password()
    container = (
        engine.container("postgres")
        .with_env("POSTGRES_PASSWORD", password)
        .with_exposed_ports(5432)
        .with_command(["sh", "-c", POSTGRES_INIT])
    )
    container.start()
    try:
        host, port = _endpoint(engine, container, 5432, what=f"postgres ({image})")
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

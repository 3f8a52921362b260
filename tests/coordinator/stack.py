"""The coordinator under test, wired exactly as the chart renders it.

render: the prod values with the bundled coordinator; the coordinator Deployment's env is resolved the way
the kubelet would (secretKeyRef from the rendered Secrets, COORDINATOR_ID from the pod name), and the Redis
ACL the chart renders for the coordinator's Redis is the one the test redis-server loads. Only what cannot
be the cluster's is replaced: the listen addresses (free loopback ports) and the Services' host:port in
REDIS_DSN and QUESTDB_DSN (the test servers').

    stack = Stack.start(redis, questdb, replicas=2)     # console-script subprocesses, ready on /healthz
    stack.replicas[0].client.post("/v1/leases/claim", {...})
    stack.stop()
"""

from __future__ import annotations

import contextlib
import functools
import os
import pathlib
import signal
import sys
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

import pytest

from tests.core.common import PROD
from tests.engines import fixtures, pins, servers
from tests.engines._proc import Process, free_port, make_workdir, remove_workdir, wait_until
from tests.harness import render_chart
from tests.harness.objects import env as env_by_name
from tests.harness.objects import redis_acl, secret_data

from .api_client import Client

VALUES = PROD  # prod, everything bundled, the coordinator deployed
CONSOLE_SCRIPT = pathlib.Path(sys.executable).with_name("seamless-coordinator")
QMTL_PYTHON_DEFAULT = pathlib.Path(__file__).resolve().parents[2] / ".tools" / "qmtl" / "venv" / "bin" / "python"


@dataclass(frozen=True)
class RenderedCoordinator:
    env: dict[str, str]  # the container's env as the kubelet gives it (COORDINATOR_ID: the pod's name)
    acl: str  # the ACL file of the Redis the coordinator talks to
    redis_user: str
    redis_password: str
    questdb_user: str
    questdb_password: str


def resolve_env(rendered, container: dict, pod_name: str, user_secrets: bool = False) -> dict[str, str]:
    """The container's env as the kubelet gives it: values, the rendered Secrets' keys, the pod's name.
    user_secrets: a Secret the chart does not render (a managed dependency's) gives "<secret>/<key>"."""
    out = {}
    rendered_secrets = {o["metadata"]["name"] for o in rendered.by_kind("Secret")}
    for name, entry in env_by_name(container).items():
        source = entry.get("valueFrom")
        if source is None:
            out[name] = entry["value"]
        elif "secretKeyRef" in source:
            ref = source["secretKeyRef"]
            if user_secrets and ref["name"] not in rendered_secrets:
                out[name] = f"{ref['name']}/{ref['key']}"
            else:
                out[name] = secret_data(rendered, ref["name"])[ref["key"]]
        elif source.get("fieldRef", {}).get("fieldPath") == "metadata.name":
            out[name] = pod_name
        else:
            raise ValueError(f"env {name}: cannot resolve {source}")
    return out


@functools.cache
def rendered(values_key: str = "prod") -> RenderedCoordinator:
    values = {"prod": VALUES}[values_key]
    objs = render_chart(values)
    deployment = objs.get("Deployment", "seamless-coordinator")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    env = resolve_env(objs, container, "seamless-coordinator-0")
    # the ACL file the coordinator's Redis instance serves (its init container run for real)
    acl = redis_acl(objs, urlsplit(env["REDIS_DSN"]).hostname)
    return RenderedCoordinator(
        env=env,
        acl=acl,
        redis_user=env["REDIS_USER"],
        redis_password=env["REDIS_PASSWORD"],
        questdb_user=env["QUESTDB_USER"],
        questdb_password=env["QUESTDB_PASSWORD"],
    )


def _retarget(url: str, host: str, port: int) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=f"{host}:{port}"))


def console_script() -> str:
    if not CONSOLE_SCRIPT.exists():
        pytest.fail(
            f"{CONSOLE_SCRIPT} is missing: scripts/setup.sh installs the coordinator (images/seamless-coordinator) "
            "into .venv",
            pytrace=False,
        )
    return str(CONSOLE_SCRIPT)


def qmtl_python() -> str:
    """QMTL's interpreter (its client runs there): env QMTL_PYTHON, else .tools/qmtl/venv/bin/python. Missing:
    skip, or fail under QMTL_REQUIRE_ENGINES=1."""
    path = pathlib.Path(os.environ.get("QMTL_PYTHON") or QMTL_PYTHON_DEFAULT)
    if not path.exists():
        reason = (
            f"QMTL's Python ({path}) is missing, so QMTL's own DistributedBackfillCoordinator cannot be run "
            "against the coordinator here: scripts/setup.sh makes .tools/qmtl/venv, or set QMTL_PYTHON to an "
            "interpreter with qmtl installed"
        )
        if os.environ.get("QMTL_REQUIRE_ENGINES") == "1":
            pytest.fail(f"{reason} [QMTL_REQUIRE_ENGINES=1: a failure, not a skip]", pytrace=False)
        pytest.skip(reason)
    return str(path)


@dataclass
class Replica:
    name: str
    port: int
    metrics_port: int
    env: dict[str, str]
    workdir: pathlib.Path
    proc: Process | None = None
    client: Client = field(init=False)

    def __post_init__(self) -> None:
        self.client = Client(self.url)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 20) -> Replica:
        self.proc = Process(
            f"coordinator-{self.name}",
            [console_script()],
            log_path=self.workdir / f"{self.name}.log",
            cwd=self.workdir,
            env=self.env,
        )
        wait_until(self.proc, self.healthy, timeout=timeout, what=f"coordinator {self.name}", interval=0.05)
        return self

    def healthy(self) -> bool:
        return self.health()[0] == 200

    def health(self) -> tuple[int, object]:
        return Client(self.url, timeout=5).get("/healthz")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.alive()

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, sig)

    def kill(self) -> None:
        self.signal(signal.SIGKILL)
        self.proc.popen.wait(10)

    def log(self) -> str:
        return self.proc.log(200) if self.proc else ""

    def metrics(self) -> str:
        import urllib.request

        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5) as resp:
            return resp.read().decode()

    def stop(self) -> None:
        self.client.close()
        if self.proc is not None:
            self.proc.stop(timeout=10)


@dataclass
class Stack:
    redis: servers.RedisServer
    questdb: servers.QuestDBServer | None
    replicas: list[Replica]
    workdir: pathlib.Path

    @classmethod
    def start(
        cls,
        redis: servers.RedisServer,
        questdb: servers.QuestDBServer | None,
        replicas: int = 2,
        extra_env: dict[str, str] | None = None,
    ) -> Stack:
        workdir = make_workdir("coordinator")
        stack = cls(redis, questdb, [], workdir)
        try:
            for index in range(replicas):
                stack.replicas.append(stack.new_replica(f"r{index}", extra_env).start())
            if questdb is not None:  # the journal has read QuestDB once: completion_ratio is known
                for replica in stack.replicas:
                    wait_for(lambda r=replica: r.health()[1].get("questdb") == "ok", 90, what=f"{replica.name} journal")
        except BaseException:
            stack.stop()
            raise
        return stack

    def new_replica(self, name: str, extra_env: dict[str, str] | None = None) -> Replica:
        env = dict(rendered().env)
        port, metrics_port = free_port(), free_port()
        env.update(
            COORDINATOR_ID=f"seamless-coordinator-{name}",
            BIND_ADDR=f"127.0.0.1:{port}",
            PROMETHEUS_PORT=str(metrics_port),
            REDIS_DSN=_retarget(env["REDIS_DSN"], self.redis.host, self.redis.port),
        )
        if self.questdb is not None:
            env["QUESTDB_DSN"] = _retarget(env["QUESTDB_DSN"], self.questdb.host, self.questdb.pg_port)
        else:
            env["QUESTDB_DSN"] = ""
        env.update(extra_env or {})
        return Replica(name, port, metrics_port, env, self.workdir)

    @property
    def urls(self) -> list[str]:
        return [r.url for r in self.replicas]

    def stop(self) -> None:
        for replica in self.replicas:
            with contextlib.suppress(Exception):
                replica.stop()
        remove_workdir(self.workdir)


# ------------------------------------------------------------------------------------------------ engines
def start_redis() -> servers.RedisServer:
    """A redis-server loaded with the ACL the chart renders for the coordinator's Redis (no other user)."""
    return fixtures.local_engine(lambda: servers.start_redis(acl_text=rendered().acl))


def coordinator_redis(server: servers.RedisServer):
    """The coordinator's own Redis user (the only one the tests use to look at its keys)."""
    r = rendered()
    db = int(urlsplit(r.env["REDIS_DSN"]).path.strip("/") or 0)
    return server.client(r.redis_user, r.redis_password, db=db)


def stop_redis(server: servers.RedisServer) -> None:
    """Stop the redis-server process (its workdir, config and ACL file stay for restart_redis)."""
    assert server._proc is not None
    server._proc.stop()


def restart_redis(server: servers.RedisServer, timeout: float = 20) -> None:
    """Start redis-server again on the same port with the same config and ACL file."""
    assert server.workdir is not None
    conf = server.workdir / "redis.conf"
    server._proc = Process("redis", [pins.redis_binary().path, str(conf)], log_path=server.workdir / "redis.log")
    wait_until(
        server._proc,
        lambda: servers._redis_ping(server.host, server.port),
        timeout=timeout,
        what="redis-server (restart)",
    )


def signal_redis(server: servers.RedisServer, sig: int) -> None:
    """SIGSTOP: redis-server hangs (connections stay open, nothing answers); SIGCONT: it resumes."""
    assert server._proc is not None
    os.kill(server._proc.pid, sig)


def wait_for(predicate, timeout: float, interval: float = 0.05, what: str = "condition"):
    """Poll until predicate() is truthy; its value, or AssertionError after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"{what}: not reached within {timeout} s (last: {last!r})")

"""Managed services for the smoke suite on the local cluster's real node: the REAL dependency engines of
tests/engines, run inside the cluster's network namespace and reached by the pods at the node address
(10.0.0.1), the way the chart supports a managed service: `global.<dep>.enabled: false` + `external` + an
existing Secret. Used for every dependency whose image cannot run on the node here (the official images
cannot be pulled); which ones that is, is a VALUES decision (tests/smoke/real-node.yaml):

    managed = dependencies the profile enables (values/<profile>.yaml and its overlays)
              and tests/smoke/real-node.yaml switches off (global.<dep>.enabled: false)

Switching a dependency to its bundled image is therefore a values change: set its `enabled: true` in
real-node.yaml (and point its image at one the node has).

Each managed service is provisioned as an operator provisions a managed service for this chart (the
overlays' instructions in values/*.yaml): from the chart's own render of the bundled dependency (the same
profile with the dependency on): Redis gets the rendered ACL users (with their rendered passwords),
PostgreSQL the rendered provisioning Job's roles and databases, the Kafka ControlBus the rendered topic/ACL
plan (replication factor 1 on the one test broker), MinIO the rendered provisioning Job's bucket, user and
policy, QuestDB the coordinator's rendered credentials, Neo4j the DAG Manager's rendered password. The same
passwords go into the Secrets the external blocks name.

Two halves:
- the host (pytest): `ManagedServices.start(...)` runs this module's `serve` inside the cluster's network
  namespace (`scripts/local-cluster.sh exec`), waits for its state file, creates the Secrets in the
  release's namespace and returns the values overlay; `forward(dep)` gives the host a loopback port to a
  service (nsforward, the cluster's own bridge); `stop()`.
- the namespace: `python -m tests.smoke.managed serve --state DIR --deps redis,...` starts the engines bound
  to the node address, provisions them, writes DIR/state.json and serves until SIGTERM. Nothing routes out
  of the namespace: the engines are reachable from the pods and, through nsforward, from the host only.
"""

from __future__ import annotations

import argparse
import atexit
import base64
import concurrent.futures
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from tests.harness.paths import REPO_ROOT, TOOLS_BIN

LOCAL_CLUSTER = REPO_ROOT / "scripts" / "local-cluster.sh"
REAL_NODE_VALUES = Path(__file__).resolve().parent / "real-node.yaml"
# The images of the dependencies real-node.yaml bundles (added before it to every install on the real node).
LOCAL_DEPENDENCY_IMAGES = REPO_ROOT / "values" / "local-dependency-images.yaml"
NODE_IP = "10.0.0.1"  # scripts/local-cluster.sh NODE_IP: the node's address, on the namespace's loopback
CIDRS = [f"{NODE_IP}/32"]
# global.<block> of each dependency, in the order they are started (the slow JVMs first)
DEPENDENCIES = ("controlbus", "neo4j", "questdb", "postgres", "redis", "minio")
# Secrets holding the managed services' credentials (never one of the chart's own: qmtl.bundledSecretNames)
SECRET = {
    "redis": "qmtl-redis-managed",
    "postgres": "qmtl-postgres-managed",
    "neo4j": "qmtl-neo4j-managed",
    "questdb": "qmtl-questdb-managed",
    "minio": "qmtl-s3-managed",
}
START_TIMEOUT = 420


# =========================================================================================== which are managed
def _values(*files: Path | str) -> dict:
    from tests.harness.objects import chart_values

    return chart_values(*files)


def managed_dependencies(profile_files: Iterable[Path | str]) -> list[str]:
    """The dependencies the profile enables and tests/smoke/real-node.yaml switches off."""
    files = tuple(profile_files)
    profile = _values(*files)["global"]
    here = _values(*files, REAL_NODE_VALUES)["global"]
    return [d for d in DEPENDENCIES if profile[d].get("enabled") and not here[d].get("enabled")]


# =========================================================================================== host side
def _b64(value: str) -> str:
    return base64.b64encode(value.encode()).decode()


@dataclass
class ManagedServices:
    """The engines of one install, running in the cluster's network namespace (see the module docstring)."""

    deps: list[str]
    state_dir: Path
    state: dict
    process: subprocess.Popen | None
    log_path: Path
    seconds_to_start: float
    _forwards: list[subprocess.Popen] = field(default_factory=list)

    @classmethod
    def start(cls, deps: Iterable[str], bundled_render_text: str, workdir: Path) -> ManagedServices:
        """Start and provision `deps` from the chart's render of them bundled (its text)."""
        deps = [d for d in DEPENDENCIES if d in set(deps)]
        workdir.mkdir(parents=True, exist_ok=True)
        (workdir / "bundled.yaml").write_text(bundled_render_text)
        log_path = workdir / "managed.log"
        t0 = time.monotonic()
        if not deps:
            return cls([], workdir, {"values": {}, "secrets": {}, "access": {}}, None, log_path, 0.0)
        with log_path.open("w") as log:
            process = subprocess.Popen(
                [
                    "bash", str(LOCAL_CLUSTER), "exec", sys.executable, "-m", "tests.smoke.managed", "serve",
                    "--state", str(workdir), "--deps", ",".join(deps), "--bind", NODE_IP,
                ],
                cwd=REPO_ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        state_file = workdir / "state.json"
        deadline = time.monotonic() + START_TIMEOUT
        while not state_file.exists():
            if process.poll() is not None:
                raise AssertionError(f"the managed services ({deps}) exited {process.returncode}:\n{_tail(log_path)}")
            if time.monotonic() > deadline:
                _terminate(process)
                raise AssertionError(
                    f"the managed services ({deps}) were not up in {START_TIMEOUT} s:\n{_tail(log_path)}"
                )
            time.sleep(0.5)
        state = json.loads(state_file.read_text())
        services = cls(deps, workdir, state, process, log_path, time.monotonic() - t0)
        atexit.register(services.stop)  # also when the session ends without its finalizers
        return services

    # -- what an install needs -------------------------------------------------------------------------
    def values(self) -> dict:
        """The values overlay: each managed dependency off, its `external` block on the running engine."""
        return self.state["values"]

    def values_file(self) -> Path:
        path = self.state_dir / "managed-values.yaml"
        path.write_text(
            "# Generated by tests/smoke/managed.py: the managed services of this install (real engines in the\n"
            "# local cluster's network namespace, at the node address).\n" + yaml.safe_dump(self.values())
        )
        return path

    def secrets(self) -> list[dict]:
        """The Secrets the external blocks name, as objects to create in the release's namespace."""
        return [
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": name, "labels": {"qmtl-stack.io/smoke": "managed-service"}},
                "type": "Opaque",
                "data": {key: _b64(value) for key, value in data.items()},
            }
            for name, data in sorted(self.state["secrets"].items())
        ]

    def access(self, dep: str) -> dict:
        """Where the host-side test reaches `dep` and as whom (admin credentials of the engine)."""
        return self.state["access"][dep]

    def forward(self, dep: str, port_key: str = "port") -> int:
        """A loopback port on the host that reaches `dep`'s `port_key` port in the cluster's namespace."""
        from tests.engines._proc import free_port

        target = f"{NODE_IP}:{self.access(dep)[port_key]}"
        netns = _cluster_info()["NETNS"]
        for _ in range(5):
            port = free_port()
            proc = subprocess.Popen(
                [str(TOOLS_BIN / "nsforward"), "-listen", f"127.0.0.1:{port}", "-netns", netns, "-connect", target],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and proc.poll() is None:
                with contextlib.suppress(OSError):
                    import socket

                    with socket.create_connection(("127.0.0.1", port), timeout=1):
                        self._forwards.append(proc)
                        return port
                time.sleep(0.1)
            _terminate(proc)
        raise AssertionError(f"nsforward to {dep} at {target} did not start")

    def stop(self) -> None:
        for proc in self._forwards:
            _terminate(proc)
        self._forwards.clear()
        if self.process is not None:
            _terminate(self.process, grace=30)
            self.process = None


def _terminate(proc: subprocess.Popen, grace: float = 5) -> None:
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.terminate()
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _tail(path: Path, lines: int = 60) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _cluster_info() -> dict[str, str]:
    out = subprocess.run(["bash", str(LOCAL_CLUSTER), "info"], capture_output=True, text=True, check=True).stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


# =========================================================================================== the namespace side
def _decoded(rendered, name: str) -> dict[str, str]:
    from tests.harness.objects import secret_data

    return secret_data(rendered, name)


def _start_all(deps: list[str], rendered) -> dict:
    """Start the engines of `deps` together (the JVMs take 10-60 s each), from threads that live as long as
    the servers (tests/engines kills a server when the thread that started it ends)."""
    from tests.engines import servers

    starters = {
        "redis": lambda: servers.start_redis(admin=True),
        "postgres": lambda: servers.start_postgres(clients="0.0.0.0/0"),  # pods and the node: no route out
        "controlbus": servers.start_kafka,
        "neo4j": lambda: servers.start_neo4j(password=_decoded(rendered, "qmtl-neo4j")["password"]),
        "questdb": lambda: servers.start_questdb(
            pg_user=_decoded(rendered, "qmtl-questdb")["username"],
            pg_password=_decoded(rendered, "qmtl-questdb")["password"],
        ),
        "minio": servers.start_minio,
    }
    pool = concurrent.futures.ThreadPoolExecutor(len(deps), thread_name_prefix="managed")
    futures = {dep: pool.submit(starters[dep]) for dep in deps}
    concurrent.futures.wait(futures.values())
    started = {dep: f.result() for dep, f in futures.items() if f.exception() is None}
    failed = {dep: f.exception() for dep, f in futures.items() if f.exception() is not None}
    if failed:
        for server in started.values():
            server.stop()
        raise RuntimeError(f"engines did not start: {failed}")
    started["_pool"] = pool  # kept alive with the servers
    return started


def _provision(dep: str, server, rendered, work: Path) -> tuple[dict, dict[str, dict[str, str]], dict]:
    """Provision one engine as the chart's bundled dependency would be; returns (its values under global.<dep>,
    {Secret name: data}, host-side access)."""
    from tests.harness.objects import redis_acl
    from tests.smoke.test_helm_test_checks import provision

    external: dict = {"cidrs": CIDRS}
    secrets: dict[str, dict[str, str]] = {}
    access: dict = {}
    if dep == "redis":
        acl = redis_acl(rendered)
        admin_line = f"user {server.admin_username} on >{server.admin_password} ~* &* +@all\n"
        server.acl_path.write_text(acl.rstrip("\n") + "\n" + admin_line)
        server.admin().execute_command("ACL", "LOAD")
        passwords = _decoded(rendered, "qmtl-redis-users")  # key: username
        users = {}
        for who, username in (
            ("gateway", "gateway"),
            ("worldservice", "worldservice"),
            ("seamless", "seamless-coordinator"),
            ("ratelimiter", "ratelimiter"),
        ):
            users[who] = {"username": username, "passwordKey": f"{username}-password"}
            secrets.setdefault(SECRET["redis"], {})[f"{username}-password"] = passwords[username]
        external |= {
            "host": NODE_IP,
            "port": server.port,
            "tls": False,
            "existingSecret": SECRET["redis"],
            "users": users,
        }
        access = {"port": server.port, "admin_user": server.admin_username, "admin_password": server.admin_password}
    elif dep == "postgres":
        from tests.engines import pins

        folder = work / "postgres-provision"
        folder.mkdir()
        provision(
            rendered,
            "postgres-provision",
            folder,
            os.environ,
            {
                "PGHOST": server.host,
                "PGPORT": str(server.port),
                "PGUSER": server.superuser,
                "PGPASSWORD": server.superuser_password,
                "QMTL_PROVISION_WAIT_SECONDS": "30",
                "PATH": f"{pins.postgres_binaries().bindir}:{os.environ.get('PATH', '')}",
            },
            timeout=180,
        )
        data = _decoded(rendered, "qmtl-postgres")
        secrets[SECRET["postgres"]] = {k: data[k] for k in ("gateway-password", "worldservice-password")}
        external |= {"host": NODE_IP, "port": server.port, "sslmode": "disable", "existingSecret": SECRET["postgres"]}
        access = {"port": server.port, "admin_user": server.superuser, "admin_password": server.superuser_password}
    elif dep == "neo4j":
        secrets[SECRET["neo4j"]] = {"password": server.password}
        external |= {
            "uri": f"bolt://{NODE_IP}:{server.bolt_port}",
            "username": "neo4j",
            "existingSecret": SECRET["neo4j"],
        }
        access = {"port": server.bolt_port, "admin_user": "neo4j", "admin_password": server.password}
    elif dep == "questdb":
        secrets[SECRET["questdb"]] = {"username": server.pg_user, "password": server.pg_password}
        external |= {
            "host": NODE_IP,
            "port": server.pg_port,
            "database": "qmtl",
            "sslmode": "disable",
            "existingSecret": SECRET["questdb"],
        }
        access = {"port": server.pg_port, "admin_user": server.pg_user, "admin_password": server.pg_password}
    elif dep == "minio":
        folder = work / "minio-provision"
        folder.mkdir()
        provision(
            rendered,
            "minio-provision",
            folder,
            server.mc_env(),
            {
                "MINIO_ENDPOINT": server.url,
                "MINIO_ROOT_USER": server.root_user,
                "MINIO_ROOT_PASSWORD": server.root_password,
                "QMTL_PROVISION_WAIT_SECONDS": "30",
                "TMPDIR": str(folder),
            },
            timeout=180,
        )
        keys = _decoded(rendered, "qmtl-minio-coordinator")
        secrets[SECRET["minio"]] = {"access-key": keys["access-key"], "secret-key": keys["secret-key"]}
        external |= {"endpoint": server.url, "region": "us-east-1", "existingSecret": SECRET["minio"]}
        access = {"port": server.port, "admin_user": server.root_user, "admin_password": server.root_password}
    elif dep == "controlbus":
        from tests.images.test_prod import _provision_controlbus

        folder = work / "controlbus-provision"
        folder.mkdir()
        _provision_controlbus(rendered, server, folder)
        port = int(server.internal_bootstrap.rsplit(":", 1)[1])
        external |= {"brokers": [f"{NODE_IP}:{port}"]}
        access = {
            "port": port,
            "sasl_port": int(server.external_bootstrap.rsplit(":", 1)[1]),
            "admin_user": server.admin_user,
            "admin_password": server.admin_password,
        }
    else:
        raise ValueError(dep)
    return {"enabled": False, "external": external}, secrets, access


def serve(state_dir: Path, deps: list[str], bind: str) -> int:
    from qmtl_stack.render import Rendered, split_manifests

    from tests.engines import servers

    servers.LOOPBACK = bind  # every engine binds the node address (and its clients dial it)
    text = (state_dir / "bundled.yaml").read_text()
    rendered = Rendered(text, split_manifests(text), "managed-services")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    t0 = time.monotonic()
    started = _start_all(deps, rendered)
    print(f"managed services: {deps} started in {time.monotonic() - t0:.1f} s", flush=True)
    try:
        state: dict = {"values": {"global": {}}, "secrets": {}, "access": {}}
        with tempfile.TemporaryDirectory(prefix="qmtl-managed-") as tmp:
            for dep in deps:
                block, secrets, access = _provision(dep, started[dep], rendered, Path(tmp))
                state["values"]["global"][dep] = block
                state["secrets"] |= secrets
                state["access"][dep] = access
        state["seconds"] = round(time.monotonic() - t0, 1)
        partial = state_dir / "state.json.partial"
        partial.write_text(json.dumps(state, indent=2))
        os.chmod(partial, 0o600)
        partial.rename(state_dir / "state.json")
        print(f"managed services: provisioned in {time.monotonic() - t0:.1f} s; serving", flush=True)
        while not stop.wait(1):
            for dep in deps:
                proc = getattr(started[dep], "_proc", None)
                if proc is not None and not proc.alive():
                    print(f"managed services: {dep} exited:\n{started[dep].log()[-3000:]}", flush=True)
                    return 1
        return 0
    finally:
        for dep in reversed(deps):
            with contextlib.suppress(Exception):
                started[dep].stop()
        started["_pool"].shutdown(wait=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.smoke.managed")
    sub = parser.add_subparsers(dest="cmd", required=True)
    run = sub.add_parser("serve", help="start, provision and serve the engines (inside the cluster's namespace)")
    run.add_argument("--state", required=True, type=Path)
    run.add_argument("--deps", required=True)
    run.add_argument("--bind", default=NODE_IP)
    args = parser.parse_args(argv)
    deps = [d for d in args.deps.split(",") if d]
    unknown = sorted(set(deps) - set(DEPENDENCIES))
    if unknown:
        parser.error(f"unknown dependencies {unknown}; known: {', '.join(DEPENDENCIES)}")
    return serve(args.state, deps, args.bind)


if __name__ == "__main__":
    sys.exit(main())

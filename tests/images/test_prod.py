"""The prod profile's QMTL services run FROM THE IMAGE, each exactly as the chart renders its pod
(tests/images/pods.py), against the real servers of tests/engines, provisioned the way the chart does it:

- PostgreSQL: the rendered provisioning Job (roles and databases with the rendered passwords);
- Redis: the rendered ACL file, loaded by the server (ACL LOAD);
- Kafka as the ControlBus: the rendered topic/ACL plan applied by the rendered provision.sh (through the
  rpk stand-in of tests/dependencies, see test_controlbus_engine.py), QMTL's clients anonymous on the
  PLAINTEXT listener as on Redpanda's internal one; the test broker is one node, so the topics'
  replication factor is 1 instead of prod's 3 (the only change to the rendered plan);
- Neo4j: the dagmanager's password from the rendered Secret;
- the Seamless coordinator: a minimal HTTP server answering GET /healthz 200 on loopback, for the
  gateway's rendered coordinator-guard, until the coordinator image (images/seamless-coordinator) lands.

The pods share this host's network (the servers listen on loopback), so the release is rendered with
global.ports set to the servers' ports and to free ports for the services, and the rendered service
names resolve to 127.0.0.1. QMTL's gateway dials DAG Manager at a hard-coded 127.0.0.1:50051: the rendered
forwarder sidecar listens there, under a lock that keeps other runs on this machine off that port.

One test drives it all, step by step (one stack, on one xdist worker): the last step stops Neo4j.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import fcntl
import http.server
import json
import os
import socket
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from qmtl_stack.render import Rendered

from tests.core.common import GATEWAY_DAGMANAGER_DIAL, PROD, endpoints_in
from tests.dependencies.test_controlbus_engine import provision, write_plan_files
from tests.engines import servers
from tests.engines._proc import free_port
from tests.engines.fixtures import local_engine
from tests.engines.pins import postgres_binaries
from tests.harness import render_chart
from tests.harness.objects import layered, qmtl_config, redis_acl, resolved_env
from tests.images.pods import RenderedPod, check_probes_and_stay_up, wait_ready
from tests.images.qmtl_logs import unexpected_tracebacks
from tests.smoke.test_helm_test_checks import provision as run_provision_job

pytestmark = pytest.mark.engines

DIAL_HOST, DIAL_PORT = GATEWAY_DAGMANAGER_DIAL.rsplit(":", 1)
DIAL_LOCK = Path("/tmp") / f"qmtl-stack-loopback-{DIAL_PORT}.lock"  # one gateway forwarder per machine
STAY_UP_SECONDS = 15


# ------------------------------------------------------------------------------------------ the stack
class _Coordinator(http.server.ThreadingHTTPServer):
    """Answers GET /healthz with 200, as the coordinator's health endpoint does; records the paths."""

    def __init__(self, port: int):
        self.paths: list[str] = []
        super().__init__(("127.0.0.1", port), _CoordinatorHandler)


class _CoordinatorHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.server.paths.append(self.path)  # type: ignore[attr-defined]
        code = 200 if self.path == "/healthz" else 404
        body = b'{"status": "ok"}' if code == 200 else b"{}"
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@dataclass
class Stack:
    rendered: Rendered
    postgres: servers.PostgresServer
    redis: servers.RedisServer
    kafka: servers.KafkaBroker
    neo4j: servers.Neo4jServer
    coordinator: _Coordinator
    pods: dict[str, RenderedPod] = field(default_factory=dict)

    def ready(self, *services: str) -> None:
        """The services' pods are ready (their rendered startup and readiness probes pass)."""
        for service in services:
            wait_ready(self.pods[service])

    def main(self, service: str) -> dict:
        return self.pods[service].container_spec(service)

    def port(self, service: str, name: str = "http") -> int:
        return next(p["containerPort"] for p in self.main(service)["ports"] if p["name"] == name)

    def get_json(self, service: str, path: str, data: dict | None = None) -> tuple[int, object]:
        url = f"http://127.0.0.1:{self.port(service)}{path}"
        body = json.dumps(data).encode() if data is not None else None
        request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=15) as response:
            return response.status, json.loads(response.read() or b"null")


@contextlib.contextmanager
def _dial_port_lock(timeout: float = 600) -> Iterator[None]:
    """127.0.0.1:50051 of this machine for the duration (QMTL's hard-coded DAG Manager address)."""
    with DIAL_LOCK.open("w") as lock:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    pytest.fail(f"{DIAL_LOCK} stayed locked for {timeout:.0f}s (another run holds {DIAL_PORT})")
                time.sleep(2)
        with socket.socket() as probe:
            try:
                probe.bind((DIAL_HOST, int(DIAL_PORT)))
            except OSError as exc:
                pytest.fail(
                    f"{GATEWAY_DAGMANAGER_DIAL} is taken by a process that is not these tests ({exc}); QMTL's "
                    "gateway dials DAG Manager exactly there, so the gateway's pod cannot run on this host's network"
                )
        yield


def _one_broker_plan(plan: str) -> str:
    """The rendered plan for the one-broker test Kafka: topics' replication factor (column 4) 1 instead of
    prod's 3 (which a 1-broker cluster refuses); every other record as rendered."""
    lines = []
    for line in plan.splitlines():
        fields = line.split("\t")
        if fields[0] == "topic":
            assert fields[3].isdigit(), line
            fields[3] = "1"
        lines.append("\t".join(fields))
    return "\n".join(lines) + "\n"


def _provision_controlbus(rendered: Rendered, kafka: servers.KafkaBroker, folder: Path) -> None:
    data = rendered.get("ConfigMap", "controlbus-plan")["data"]
    write_plan_files(folder, _one_broker_plan(data["plan.tsv"]), data["provision.sh"])
    provision(kafka, folder)  # asserts that the rendered provision.sh exits 0, with its output


def _init_env(rendered: Rendered, service: str, name: str) -> str:
    deployment = rendered.get("Deployment", service)
    init = next(c for c in deployment["spec"]["template"]["spec"]["initContainers"] if c["name"] == "qmtl-config")
    return resolved_env(rendered, init)[name]


@pytest.fixture
def stack(qmtl_image, images_postgres, tmp_path_factory) -> Iterator[Stack]:
    started: list = []
    # Kafka and Neo4j take 10-40 s each to start: together, from threads that live as long as the servers
    # (tests/engines asks the kernel to kill a server when the thread that started it ends)
    pool = concurrent.futures.ThreadPoolExecutor(3, thread_name_prefix="images-servers")
    try:
        postgres = images_postgres
        starts = {
            "redis": pool.submit(lambda: servers.start_redis(admin=True)),
            "kafka": pool.submit(servers.start_kafka),
            "neo4j": pool.submit(servers.start_neo4j),
        }
        concurrent.futures.wait(starts.values())
        for future in starts.values():  # stop whatever started, whatever failed
            if future.exception() is None:
                started.append(future.result())
        redis, kafka, neo4j = (local_engine(starts[name].result) for name in ("redis", "kafka", "neo4j"))

        coordinator_port = free_port()
        ports = {
            "postgres": postgres.port,
            "redis": redis.port,
            "kafka": int(kafka.internal_bootstrap.rsplit(":", 1)[1]),
            "neo4jBolt": neo4j.bolt_port,
            "gateway": free_port(),
            "dagmanagerHttp": free_port(),
            "dagmanagerGrpc": free_port(),
            "worldservice": free_port(),
            "coordinator": coordinator_port,
            "coordinatorMetrics": free_port(),
        }
        values = layered(
            PROD,
            {
                "global": {
                    "ports": ports,
                    "seamless": {"coordinator_url": f"http://seamless-coordinator:{coordinator_port}"},
                },
                "gateway": {"forwarder": {"healthPort": free_port()}},
            },
        )
        rendered = render_chart(values)

        # provisioning, as the chart's Jobs and config files do it
        acl = redis_acl(rendered)
        admin_line = f"user {redis.admin_username} on >{redis.admin_password} ~* &* +@all\n"
        redis.acl_path.write_text(acl.rstrip("\n") + "\n" + admin_line)
        assert redis.admin().execute_command("ACL", "LOAD") in (b"OK", "OK", True)
        run_provision_job(
            rendered,
            "postgres-provision",
            tmp_path_factory.mktemp("postgres-provision"),
            os.environ,
            {
                "PGHOST": postgres.host,
                "PGPORT": str(postgres.port),
                "PGUSER": postgres.superuser,
                "PGPASSWORD": postgres.superuser_password,
                "QMTL_PROVISION_WAIT_SECONDS": "30",
                "PATH": f"{postgres_binaries().bindir}:{os.environ.get('PATH', '')}",
            },
            timeout=120,
        )
        _provision_controlbus(rendered, kafka, tmp_path_factory.mktemp("controlbus-provision"))
        neo4j_password = _init_env(rendered, "dagmanager", "QMTL_SECRET_NEO4J")
        with neo4j.driver() as driver:
            driver.execute_query(
                "ALTER CURRENT USER SET PASSWORD FROM $old TO $new",
                old=neo4j.password,
                new=neo4j_password,
                database_="system",
            )
        neo4j.password = neo4j_password

        coordinator = _Coordinator(coordinator_port)
        threading.Thread(target=coordinator.serve_forever, daemon=True).start()

        # every host the rendered config and the pods name resolves to this host's loopback
        hosts = {host for _, _, host, _ in endpoints_in(qmtl_config(rendered))}
        hosts |= {"dagmanager", "seamless-coordinator"}
        stack = Stack(rendered, postgres, redis, kafka, neo4j, coordinator)
        with _dial_port_lock():
            try:
                for service in ("dagmanager", "worldservice", "gateway"):
                    pod = RenderedPod(
                        rendered,
                        service,
                        tmp_path_factory.mktemp(f"pod-{service}"),
                        network="host",
                        hosts=dict.fromkeys(sorted(hosts), "127.0.0.1"),
                    )
                    stack.pods[service] = pod
                    pod.start()
                yield stack
            finally:
                for pod in stack.pods.values():
                    pod.stop()
                coordinator.shutdown()
                coordinator.server_close()
    finally:
        for server in reversed(started):
            server.stop()
        pool.shutdown()


def _check_service(pod: RenderedPod, service: str) -> None:
    check_probes_and_stay_up(pod, STAY_UP_SECONDS)
    logs = pod.logs(service)
    assert "PermissionError" not in logs, logs[-6000:]
    assert not unexpected_tracebacks(service, logs), logs[-6000:]


# ------------------------------------------------------------------------------------------ steps
def dagmanager_runs_and_is_ready_with_neo4j(stack: Stack) -> None:
    stack.ready("dagmanager")
    pod = stack.pods["dagmanager"]
    assert "exec" in pod.container_spec("dagmanager")["readinessProbe"]  # reads /status JSON (neo4j ok)
    _check_service(pod, "dagmanager")
    status, body = stack.get_json("dagmanager", "/status")
    assert status == 200
    assert body["neo4j"] == "ok", body


def worldservice_runs_and_its_probes_answer(stack: Stack) -> None:
    stack.ready("worldservice")
    pod = stack.pods["worldservice"]
    _check_service(pod, "worldservice")
    # it runs in its data dir, where QMTL's risk-hub blob store now lives (./.risk_blobs)
    assert (pod.volume("data") / ".risk_blobs").is_dir()


def worldservice_stores_a_world_in_postgresql(stack: Stack) -> None:
    stack.ready("worldservice")
    world = {"id": f"images-test-{os.getpid()}", "name": "stored through the API"}
    status, _ = stack.get_json("worldservice", "/worlds", world)
    assert status == 201
    status, got = stack.get_json("worldservice", f"/worlds/{world['id']}")
    assert status == 200
    assert got["name"] == world["name"]
    # in worldservice's own database, as its own role (the rendered DSN's credentials)
    password = _init_env(stack.rendered, "worldservice", "QMTL_SECRET_POSTGRES_WORLDSERVICE")
    with stack.postgres.connect("worldservice", password, dbname="worldservice") as conn:
        row = conn.execute("SELECT data FROM worlds WHERE id = %s", (world["id"],)).fetchone()
    assert row is not None, "the world is not in PostgreSQL"
    data = row[0] if isinstance(row[0], dict) else json.loads(row[0])
    assert data["name"] == world["name"]


def gateway_runs_behind_the_guard_and_reaches_its_dependencies(stack: Stack) -> None:
    stack.ready("dagmanager", "worldservice", "gateway")
    pod = stack.pods["gateway"]
    # the rendered coordinator-guard init container ran (it must have exited 0 for the pod to start)
    assert "/healthz" in stack.coordinator.paths
    _check_service(pod, "gateway")
    # its working directory is writable: QMTL's risk-hub blob store is there (./.risk_blobs)
    assert (pod.volume("data") / ".risk_blobs").is_dir()
    assert "Failed to build risk hub blob store" not in pod.logs("gateway")
    status, body = stack.get_json("gateway", "/status")
    assert status == 200
    # DAG Manager through the forwarder sidecar (127.0.0.1:50051 -> dagmanager's gRPC), Redis and
    # PostgreSQL as the gateway's own users, WorldService over HTTP
    assert body.get("dagmanager") == "ok", body
    assert body.get("redis") == "ok", body
    assert body.get("postgres", body.get("database")) == "ok", body
    assert body.get("status") == "ok", body


def dagmanager_is_not_ready_while_neo4j_is_down(stack: Stack) -> None:
    """Stops Neo4j (the last step). DAG Manager's /status still answers 200 (liveness holds), its
    rendered readiness probe now fails: the Service stops sending it traffic."""
    stack.ready("dagmanager")
    pod = stack.pods["dagmanager"]
    stack.neo4j.stop()
    readiness = pod.probe("dagmanager", "readinessProbe")
    deadline = time.monotonic() + 60
    result = readiness()
    while result.ok and time.monotonic() < deadline:
        time.sleep(2)
        result = readiness()
    assert not result.ok, result.detail
    assert "neo4j is" in result.detail
    assert pod.probe("dagmanager", "livenessProbe")().ok
    assert pod.running("dagmanager")


STEPS = (
    dagmanager_runs_and_is_ready_with_neo4j,
    worldservice_runs_and_its_probes_answer,
    worldservice_stores_a_world_in_postgresql,
    gateway_runs_behind_the_guard_and_reaches_its_dependencies,
    dagmanager_is_not_ready_while_neo4j_is_down,  # stops Neo4j: last
)


def test_prod_services_run_from_the_image_against_real_servers(stack: Stack) -> None:
    for step in STEPS:
        try:
            step(stack)
        except AssertionError as exc:
            raise AssertionError(f"step {step.__name__}: {exc}") from exc

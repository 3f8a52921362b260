"""The scripts QMTL pods run, extracted from the rendered ConfigMap and run for real with this
machine's python3 (what the QMTL image runs them with): the config assembler, the coordinator guard and
the gateway's DAG Manager forwarder."""

from __future__ import annotations

import http.server
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import types
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.core.common import PROD, render, write_script
from tests.harness.objects import qmtl_config

# Each script is extracted from this render.
RENDERED = PROD


def _env(**extra: str) -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **extra}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# ---------------------------------------------------------------------------------------------------
# assembler


@pytest.fixture(scope="module")
def assembler(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_script(render(RENDERED), "assemble_config.py", tmp_path_factory.mktemp("assemble"))


def _assemble(
    assembler: Path, template: dict, sections: str, env: dict[str, str], out: Path
) -> subprocess.CompletedProcess:
    source = out.parent / "template.json"
    source.write_text(json.dumps(template))
    return subprocess.run(
        [sys.executable, str(assembler), str(source), sections, str(out)],
        env=_env(**env),
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_assembler_fills_placeholders_and_url_encodes_passwords(assembler: Path, tmp_path: Path) -> None:
    template = qmtl_config(render(RENDERED))
    password = "p@ss:w/rd?#%&= é+"
    events = "k3y with $pecial {chars} and ${QMTL_SECRET_POSTGRES_GATEWAY}"
    env = {
        "QMTL_SECRET_REDIS_GATEWAY": password,
        "QMTL_SECRET_POSTGRES_GATEWAY": "plain",
        "QMTL_SECRET_GATEWAY_EVENTS": events,
        "QMTL_POD_NAME": "gateway-5d8c7b9f4-x2x7q",
    }
    out = tmp_path / "qmtl.yml"
    done = _assemble(assembler, template, "gateway", env, out)
    assert done.returncode == 0, done.stderr
    config = yaml.safe_load(out.read_text())
    assert set(config) == {"profile", "gateway"}  # only its own section
    dsn = urllib.parse.urlsplit(config["gateway"]["redis_dsn"])
    assert urllib.parse.unquote(dsn.password) == password  # the DSN parses and yields the password
    assert dsn.hostname == urllib.parse.urlsplit(template["gateway"]["redis_dsn"]).hostname
    assert dsn.path == urllib.parse.urlsplit(template["gateway"]["redis_dsn"]).path
    assert urllib.parse.urlsplit(config["gateway"]["database_dsn"]).password == "plain"
    # a raw placeholder keeps the value as it is, and a value is never interpolated a second time
    assert config["gateway"]["events"]["secret"] == events
    # per replica: the ControlBus group and the commit-log transactional id end in the pod's name
    per_pod = ("controlbus_group", "commitlog_transactional_id")
    for key in per_pod:
        prefix = template["gateway"][key].removesuffix("${QMTL_POD_NAME}")
        assert prefix != template["gateway"][key], key
        assert config["gateway"][key] == prefix + "gateway-5d8c7b9f4-x2x7q", key
    # everything else is untouched
    filled = ("redis_dsn", "database_dsn", "events", *per_pod)
    untouched = {k: v for k, v in template["gateway"].items() if k not in filled}
    assert {k: config["gateway"][k] for k in untouched} == untouched


def test_assembler_keeps_only_the_listed_sections(assembler: Path, tmp_path: Path) -> None:
    template = {
        "profile": "prod",
        "gateway": {"port": 1},
        "dagmanager": {"neo4j_password": "${QMTL_SECRET_NEO4J}"},
        "seamless": {"artifact_bucket": "b"},
    }
    out = tmp_path / "qmtl.yml"
    done = _assemble(assembler, template, "gateway,seamless", {}, out)
    assert done.returncode == 0, done.stderr
    # dagmanager's placeholder is not needed, so its Secret need not (and must not) be present
    assert yaml.safe_load(out.read_text()) == {
        "profile": "prod",
        "gateway": {"port": 1},
        "seamless": {"artifact_bucket": "b"},
    }


def test_assembler_refuses_a_missing_secret_clearly(assembler: Path, tmp_path: Path) -> None:
    template = qmtl_config(render(RENDERED))
    out = tmp_path / "qmtl.yml"
    done = _assemble(assembler, template, "worldservice", {"QMTL_SECRET_REDIS_WORLDSERVICE": "x"}, out)
    assert done.returncode != 0
    assert "QMTL_SECRET_POSTGRES_WORLDSERVICE" in done.stderr
    assert "QMTL_SECRET_REDIS_WORLDSERVICE" not in done.stderr
    assert "Secret" in done.stderr
    assert not out.exists()
    assert not list(tmp_path.glob("qmtl.yml*"))


def test_assembler_refuses_a_missing_pod_name_clearly(assembler: Path, tmp_path: Path) -> None:
    template = {"profile": "prod", "gateway": {"controlbus_group": "gateway-${QMTL_POD_NAME}"}}
    out = tmp_path / "qmtl.yml"
    done = _assemble(assembler, template, "gateway", {}, out)
    assert done.returncode != 0
    assert "QMTL_POD_NAME" in done.stderr
    assert "pod field" in done.stderr
    assert not list(tmp_path.glob("qmtl.yml*"))


# ---------------------------------------------------------------------------------------------------
# coordinator guard


class _Coordinator(http.server.ThreadingHTTPServer):
    """A local stand-in for the coordinator that records when each /healthz probe arrived."""

    def __init__(self, status: int | None):
        self.status = status
        self.hits: list[tuple[float, str]] = []
        super().__init__(("127.0.0.1", 0), _Handler)


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        server: _Coordinator = self.server  # type: ignore[assignment]
        server.hits.append((time.monotonic(), self.path))
        if server.status is None:  # accept, then never answer: the guard's timeout must fire
            time.sleep(3)
            return
        body = b"{}"
        self.send_response(server.status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def coordinator(request: pytest.FixtureRequest) -> Iterator[_Coordinator]:
    server = _Coordinator(request.param)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def guard(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_script(render(RENDERED), "coordinator_guard.py", tmp_path_factory.mktemp("guard"))


INTERVAL = 0.4


def _run_guard(guard: Path, url: str, **env: str) -> subprocess.CompletedProcess:
    settings = {
        "QMTL_GUARD_ATTEMPTS": "3",
        "QMTL_GUARD_INTERVAL_SECONDS": str(INTERVAL),
        "QMTL_GUARD_TIMEOUT_SECONDS": "1",
        **env,
    }
    return subprocess.run(
        [sys.executable, str(guard), "--url", url], env=_env(**settings), capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize("coordinator", [200], indirect=True)
def test_guard_passes_when_healthz_answers_2xx(guard: Path, coordinator: _Coordinator) -> None:
    url = f"http://127.0.0.1:{coordinator.server_address[1]}/"
    done = _run_guard(guard, url)
    assert done.returncode == 0, done.stderr
    assert [path for _, path in coordinator.hits] == ["/healthz"]  # one probe, at {url}/healthz


@pytest.mark.parametrize("coordinator", [503], indirect=True)
def test_guard_fails_after_bounded_spaced_retries_on_503(guard: Path, coordinator: _Coordinator) -> None:
    url = f"http://127.0.0.1:{coordinator.server_address[1]}"
    done = _run_guard(guard, url)
    assert done.returncode != 0
    assert len(coordinator.hits) == 3  # attempts, counted on the server side
    gaps = [b - a for (a, _), (b, _) in zip(coordinator.hits, coordinator.hits[1:], strict=False)]
    assert all(gap >= INTERVAL for gap in gaps), gaps  # spaced by the interval (never sooner)
    assert all(gap < INTERVAL + 5 for gap in gaps), gaps  # and not by something else entirely
    assert f"{url}/healthz" in done.stderr
    assert "HTTP 503" in done.stderr


def test_guard_fails_when_the_coordinator_is_down(guard: Path) -> None:
    url = f"http://127.0.0.1:{_free_port()}"
    done = _run_guard(guard, url, QMTL_GUARD_INTERVAL_SECONDS="0")
    assert done.returncode != 0
    assert done.stdout.count("attempt ") == 3
    assert f"{url}/healthz" in done.stderr
    assert "refused" in done.stderr.lower()


@pytest.mark.parametrize("coordinator", [None], indirect=True)
def test_guard_times_out_on_a_coordinator_that_never_answers(guard: Path, coordinator: _Coordinator) -> None:
    url = f"http://127.0.0.1:{coordinator.server_address[1]}"
    done = _run_guard(
        guard, url, QMTL_GUARD_ATTEMPTS="2", QMTL_GUARD_INTERVAL_SECONDS="0", QMTL_GUARD_TIMEOUT_SECONDS="0.3"
    )
    assert done.returncode != 0
    assert len(coordinator.hits) == 2
    assert "timed out" in done.stderr.lower()


def test_guard_refuses_an_empty_url(guard: Path) -> None:
    done = _run_guard(guard, "")
    assert done.returncode != 0
    assert "prod requires it" in done.stderr


def test_guard_script_defaults_are_3_10_5(guard: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the env (the chart always sets it), the script itself falls back to the same bounds:
    run its main() in-process with probe and sleep recorded instead of waited for."""
    spec = importlib.util.spec_from_file_location("coordinator_guard_under_test", guard)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for name in ("QMTL_GUARD_ATTEMPTS", "QMTL_GUARD_INTERVAL_SECONDS", "QMTL_GUARD_TIMEOUT_SECONDS"):
        monkeypatch.delenv(name, raising=False)
    probes: list[tuple[str, float]] = []
    sleeps: list[float] = []
    monkeypatch.setattr(module, "probe", lambda url, timeout: (probes.append((url, timeout)), (False, "HTTP 503"))[1])
    monkeypatch.setattr(module, "time", types.SimpleNamespace(sleep=sleeps.append))
    assert module.main(["coordinator_guard.py", "--url", "http://coordinator.test:8080"]) == 1
    assert probes == [("http://coordinator.test:8080/healthz", 5.0)] * 3
    assert sleeps == [10.0, 10.0]


# ---------------------------------------------------------------------------------------------------
# forwarder


class _Echo(threading.Thread):
    """Upstream stand-in: echoes every byte back, per connection."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.port = self.sock.getsockname()[1]
        self.connections = 0

    def run(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    @staticmethod
    def _serve(conn: socket.socket) -> None:
        with conn:
            while chunk := conn.recv(65536):
                conn.sendall(chunk)

    def close(self) -> None:
        self.sock.close()


@pytest.fixture(scope="module")
def forwarder_script(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_script(render(RENDERED), "tcp_forwarder.py", tmp_path_factory.mktemp("forwarder"))


def _start_forwarder(script: Path, upstream_port: int) -> tuple[subprocess.Popen, int, int]:
    listen, health = _free_port(), _free_port()
    proc = subprocess.Popen(
        [sys.executable, str(script), f"127.0.0.1:{listen}", f"127.0.0.1:{upstream_port}", f"127.0.0.1:{health}"],
        env=_env(QMTL_FORWARDER_CONNECT_TIMEOUT_SECONDS="2"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", health), timeout=0.2).close()
            return proc, listen, health
        except OSError:
            if proc.poll() is not None:
                raise AssertionError(f"forwarder exited: {proc.communicate()}") from None
            time.sleep(0.05)
    proc.kill()
    raise AssertionError("forwarder did not come up")


def _stop(proc: subprocess.Popen) -> tuple[int, str]:
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=10)
    return proc.returncode, err


def _recv_exactly(sock: socket.socket, size: int) -> bytes:
    data = bytearray()
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            break
        data += chunk
    return bytes(data)


def test_forwarder_pipes_bytes_both_ways_and_reports_health(forwarder_script: Path) -> None:
    upstream = _Echo()
    upstream.start()
    proc, listen, health = _start_forwarder(forwarder_script, upstream.port)
    try:
        payload = os.urandom(1 << 20)  # 1 MiB, arbitrary binary (gRPC frames are binary)
        clients = [socket.create_connection(("127.0.0.1", listen), timeout=10) for _ in range(3)]
        for client in clients:
            sender = threading.Thread(target=client.sendall, args=(payload,))
            sender.start()
            assert _recv_exactly(client, len(payload)) == payload
            sender.join()
        assert upstream.connections == 3  # one upstream connection per client connection
        with urllib.request.urlopen(f"http://127.0.0.1:{health}/healthz", timeout=5) as response:
            assert response.status == 200
            assert response.read().decode().startswith("ok active=3")
        for client in clients:
            client.shutdown(socket.SHUT_WR)  # half-close: the echo upstream then closes its side
            assert client.recv(1) == b""
            client.close()
    finally:
        upstream.close()
        code, err = _stop(proc)
    assert code == 0, err  # SIGTERM stops it cleanly


def test_forwarder_closes_a_connection_whose_upstream_is_down(forwarder_script: Path) -> None:
    proc, listen, health = _start_forwarder(forwarder_script, _free_port())
    try:
        client = socket.create_connection(("127.0.0.1", listen), timeout=10)
        assert client.recv(1) == b""  # closed, not left hanging
        client.close()
        # the forwarder itself stays up and healthy (the gateway's gRPC client retries)
        with urllib.request.urlopen(f"http://127.0.0.1:{health}/healthz", timeout=5) as response:
            assert response.status == 200
    finally:
        code, err = _stop(proc)
    assert code == 0
    assert "unreachable" in err


# ---------------------------------------------------------------------------------------------------
# dagmanager readiness (the exec probe's command, rendered with dagmanager's HTTP port on a free port)


class _Status(http.server.ThreadingHTTPServer):
    """A stand-in for dagmanager's GET /status: answers `body` with `code` (QMTL answers 200 either way)."""

    def __init__(self, port: int, code: int, body: bytes):
        self.code, self.body, self.paths = code, body, []
        super().__init__(("127.0.0.1", port), _StatusHandler)


class _StatusHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        server: _Status = self.server  # type: ignore[assignment]
        server.paths.append(self.path)
        self.send_response(server.code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(server.body)))
        self.end_headers()
        self.wfile.write(server.body)

    def log_message(self, *args: object) -> None:
        pass


def _readiness_command(port: int) -> list[str]:
    values = {**RENDERED, "global": {**RENDERED["global"], "ports": {"dagmanagerHttp": port}}}
    spec = render(values).get("Deployment", "dagmanager")["spec"]["template"]["spec"]
    main = next(c for c in spec["containers"] if c["name"] == "dagmanager")
    command = list(main["readinessProbe"]["exec"]["command"])
    assert command[0] == "python3"
    return [sys.executable, *command[1:]]  # the image's python3 is a Python 3.11 like this one


@pytest.mark.parametrize(
    ("body", "ready"),
    [
        (b'{"status": "ok", "neo4j": "ok", "dagmanager": "running"}', True),
        (b'{"status": "degraded", "neo4j": "error", "dagmanager": "running"}', False),
        (b'{"status": "degraded", "neo4j": "unknown", "dagmanager": "running"}', False),
        (b"not json", False),
    ],
    ids=["neo4j-ok", "neo4j-error", "neo4j-unknown", "not-json"],
)
def test_dagmanager_readiness_passes_only_when_status_says_neo4j_ok(body: bytes, ready: bool) -> None:
    port = _free_port()
    command = _readiness_command(port)
    server = _Status(port, 200, body)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        done = subprocess.run(command, env=_env(), capture_output=True, text=True, timeout=30)
    finally:
        server.shutdown()
        server.server_close()
    assert server.paths == ["/status"]
    assert (done.returncode == 0) is ready, done.stderr
    if not ready and body.startswith(b"{"):
        assert "neo4j is" in done.stderr  # the kubelet shows this in the pod's events


def test_dagmanager_readiness_fails_when_nothing_answers() -> None:
    done = subprocess.run(_readiness_command(_free_port()), env=_env(), capture_output=True, text=True, timeout=30)
    assert done.returncode != 0
    assert "refused" in done.stderr.lower()

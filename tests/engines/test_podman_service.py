"""The podman service of the container backend (podman_service.py) keeps the network rule and cleans up:

- its containers reach nothing outside (no default route in them or in the namespace: "Network is
  unreachable" at once), nothing of its network shows in the host's (no bridge, no route, no listener on
  the published port), and only the forwarded loopback port reaches a container from the host;
- stop() leaves no process, namespace, mount or folder behind;
- what an owner killed before its teardown leaves running (conmon and its containers) is gone after the
  next service starts on this checkout.

These run only where the backend is the podman service (no Docker engine); elsewhere they skip saying so.
The services whose end is checked belong to processes of their own: testcontainers reads DOCKER_HOST, which
is process-wide, so a pytest process has one container engine (the session's).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.engines import containers, podman_service
from tests.engines.pins import ROOT

pytestmark = pytest.mark.engines


@pytest.fixture
def podman_engine(container_engine: containers.ContainerEngine) -> containers.ContainerEngine:
    """The session's container engine (one per process: testcontainers reads DOCKER_HOST, a process-wide
    setting), when it is the podman service."""
    if container_engine.service is None:
        pytest.skip("a Docker engine answers here: the container backend uses it, not the podman service")
    return container_engine


def _owner(script: str) -> subprocess.Popen:
    """python -c SCRIPT in a process of its own (its own container engine), lines on stdout, told to go on
    by a line on its stdin."""
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(script)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_owner_env(),
        cwd=ROOT,
    )


def _owner_env() -> dict[str, str]:
    """This environment without the DOCKER_HOST the session's engine set (it is this process's service):
    the owner starts a podman service of its own."""
    env = {k: v for k, v in os.environ.items() if k != "DOCKER_HOST"}
    return {**env, "PYTHONPATH": str(ROOT), containers.ENGINE_ENV: "podman"}


def _processes_in(netns: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.readlink(entry / "ns" / "net") == netns:
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def test_containers_reach_nothing_outside_and_the_host_network_is_untouched(podman_engine) -> None:
    service = podman_engine.service
    assert service is not None
    container = podman_engine.container("redis").with_exposed_ports(6379).with_command(["redis-server"])
    container.start()
    try:
        host, port = containers._endpoint(podman_engine, container, 6379, what="redis")
        published = int(container.get_exposed_port(6379))
        # the forwarded loopback port reaches the server (once it listens: the port is bound before)...
        containers._wait(container, lambda: containers._redis_ping(host, port), timeout=30, what="redis")
        # ...the published one is bound inside the namespace (by conmon), not in the host's
        query = ["ss", "-Htlnp", f"sport = :{published}"]
        inside = subprocess.run(["nsenter", "--net=" + service.netns, *query], capture_output=True, text=True).stdout
        assert "conmon" in inside, inside
        outside = subprocess.run(query, capture_output=True, text=True).stdout
        assert "conmon" not in outside, outside

        # no way out: from the container, an outside address is unreachable at once
        done = container.exec(["bash", "-c", "exec 3<>/dev/tcp/192.0.2.1/80"])
        assert done.exit_code != 0
        assert b"Network is unreachable" in done.output, done.output
        routes = subprocess.run(
            ["nsenter", "--net=" + service.netns, "ip", "route", "show", "table", "all"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert "default" not in routes, routes
        assert podman_service.SUBNET in routes, routes
        nat = subprocess.run(
            ["nsenter", "--net=" + service.netns, "iptables-save", "-t", "nat"], capture_output=True, text=True
        ).stdout
        # the only masquerade is the port mapping's own, for connections to a published port inside
        masquerades = [line for line in nat.splitlines() if "MASQUERADE" in line]
        assert all("0x2000/0x2000" in line for line in masquerades), masquerades
    finally:
        container.stop()
    # the host's own network has neither the bridge nor a route to the containers' subnet
    assert "qmtl0" not in subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True).stdout
    host_routes = subprocess.run(["ip", "route", "show", "table", "all"], capture_output=True, text=True).stdout
    assert podman_service.SUBNET not in host_routes, host_routes


def test_stop_leaves_nothing_behind(podman_engine) -> None:
    """In a process of its own (its service is not this session's): a service with a container left running,
    then stop(), checked while that process still lives (its helpers would die with it anyway)."""
    owner = _owner(
        """
        import json, os, sys
        from tests.engines import containers, podman_service
        engine = containers.start_engine()
        service = engine.service
        container = engine.container("redis").with_exposed_ports(6379).with_command(["redis-server"]).start()
        container.reload()
        redis = int(container.get_wrapped_container().attrs["State"]["Pid"])  # in the container's namespace
        netns = os.readlink(service.netns)
        inside = []
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    if os.readlink(f"/proc/{entry}/ns/net") == netns:
                        inside.append((int(entry), podman_service._start_time(int(entry))))
                except OSError:
                    pass
        inside.append((redis, podman_service._start_time(redis)))
        state, run = str(service.state), str(service.run)
        engine.stop()  # the container is still running: stop() removes it
        print(json.dumps({"inside": inside, "state": state, "run": run}), flush=True)
        sys.stdin.readline()  # the test has looked
        """
    )
    try:
        line = owner.stdout.readline()
        assert line, owner.stderr.read()
        seen = json.loads(line)
        assert len(seen["inside"]) >= 4  # holder, service, conmon (in the service's namespace), redis
        # by pid and start time: another service may already have a namespace with the same identity (inode)
        assert [pid for pid, since in seen["inside"] if podman_service._running(pid, since)] == []
        assert not Path(seen["state"]).exists()
        assert not Path(seen["run"]).exists()
        assert seen["state"] not in Path("/proc/self/mountinfo").read_text()
    finally:
        owner.communicate("done\n", timeout=60)
    assert owner.returncode == 0, owner.stderr


def test_a_killed_owner_leaves_nothing_after_the_next_start(podman_engine) -> None:
    """A process that started a service and a container, then died without its teardown: the next start
    kills what it left (conmon and the container) and deletes its folders."""
    owner = textwrap.dedent(
        """
        import os, sys
        from tests.engines import containers
        engine = containers.start_engine()
        c = engine.container("redis").with_command(["redis-server"])
        c.start()
        print(engine.service.state, os.readlink(engine.service.netns), flush=True)
        os._exit(0)  # no teardown
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", owner], capture_output=True, text=True, env=_owner_env(), timeout=300, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr
    state, netns = done.stdout.split()
    # what it left: the container's monitor (conmon names the service's storage) and the container
    marker = f"{state}/storage"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not any(marker in cmd for _, _, cmd in podman_service._processes()):
        time.sleep(0.1)
    left = [(pid, podman_service._start_time(pid)) for pid in _processes_in(netns)]
    assert any(marker in cmd for _, _, cmd in podman_service._processes()), "the killed owner's conmon should run"

    service = podman_service.PodmanService.start()
    try:
        # by pid and start time: the namespace's identity (its inode) may be reused by the new service's
        still = [pid for pid, since in left if podman_service._running(pid, since)]
        assert still == [], [Path(f"/proc/{pid}/cmdline").read_bytes()[:200] for pid in still]
        assert not Path(state).exists()
    finally:
        service.stop()


def test_without_podman_the_reason_says_what_is_missing_and_how_to_install_it(monkeypatch) -> None:
    """On a machine without podman (and no Docker engine) the container backend's skip reason names both
    engines and the set-up step."""
    real_which = podman_service.shutil.which
    monkeypatch.setattr(podman_service.shutil, "which", lambda tool: None if tool == "podman" else real_which(tool))
    monkeypatch.delenv(containers.ENGINE_ENV, raising=False)
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    containers.docker_unavailable_reason.cache_clear()
    try:
        reason = containers.engine_unavailable_reason()
    finally:
        containers.docker_unavailable_reason.cache_clear()
    assert reason is not None
    assert "no Docker engine reachable at unix:///nonexistent/docker.sock" in reason
    assert "podman: the podman service needs podman (scripts/setup.sh installs them)" in reason

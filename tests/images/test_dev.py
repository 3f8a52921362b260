"""Each QMTL service of the dev profile (values/dev.yaml, as shipped) run FROM THE IMAGE with exactly the
pod the chart renders (tests/images/pods.py: command, env, workingDir, the config assembled by the
rendered init container, mounts, security context), in a pod network namespace with nothing but
loopback: it starts, its probes answer as the chart declares them (same paths and ports), and it stays
up. With no network at all, nothing can be downloaded at start (QMTL's pysr would fetch Julia)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.harness import render_chart
from tests.harness.paths import VALUES_DIR
from tests.images.pods import RenderedPod, check_probes_and_stay_up
from tests.images.qmtl_logs import unexpected_tracebacks

DEV_FILES = [VALUES_DIR / "dev.yaml"]
SERVICES = ("gateway", "dagmanager", "worldservice")
STAY_UP_SECONDS = 20


@pytest.fixture
def pods(qmtl_image, tmp_path_factory) -> Iterator[dict[str, RenderedPod]]:
    """The three pods, started together (each in a network namespace of its own)."""
    rendered = render_chart(values_files=DEV_FILES)
    started: dict[str, RenderedPod] = {}
    try:
        for service in SERVICES:
            pod = RenderedPod(rendered, service, tmp_path_factory.mktemp(f"dev-{service}"), network="none")
            started[service] = pod
            pod.start()
        yield started
    finally:
        for pod in started.values():
            pod.stop()


def test_dev_services_run_from_the_image_and_their_probes_answer(pods, qmtl_image) -> None:
    """One test for the three pods (they start together; one xdist worker runs them)."""
    for service, pod in pods.items():
        # the chart's own image default is the image built here
        assert {c["image"] for c in pod.spec["containers"] + pod.spec["initContainers"]} == {qmtl_image}
        check_probes_and_stay_up(pod, STAY_UP_SECONDS)
        logs = pod.logs(service)
        assert not unexpected_tracebacks(service, logs), f"{service}:\n{logs[-4000:]}"
        assert "PermissionError" not in logs, f"{service}:\n{logs[-4000:]}"

    # A QMTL behaviour README documents: in dev the gateway's /status says dagmanager "error" for as long
    # as it runs, because QMTL counts DAG Manager healthy only when its Neo4j is "ok" (in-memory here).
    gateway = pods["gateway"]
    port = next(p["containerPort"] for p in gateway.container_spec("gateway")["ports"] if p["name"] == "http")
    url = f"http://127.0.0.1:{port}/status"
    read = f"import urllib.request\nprint(urllib.request.urlopen({url!r}, timeout=5).read().decode())\n"
    done = gateway.exec("gateway", "python3", "-I", "-S", "-c", read)
    assert done.returncode == 0, done.stderr
    status = json.loads(done.stdout)
    assert status["dagmanager"] != "ok", status
    assert status["status"] in ("ok", "degraded"), status

"""The dependency images built here (images/redis, questdb, minio, mc: scripts/images.sh), each run with
exactly the pods the chart renders with values/local-dependency-images.yaml (tests/images/pods.py: command,
args, env with the rendered Secrets, mounts, the StatefulSet's volume owned by its fsGroup, uid/gid,
read-only root filesystem, every capability dropped, no privilege escalation), on this host's network with
global.ports set to free ports and the rendered service names resolving to 127.0.0.1:

- Redis: the init container completes the ACL file with the password hashes (sh, printenv, sha256sum of
  the image), the server starts with the chart's command and redis.conf, its exec probes (redis-cli as the
  PING-only user) pass; the chart's helm test pod (redis-cli of the same image) passes, and the same pod
  from another render of the release (other generated passwords) fails: the check can fail.
- QuestDB: started with no command, as the chart starts it, its health probes answer; the QDB_* env is
  QuestDB's configuration (the HTTP API wants the coordinator's basic-auth credentials); the chart's helm
  test script (PG-wire login with the coordinator's credentials, a table under its prefix, a wrong password
  refused) passes, and fails with another render's credentials.
- MinIO and mc: the server starts with the chart's args, its probes answer; the provisioning Job (bash and
  mc of the mc image) completes, twice (every upgrade re-runs it); the helm test pod (mc) passes, and
  fails with another render's keys.
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from qmtl_stack.render import Rendered

from tests.engines._proc import free_port
from tests.harness import render_chart
from tests.harness.objects import resolved_env
from tests.harness.paths import VALUES_DIR
from tests.images.conftest import DEPENDENCY_IMAGES
from tests.images.pods import RenderedPod, check_probes_and_stay_up

pytestmark = pytest.mark.engines

OVERLAY = VALUES_DIR / "local-dependency-images.yaml"
FILES = [VALUES_DIR / "prod.yaml", OVERLAY]
HOSTS = {name: "127.0.0.1" for name in ("redis", "questdb", "minio")}
STAY_UP_SECONDS = 5


def render(ports: dict[str, int], marker: str = "a") -> Rendered:
    """The prod release with the overlay; `marker` only makes another render (the chart generates every
    password anew when it renders without a cluster)."""
    values = {"global": {"ports": ports, "podLabels": {"qmtl-test-render": marker}}}
    return render_chart(values=values, values_files=FILES)


@pytest.fixture
def pods(tmp_path) -> Iterator[list[RenderedPod]]:
    """Pods started by a test, all removed at its end."""
    started: list[RenderedPod] = []
    yield started
    for pod in started:
        pod.stop()


def start(pods: list[RenderedPod], rendered: Rendered, kind: str, name: str, workdir: Path) -> RenderedPod:
    pod = RenderedPod(rendered, name, workdir / name, network="host", hosts=HOSTS, kind=kind)
    pods.append(pod)
    pod.start()
    return pod


def run_to_completion(pods: list[RenderedPod], rendered: Rendered, kind: str, name: str, workdir: Path):
    """A Job's or a helm test's pod, run to its end: (exit code, log)."""
    pod = start(pods, rendered, kind, name, workdir)
    (container,) = [c["name"] for c in pod.spec["containers"]]
    code = pod.wait_exit(container)
    return code, pod.logs(container)


def test_the_overlay_names_the_images_built_here(dependency_images) -> None:
    """values/local-dependency-images.yaml says what scripts/images.sh tags (the engines' pins)."""
    overlay = yaml.safe_load(OVERLAY.read_text())
    named = {
        "redis": overlay["redis"]["image"],
        "questdb": overlay["questdb"]["image"],
        "minio": overlay["minio"]["image"],
        "mc": overlay["minio"]["mcImage"],
    }
    assert set(named) == set(DEPENDENCY_IMAGES)
    assert {name: f"{image['repository']}:{image['tag']}" for name, image in named.items()} == dependency_images


def test_redis_runs_the_chart_pod_and_its_helm_test(dependency_images, pods, tmp_path) -> None:
    ports = {"redis": free_port()}
    rendered = render(ports)
    pod = start(pods, rendered, "StatefulSet", "redis", tmp_path)
    images = {c["image"] for c in pod.spec["initContainers"] + pod.spec["containers"]}
    assert images == {dependency_images["redis"]}
    check_probes_and_stay_up(pod, STAY_UP_SECONDS)
    assert "redis-acl: wrote" in pod.logs("redis-acl")
    acl = (pod.volume("acl") / "users.acl").read_text()
    assert "#@sha256:" not in acl, acl  # every placeholder replaced
    assert acl.count("user ") >= 5, acl

    code, log = run_to_completion(pods, rendered, "Pod", "qmtl-test-redis", tmp_path)
    assert code == 0, log
    assert "all checks passed" in log, log
    assert "FAIL" not in log, log

    # the same check with another render's credentials must fail (and say why)
    code, log = run_to_completion(pods, render(ports, marker="b"), "Pod", "qmtl-test-redis", tmp_path / "b")
    assert code != 0, log
    assert "WRONGPASS" in log or "FAIL: SET" in log, log


def _questdb_http(port: int, user: str | None = None, password: str | None = None) -> int:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/exec?query=SELECT%201")
    if user is not None:
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def _questdb_helm_test(rendered: Rendered) -> subprocess.CompletedProcess:
    """The chart's QuestDB helm test: its command (python3 -c SCRIPT, standard library only) and env, run by
    this host's Python (its pod runs the QMTL image's), against the server on loopback."""
    (check,) = rendered.get("Pod", "qmtl-test-questdb")["spec"]["containers"]
    env = {**os.environ, **resolved_env(rendered, check), "QUESTDB_HOST": "127.0.0.1"}
    assert check["command"][:2] == ["python3", "-c"], check["command"]
    return subprocess.run(
        [sys.executable, "-c", check["command"][2]], env=env, capture_output=True, text=True, timeout=120
    )


def test_questdb_runs_the_chart_pod_and_its_helm_test(dependency_images, pods, tmp_path) -> None:
    ports = {"questdbPg": free_port(), "questdbHttp": free_port(), "questdbHealth": free_port()}
    rendered = render(ports)
    pod = start(pods, rendered, "StatefulSet", "questdb", tmp_path)
    assert {c["image"] for c in pod.spec["containers"]} == {dependency_images["questdb"]}
    check_probes_and_stay_up(pod, STAY_UP_SECONDS)

    # the chart's env is QuestDB's configuration: the HTTP API wants the coordinator's credentials
    env = resolved_env(rendered, pod.container_spec("questdb"))
    assert _questdb_http(ports["questdbHttp"]) == 401
    assert _questdb_http(ports["questdbHttp"], env["QDB_HTTP_USER"], env["QDB_HTTP_PASSWORD"]) == 200
    assert _questdb_http(ports["questdbHttp"], env["QDB_HTTP_USER"], "wrong") == 401
    # its root is the volume (conf/ and db/ written there, nothing else writable)
    assert {"conf", "db"} <= {p.name for p in pod.volume("data").iterdir()}

    done = _questdb_helm_test(rendered)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "all checks passed" in done.stdout, done.stdout
    other = _questdb_helm_test(render(ports, marker="b"))
    assert other.returncode != 0, other.stdout + other.stderr
    assert "cannot log in over PG wire" in other.stderr, other.stderr


def test_minio_runs_the_chart_pod_its_provisioning_job_and_helm_test(dependency_images, pods, tmp_path) -> None:
    ports = {"minio": free_port(), "minioConsole": free_port()}
    rendered = render(ports)
    pod = start(pods, rendered, "StatefulSet", "minio", tmp_path)
    assert {c["image"] for c in pod.spec["containers"]} == {dependency_images["minio"]}
    check_probes_and_stay_up(pod, STAY_UP_SECONDS)

    job = rendered.get("Job", "minio-provision")["spec"]["template"]["spec"]
    assert {c["image"] for c in job["containers"]} == {dependency_images["mc"]}
    for attempt in ("install", "upgrade"):
        code, log = run_to_completion(pods, rendered, "Job", "minio-provision", tmp_path / attempt)
        assert code == 0, f"{attempt}:\n{log}"
        assert "minio-provision: done" in log, log

    code, log = run_to_completion(pods, rendered, "Pod", "qmtl-test-minio", tmp_path / "test")
    assert code == 0, log
    assert "all checks passed" in log, log
    assert "FAIL" not in log, log

    # the coordinator's keys of another render are refused
    code, log = run_to_completion(pods, render(ports, marker="b"), "Pod", "qmtl-test-minio", tmp_path / "b")
    assert code != 0, log
    assert "FAIL: put" in log, log

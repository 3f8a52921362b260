"""Images reach the real node only through `scripts/local-cluster.sh import` (a docker-archive, the format
of `podman save --format docker-archive`), never from a registry: nothing in the cluster's network
namespace can reach one.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import pytest

from tests.cluster.node import NodeCluster, local_cluster
from tests.harness.paths import REPO_ROOT, TOOLS_BIN

pytestmark = [pytest.mark.smoke, pytest.mark.node]

IMAGE_PY = REPO_ROOT / "scripts" / "cluster" / "image.py"


def run_imported(real_node: NodeCluster, ns: str, name: str, image: str) -> None:
    """A pod of `image` (pull policy Never) starts on the real node and answers."""
    pod = real_node.netcheck_pod(name, ["serve"])
    pod["spec"]["containers"][0]["image"] = image
    real_node.apply(ns, pod)
    real_node.wait_ready(ns, name)
    probe = real_node.probe(ns, name, "get", "http://127.0.0.1:8080/")
    assert probe.outcome == "ok", probe
    assert probe.output.startswith(f"netcheck {name}"), probe


def imported_images() -> set[str]:
    listing = local_cluster("ctr", "images", "ls", "-q")
    assert listing.returncode == 0, listing.stderr
    return set(listing.stdout.split())


def test_import_loads_a_docker_archive_a_pod_then_runs(real_node: NodeCluster, tmp_path: Path) -> None:
    tag = f"localhost/qmtl-local/import-check:{secrets.token_hex(4)}"
    archive = tmp_path / "image.tar"
    subprocess.run(
        [sys.executable, str(IMAGE_PY), "--tag", tag, "--out", str(archive), "--file",
         f"/netcheck={TOOLS_BIN / 'netcheck'}", "--entrypoint", "/netcheck", "--user", "10001:10001"],
        check=True,
    )  # fmt: skip
    assert tag not in imported_images()
    result = local_cluster("import", str(archive))
    assert result.returncode == 0, result.stderr
    assert tag in imported_images()
    run_imported(real_node, real_node.namespace("node-import"), "imported", tag)


def test_import_loads_what_podman_saves(real_node: NodeCluster, tmp_path: Path) -> None:
    """The images helper's path: `podman save --format docker-archive` -> import -> a pod runs it."""
    podman = shutil.which("podman")
    if not podman:
        pytest.skip("podman is not installed: the archive format is still covered by the test above")
    conf = tmp_path / "containers.conf"
    conf.write_text("[containers]\ndefault_ulimits = []\n")  # nothing may raise an rlimit here
    rootfs = tmp_path / "rootfs"
    rootfs.mkdir()
    shutil.copy2(TOOLS_BIN / "netcheck", rootfs / "netcheck")
    with tarfile.open(tmp_path / "rootfs.tar", "w") as tar:
        tar.add(rootfs / "netcheck", arcname="netcheck")
    tag = f"localhost/qmtl-local/podman-check:{secrets.token_hex(4)}"
    archive = tmp_path / "saved.tar"
    # a private store; podman wants its runroot path under 50 characters
    with tempfile.TemporaryDirectory(prefix="qmtl-podman-") as runroot:
        storage = [podman, "--root", str(tmp_path / "storage"), "--runroot", runroot, "--storage-driver", "vfs"]
        env = {**os.environ, "CONTAINERS_CONF": str(conf)}
        for step in (
            ["import", "--change", 'ENTRYPOINT ["/netcheck"]', "--change", "USER 10001:10001",
             str(tmp_path / "rootfs.tar"), tag],
            ["save", "--format", "docker-archive", "-o", str(archive), tag],
        ):  # fmt: skip
            done = subprocess.run([*storage, *step], env=env, capture_output=True, text=True)
            assert done.returncode == 0, f"podman {step[0]}: {done.stderr}"
    result = local_cluster("import", str(archive))
    assert result.returncode == 0, result.stderr
    run_imported(real_node, real_node.namespace("node-podman"), "from-podman", tag)


@pytest.mark.parametrize("kind", ["missing", "not-an-archive"])
def test_import_refuses_what_is_not_a_docker_archive(real_node: NodeCluster, tmp_path: Path, kind: str) -> None:
    path = tmp_path / "image.tar"
    if kind == "not-an-archive":
        with tarfile.open(path, "w") as tar:  # a tar, but no manifest.json: an OCI layout or a rootfs
            info = tarfile.TarInfo("index.json")
            tar.addfile(info)
    result = local_cluster("import", str(path))
    assert result.returncode != 0
    want = "no such file" if kind == "missing" else "is not a docker-archive"
    assert want in result.stderr, result.stderr
    assert "usage" in result.stderr or "podman save --format docker-archive" in result.stderr, result.stderr


def test_no_registry_is_reachable_so_nothing_is_pulled(real_node: NodeCluster) -> None:
    """A pod asking for a registry image it may pull (IfNotPresent) gets a pull error: the node's
    containerd has no route out of the cluster's namespace."""
    ns = real_node.namespace("node-pull")
    pod = real_node.netcheck_pod("pull", ["sleep"])
    pod["spec"]["containers"][0]["image"] = "registry.k8s.io/pause:3.10"
    pod["spec"]["containers"][0]["imagePullPolicy"] = "IfNotPresent"
    real_node.apply(ns, pod)
    deadline = time.monotonic() + 60
    while True:
        status = real_node.get("pod", "-n", ns, "pull").get("status", {})
        waiting = ((status.get("containerStatuses") or [{}])[0].get("state") or {}).get("waiting") or {}
        if waiting.get("reason") in ("ErrImagePull", "ImagePullBackOff"):
            break
        assert time.monotonic() < deadline, f"the pull neither failed nor stopped: {status}"
        time.sleep(1)
    events = real_node.kubectl("get", "events", "-n", ns, "--field-selector", "involvedObject.name=pull").stdout
    assert "network is unreachable" in events, events

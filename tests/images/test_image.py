"""What the qmtl image holds, checked inside the built image (read-only root, uid 10001, no network):
the runtime contract the chart relies on, exactly the pinned packages, nothing QMTL's services never
import, and QMTL from the given source with the carried patches."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.harness.paths import CHART_DIR
from tests.images.pods import podman

QMTL_DIR = CHART_DIR / "images" / "qmtl"
LOCK = QMTL_DIR / "requirements.lock"


def run_in_image(image: str, script: str) -> str:
    done = podman(
        "run", "--rm", "--network", "none", "--read-only", "--read-only-tmpfs=false", "--cap-drop", "all",
        "--security-opt", "no-new-privileges", "--entrypoint", json.dumps(["python3", "-c", script]), image,
    )  # fmt: skip
    return done.stdout


def locked() -> dict[str, str]:
    pins = {}
    for line in LOCK.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, version = line.split("==")
            pins[re.sub(r"[-_.]+", "-", name).lower()] = version
    return pins


def omitted() -> set[str]:
    text = (QMTL_DIR / "requirements.in").read_text()
    return {m.lower() for m in re.findall(r"^#\s*omit:\s*([A-Za-z0-9._-]+)", text, re.M)}


@pytest.fixture(scope="module")
def inventory(qmtl_image) -> dict:
    script = r"""
import json, os, shutil, sys
from importlib import metadata
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

dists = {canonicalize_name(d.metadata["Name"]): d for d in metadata.distributions()}
unmet = []
for name, dist in dists.items():
    for text in dist.requires or []:
        req = Requirement(text)
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue
        have = dists.get(canonicalize_name(req.name))
        if have is None or (req.specifier and not req.specifier.contains(have.version, prereleases=True)):
            unmet.append([name, canonicalize_name(req.name), str(req)])
print(json.dumps({
    "uid": os.getuid(), "gid": os.getgid(), "executable": sys.executable, "python3": shutil.which("python3"),
    "version": list(sys.version_info[:2]), "dont_write_bytecode": sys.flags.dont_write_bytecode,
    "home": os.environ.get("HOME"), "cwd": os.getcwd(),
    "dists": {n: d.version for n, d in dists.items()}, "unmet": unmet,
}))
"""
    return json.loads(run_in_image(qmtl_image, script))


def test_runtime_contract_the_chart_relies_on(inventory) -> None:
    # uid/gid of the chart's security context; python3 on PATH is the venv's (init containers, sidecar)
    assert (inventory["uid"], inventory["gid"]) == (10001, 10001)
    assert inventory["python3"] == "/opt/qmtl/bin/python3"
    assert inventory["executable"].startswith("/opt/qmtl/")
    assert inventory["version"] == [3, 11]
    assert inventory["dont_write_bytecode"] == 1  # a read-only root filesystem never sees a .pyc write
    assert inventory["home"] == "/tmp"


def test_exactly_the_locked_packages_and_qmtl(inventory) -> None:
    installed = dict(inventory["dists"])
    assert installed.pop("qmtl")  # from the QMTL source, not from the lock
    assert installed == locked()  # nothing more (no pip, setuptools, pysr, ...) and nothing less
    # QMTL pins neither; Starlette 1.x breaks dagmanager
    assert installed["starlette"] == "0.52.1"
    assert installed["fastapi"] == "0.163.2"
    for needed in ("aiokafka", "confluent-kafka", "neo4j"):
        assert needed in installed


def test_only_qmtls_omitted_dependencies_are_missing(inventory) -> None:
    """Every requirement of every installed package is met, except the QMTL dependencies that
    requirements.in leaves out on purpose (pysr: Julia at import; sympy, boto3, pytest-asyncio)."""
    unmet = {(name, dep) for name, dep, _ in inventory["unmet"]}
    assert unmet == {("qmtl", dep) for dep in omitted()}, inventory["unmet"]
    assert not omitted() & set(inventory["dists"])


def test_qmtl_source_and_patches_are_labelled(qmtl_image) -> None:
    labels = json.loads(podman("image", "inspect", "--format", "{{json .Labels}}", qmtl_image).stdout)
    patches = sorted(p.name for p in (QMTL_DIR / "patches").glob("*.patch"))
    assert labels["io.qmtl-stack.qmtl.patches"] == ",".join(patches)
    assert labels["io.qmtl-stack.qmtl.source"]
    assert labels["org.opencontainers.image.version"] == qmtl_image.rsplit(":", 1)[1]


def test_the_carried_patch_is_in_the_image(qmtl_image) -> None:
    script = (
        "import inspect, qmtl.services.worldservice.storage.repositories.world_repo as m\n"
        "print('INSERT OR REPLACE' in inspect.getsource(m))\n"
    )
    assert run_in_image(qmtl_image, script).strip() == "False"
    assert Path(QMTL_DIR / "patches").is_dir()

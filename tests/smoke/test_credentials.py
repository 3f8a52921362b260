"""scripts/credentials --apply against a real API server (GitOps): it creates exactly the Secrets the chart
references, once; a second run refuses and changes nothing; --skip-existing creates only what is missing."""

from __future__ import annotations

import io
import os
import subprocess
import uuid
from collections.abc import Iterator

import pytest
from qmtl_validate import credentials

from tests.harness import helm_binary
from tests.harness.paths import TOOLS_BIN, VALUES_DIR

pytestmark = pytest.mark.smoke


def _kubectl(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(TOOLS_BIN / "kubectl"), *args], capture_output=True, text=True, timeout=60)


@pytest.fixture
def namespace(smoke_cluster) -> Iterator[str]:
    name = f"qmtl-credentials-{uuid.uuid4().hex[:6]}"
    assert _kubectl("create", "namespace", name).returncode == 0
    try:
        yield name
    finally:
        _kubectl("delete", "namespace", name, "--wait=false")


def _apply(namespace: str, *extra: str) -> tuple[int, str]:
    err = io.StringIO()
    argv = ["-f", str(VALUES_DIR / "prod.yaml"), "--namespace", namespace, "--helm", str(helm_binary().path)]
    argv += ["--apply", "--kubectl", str(TOOLS_BIN / "kubectl"), *extra]
    return credentials.run(argv, out=io.StringIO(), err=err), err.getvalue()


def _secrets(namespace: str) -> dict[str, str]:
    """name -> resourceVersion of the Secrets in the namespace."""
    out = _kubectl(
        "get",
        "secrets",
        "-n",
        namespace,
        "-o",
        'jsonpath={range .items[*]}{.metadata.name}={.metadata.resourceVersion}{"\\n"}{end}',
    )
    assert out.returncode == 0, out.stderr
    return dict(line.split("=", 1) for line in out.stdout.split() if line)


def test_apply_creates_once_refuses_twice_and_fills_gaps(namespace: str) -> None:
    assert os.environ.get("KUBECONFIG")
    code, err = _apply(namespace)
    assert code == 0, err
    created = _secrets(namespace)
    manifest = io.StringIO()
    credentials.run(
        ["-f", str(VALUES_DIR / "prod.yaml"), "--namespace", namespace, "--helm", str(helm_binary().path)],
        out=manifest,
        err=io.StringIO(),
    )
    wanted = {line.split(": ", 1)[1] for line in manifest.getvalue().splitlines() if line.startswith("  name: ")}
    assert set(created) == wanted
    code, err = _apply(namespace)
    assert code == 1, err
    assert "exist already" in err
    assert _secrets(namespace) == created, "a refused run changed a Secret"
    gone = sorted(created)[0]
    assert _kubectl("delete", "secret", gone, "-n", namespace).returncode == 0
    code, err = _apply(namespace, "--skip-existing")
    assert code == 0, err
    after = _secrets(namespace)
    assert set(after) == set(created)
    assert {k: v for k, v in after.items() if k != gone} == {k: v for k, v in created.items() if k != gone}

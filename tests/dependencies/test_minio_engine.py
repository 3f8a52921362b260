"""The RENDERED MinIO provisioning (provision.sh + coordinator-policy.json from ConfigMap
qmtl-minio-provision, the coordinator's keys from the rendered Secret) run with mc against a real MinIO
server (tests/engines: MinIO and mc built from their Go modules), twice. Then, as the coordinator's
user: put/get/list/delete under artifacts/ work; anything else in the bucket, any other bucket, bucket
creation and admin calls are denied. A policy attached by hand to the user is removed by the next run. And
the whole provisioning runs within the Job's rendered memory limit (a cgroup with that limit, as the kubelet
sets it)."""

from __future__ import annotations

import io
import os
import subprocess
import uuid
from pathlib import Path

import minio.error as minio_error
import pytest

from tests.engines import fixtures
from tests.harness import render_chart
from tests.harness.objects import chart_values, only_container, quantity, resolved_env

pytestmark = pytest.mark.engines

VALUES: dict = {}
SEAMLESS = chart_values()["global"]["seamless"]
BUCKET, PREFIX = SEAMLESS["artifact_bucket"], SEAMLESS["artifact_prefix"]


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory) -> dict:
    rendered = render_chart(VALUES)
    data = rendered.get("ConfigMap", "qmtl-minio-provision")["data"]
    folder = tmp_path_factory.mktemp("minio-provision")
    for name, text in data.items():
        (folder / name).write_text(text)
    # the Job's own env (the coordinator's keys from the rendered Secret, the bucket, the policy's name)
    container = only_container(rendered, "Job", "minio-provision")
    job_env = resolved_env(rendered, container)
    return {"dir": folder, "env": job_env, "memory_limit": int(quantity(container["resources"]["limits"]["memory"]))}


def run_provisioning(server, artifacts: dict, cgroup: Path | None = None) -> subprocess.CompletedProcess:
    mc_env = fixtures.local_engine(server.mc_env)  # the rendered provision.sh needs mc
    run_env = {
        **os.environ,
        **mc_env,
        **artifacts["env"],
        # the Job's environment, aimed at the test server (root: the server's own)
        "MINIO_ENDPOINT": server.url,
        "MINIO_ROOT_USER": server.root_user,
        "MINIO_ROOT_PASSWORD": server.root_password,
        "QMTL_PROVISION_WAIT_SECONDS": "30",
        "TMPDIR": str(artifacts["dir"]),
    }
    command = ["bash", str(artifacts["dir"] / "provision.sh")]
    if cgroup is not None:  # join the cgroup first: everything provision.sh starts is counted there
        command = ["bash", "-c", f'echo $$ > {cgroup}/cgroup.procs && exec "$@"', "provision", *command]
    result = subprocess.run(command, env=run_env, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, f"provision.sh failed:\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def provisioned(minio_server, artifacts):
    run_provisioning(minio_server, artifacts)
    run_provisioning(minio_server, artifacts)  # idempotent: a second run succeeds
    minio_server.make_bucket("another-bucket")
    minio_server.client().put_object("another-bucket", f"{PREFIX}x", io.BytesIO(b"x"), 1)
    minio_server.client().put_object(BUCKET, "elsewhere/x", io.BytesIO(b"x"), 1)
    keys = artifacts["env"]
    return minio_server, minio_server.client(keys["QMTL_S3_ACCESS_KEY"], keys["QMTL_S3_SECRET_KEY"])


def denied(call) -> None:
    with pytest.raises(minio_error.S3Error) as info:
        call()
    assert info.value.code == "AccessDenied", info.value


def test_the_coordinator_works_under_the_artifact_prefix(provisioned) -> None:
    _, client = provisioned
    key = f"{PREFIX}run-1/model.bin"
    client.put_object(BUCKET, key, io.BytesIO(b"weights"), 7)
    assert client.get_object(BUCKET, key).read() == b"weights"
    assert key in [o.object_name for o in client.list_objects(BUCKET, prefix=PREFIX, recursive=True)]
    client.remove_object(BUCKET, key)
    assert key not in [o.object_name for o in client.list_objects(BUCKET, prefix=PREFIX, recursive=True)]


def test_the_coordinator_is_denied_the_rest_of_the_bucket(provisioned) -> None:
    _, client = provisioned
    denied(lambda: client.put_object(BUCKET, "elsewhere/y", io.BytesIO(b"y"), 1))
    denied(lambda: client.put_object(BUCKET, PREFIX.rstrip("/") + "-not/y", io.BytesIO(b"y"), 1))
    denied(lambda: client.get_object(BUCKET, "elsewhere/x").read())
    denied(lambda: client.remove_object(BUCKET, "elsewhere/x"))
    denied(lambda: list(client.list_objects(BUCKET)))
    denied(lambda: list(client.list_objects(BUCKET, prefix="elsewhere/")))


def test_the_coordinator_is_denied_other_buckets_and_bucket_management(provisioned) -> None:
    _, client = provisioned
    denied(lambda: client.get_object("another-bucket", f"{PREFIX}x").read())
    denied(lambda: client.put_object("another-bucket", f"{PREFIX}y", io.BytesIO(b"y"), 1))
    denied(lambda: list(client.list_objects("another-bucket", prefix=PREFIX)))
    # MinIO answers ListBuckets with the buckets the user's policy reaches (no s3:ListAllMyBuckets needed)
    assert [b.name for b in client.list_buckets()] == [BUCKET]
    denied(lambda: client.make_bucket("coordinator-made"))
    denied(lambda: client.remove_bucket(BUCKET))


def test_the_coordinator_is_not_an_admin(provisioned, artifacts) -> None:
    server, _ = provisioned
    from minio.credentials import StaticProvider
    from minio.error import MinioAdminException
    from minio.minioadmin import MinioAdmin

    keys = artifacts["env"]
    admin = MinioAdmin(
        endpoint=server.endpoint,
        secure=False,
        credentials=StaticProvider(keys["QMTL_S3_ACCESS_KEY"], keys["QMTL_S3_SECRET_KEY"]),
    )
    with pytest.raises(MinioAdminException):
        admin.user_list()


def test_a_rerun_leaves_the_user_with_only_its_own_policy(provisioned, artifacts) -> None:
    server, client = provisioned
    server.mc("admin", "policy", "attach", "local", "readwrite", "--user", artifacts["env"]["QMTL_S3_ACCESS_KEY"])
    client.put_object("another-bucket", "now-allowed", io.BytesIO(b"z"), 1)  # the drift is real
    run_provisioning(server, artifacts)
    denied(lambda: client.put_object("another-bucket", "again", io.BytesIO(b"z"), 1))
    client.put_object(BUCKET, f"{PREFIX}still-ok", io.BytesIO(b"z"), 1)


MEMORY_CGROUPS = Path("/sys/fs/cgroup/memory")  # cgroup v1, the hierarchy the local cluster's kubelet uses


def test_the_provisioning_fits_the_jobs_memory_limit(minio_server, artifacts) -> None:
    """mc's peak (its `admin user add` derives a key from the password) within the rendered limit: the kubelet
    OOM-kills the Job's container above it (64Mi did, on the local cluster's real node)."""
    if not os.access(MEMORY_CGROUPS, os.W_OK):
        pytest.skip(f"{MEMORY_CGROUPS} is not writable here: no memory cgroup to run the provisioning in")
    cgroup = MEMORY_CGROUPS / f"qmtl-test-minio-provision-{uuid.uuid4().hex[:8]}"
    cgroup.mkdir()
    try:
        (cgroup / "memory.limit_in_bytes").write_text(str(artifacts["memory_limit"]))
        run_provisioning(minio_server, artifacts, cgroup)
        peak = int((cgroup / "memory.max_usage_in_bytes").read_text())
        failcnt = int((cgroup / "memory.failcnt").read_text())
        assert 0 < peak <= artifacts["memory_limit"]
        print(f"minio-provision peak {peak / 2**20:.0f} MiB of {artifacts['memory_limit'] / 2**20:.0f} MiB")
        assert failcnt == 0, f"the provisioning hit its memory limit {failcnt} times (peak {peak} bytes)"
    finally:
        cgroup.rmdir()

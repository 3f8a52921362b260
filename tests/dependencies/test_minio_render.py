"""MinIO subchart, rendered (dev and prod): the coordinator's policy JSON (object actions only under
<bucket>/<artifact_prefix>, listing only with that prefix, no other bucket, no admin), the provisioning
Job that applies it with mc as root, who may read the root credentials, the pinned image and the
StatefulSet. test_minio_engine.py applies the same files to a real MinIO and tries the user's rights."""

from __future__ import annotations

import json

from tests.dependencies.common import PROFILES, QMTL_OFF, check_sizing
from tests.harness import render_chart
from tests.harness.objects import chart_values, component, env, pod_specs, secret_data, secret_refs, subchart_values

ROOT = "qmtl-minio-root"
COORDINATOR = "qmtl-minio-coordinator"
OBJECT_ACTIONS = {
    "s3:GetObject",
    "s3:PutObject",
    "s3:DeleteObject",
    "s3:AbortMultipartUpload",
    "s3:ListMultipartUploadParts",
}
OTHER_PREFIX = {"global": {"seamless": {"artifact_bucket": "team-a-seamless", "artifact_prefix": "qmtl/art/"}}}


def policy(rendered) -> dict:
    return json.loads(rendered.get("ConfigMap", "qmtl-minio-provision")["data"]["coordinator-policy.json"])


def check_policy(doc: dict, bucket: str, prefix: str) -> None:
    bucket_arn = f"arn:aws:s3:::{bucket}"
    assert doc["Version"] == "2012-10-17"
    allowed: dict[str, set[str]] = {}
    for st in doc["Statement"]:
        assert st["Effect"] == "Allow"
        actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
        resources = st["Resource"] if isinstance(st["Resource"], list) else [st["Resource"]]
        assert not [a for a in actions if "*" in a], f"wildcard action in {st}"
        for action in actions:
            assert not action.startswith("admin:"), action
            allowed.setdefault(action, set()).update(resources)
        if "s3:ListBucket" in actions:
            prefixes = st["Condition"]["StringLike"]["s3:prefix"]
            assert prefixes, "listing must be conditioned on the prefix"
            assert all(p.startswith(prefix) for p in prefixes), prefixes
            assert set(st["Condition"]) == {"StringLike"}
    assert set(allowed) == OBJECT_ACTIONS | {"s3:ListBucket", "s3:GetBucketLocation"}
    for action in OBJECT_ACTIONS:
        assert allowed[action] == {f"{bucket_arn}/{prefix}*"}, action
    assert allowed["s3:ListBucket"] == {bucket_arn}
    assert allowed["s3:GetBucketLocation"] == {bucket_arn}


def test_the_coordinator_policy_reaches_only_the_artifact_prefix(rendered) -> None:
    seamless = chart_values()["global"]["seamless"]
    check_policy(policy(rendered), seamless["artifact_bucket"], seamless["artifact_prefix"])


def test_the_policy_follows_the_bucket_and_prefix_values() -> None:
    rendered = render_chart([QMTL_OFF, OTHER_PREFIX])
    check_policy(policy(rendered), "team-a-seamless", "qmtl/art/")
    # the script gets the bucket from the Job's env, not written into its text
    (c,) = rendered.get("Job", "minio-provision")["spec"]["template"]["spec"]["containers"]
    assert env(c)["QMTL_S3_BUCKET"]["value"] == "team-a-seamless"
    assert "team-a-seamless" not in rendered.get("ConfigMap", "qmtl-minio-provision")["data"]["provision.sh"]


def test_root_credentials_reach_only_the_server_and_the_provisioning_job(rendered) -> None:
    readers = {component(obj) for obj, spec in pod_specs(rendered) if any(n == ROOT for n, _ in secret_refs(spec))}
    assert readers == {"minio", "minio-provision"}
    assert set(secret_data(rendered, ROOT)) == {"root-user", "root-password"}


def test_the_scoped_user_is_what_the_job_provisions_and_no_pod_holds_its_keys(rendered) -> None:
    data = secret_data(rendered, COORDINATOR)
    assert data["access-key"] == subchart_values("minio")["coordinatorUser"]
    assert len(data["secret-key"]) >= 40
    job = rendered.get("Job", "minio-provision")
    (c,) = job["spec"]["template"]["spec"]["containers"]
    e = env(c)
    assert e["QMTL_S3_ACCESS_KEY"]["valueFrom"]["secretKeyRef"] == {"name": COORDINATOR, "key": "access-key"}
    assert e["QMTL_S3_SECRET_KEY"]["valueFrom"]["secretKeyRef"] == {"name": COORDINATOR, "key": "secret-key"}
    assert e["MINIO_ROOT_PASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": ROOT, "key": "root-password"}
    assert e["MINIO_ENDPOINT"]["value"] == f"http://minio:{chart_values()['global']['ports']['minio']}"
    # only the Job that provisions the user and the helm test that proves its scope read its keys: the
    # coordinator uses no S3 (least privilege, README)
    readers = {
        component(obj) for obj, spec in pod_specs(rendered) if any(r[0] == COORDINATOR for r in secret_refs(spec))
    }
    assert readers == {"minio-provision", "helm-test-minio"}


def test_the_provisioning_job_is_an_install_and_upgrade_hook_with_mc(rendered) -> None:
    job = rendered.get("Job", "minio-provision")
    assert set(job["metadata"]["annotations"]["helm.sh/hook"].split(",")) == {"post-install", "post-upgrade"}
    (c,) = job["spec"]["template"]["spec"]["containers"]
    own = subchart_values("minio")
    assert c["image"] == f"{own['mcImage']['repository']}:{own['mcImage']['tag']}"
    assert c["command"] == ["bash", "/provision/provision.sh"]
    assert c["securityContext"]["readOnlyRootFilesystem"] is True


def test_statefulset_image_probes_security_storage(rendered, profile) -> None:
    values = chart_values(extra=(PROFILES[profile],))
    own = subchart_values("minio")
    sts = rendered.get("StatefulSet", "minio")
    spec = sts["spec"]["template"]["spec"]
    (c,) = spec["containers"]
    assert c["image"] == f"quay.io/minio/minio:{own['image']['tag']}"
    assert own["image"]["tag"].startswith("RELEASE.")
    port = values["global"]["ports"]["minio"]
    assert {p["name"]: p["containerPort"] for p in c["ports"]} == {"s3": port}, "console off by default"
    assert c["readinessProbe"]["httpGet"] == {"path": "/minio/health/ready", "port": "s3"}
    assert c["livenessProbe"]["httpGet"] == {"path": "/minio/health/live", "port": "s3"}
    assert env(c)["MINIO_BROWSER"]["value"] == "off"
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert c["securityContext"]["readOnlyRootFilesystem"] is True
    assert {m["mountPath"] for m in c["volumeMounts"]} == {"/data", "/tmp"}
    assert c["args"][c["args"].index("--certs-dir") + 1].startswith("/tmp/")
    check_sizing(rendered, profile, "minio")


def test_the_console_is_served_only_when_asked() -> None:
    rendered = render_chart([QMTL_OFF, {"minio": {"console": {"enabled": True}}}])
    ports = chart_values()["global"]["ports"]
    svc = {p["name"]: p["port"] for p in rendered.get("Service", "minio")["spec"]["ports"]}
    assert svc == {"s3": ports["minio"], "console": ports["minioConsole"]}

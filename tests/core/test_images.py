"""One registry for every image of the stack (global.imageRegistry) and pull credentials for every pod
(global.imagePullSecrets): the QMTL services and their init containers and sidecar, the coordinator, every
dependency, their hook Jobs and the helm test pods.

The expected references are computed here from a render without a mirror, with the rule container
runtimes use to tell a registry from a path (a first component with "." or ":" or "localhost"; Docker Hub
otherwise, whose one-component names live under library/).
"""

from __future__ import annotations

import pytest

from tests.core.common import PROD
from tests.harness import render_chart
from tests.harness.objects import containers, layered, pod_specs, subchart_values

# every image of the stack: prod with the coordinator's own Redis
BASE = layered(PROD, {"global": {"redis": {"dedicatedCoordinator": True}}})
MIRROR = "registry.example.com:5000/mirror/qmtl"
DIGEST = "sha256:" + "0123456789abcdef" * 4


def images(values: dict) -> dict[tuple[str, str], str]:
    """(Kind/name, container) -> image, for every container (init containers included) of every pod."""
    out = {}
    for obj, spec in pod_specs(render_chart(values)):
        for container in containers(spec):
            out[(f"{obj['kind']}/{obj['metadata']['name']}", container["name"])] = container["image"]
    return out


def moved(image: str, registry: str) -> str:
    name, at, digest = image.partition("@")
    first, slash, rest = name.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        path = rest
    elif slash:
        path = name
    else:
        path = f"library/{name}"
    return f"{registry}/{path}{at}{digest}"


def test_every_image_moves_to_the_mirror_keeping_path_tag_and_digest() -> None:
    before = images(BASE)
    after = images(layered(BASE, {"global": {"imageRegistry": MIRROR}}))
    assert set(after) == set(before)
    kinds = {ref.split("/")[0] for ref, _ in before}
    assert kinds == {"Deployment", "StatefulSet", "Job", "Pod"}
    for key, image in before.items():
        assert after[key] == moved(image, MIRROR), key


def test_digests_stay_pinned_under_the_mirror() -> None:
    pinned = {
        "global": {"imageRegistry": MIRROR, "qmtlImage": {"digest": DIGEST}},
        "redis": {"image": {"digest": DIGEST}},
        "minio": {"mcImage": {"digest": DIGEST}},
    }
    after = images(layered(BASE, pinned))
    for (ref, container), image in after.items():
        assert image.startswith(f"{MIRROR}/"), (ref, container)
    assert after[("Deployment/gateway", "gateway")].endswith(f"@{DIGEST}")
    assert after[("StatefulSet/redis-seamless", "redis")].endswith(f"@{DIGEST}")
    assert after[("Job/minio-provision", "minio-provision")].endswith(f"@{DIGEST}")
    assert after[("Pod/qmtl-test-redis", "check")].endswith(f"@{DIGEST}")


@pytest.mark.parametrize(
    ("repository", "expected"),
    [
        ("redis", f"{MIRROR}/library/redis"),
        ("bitnami/redis", f"{MIRROR}/bitnami/redis"),
        ("localhost/qmtl-stack/redis", f"{MIRROR}/qmtl-stack/redis"),
        ("docker.io/library/redis", f"{MIRROR}/library/redis"),
        ("registry.internal:5000/redis", f"{MIRROR}/redis"),
    ],
)
def test_the_registry_part_is_told_from_the_path(repository: str, expected: str) -> None:
    values = layered(BASE, {"global": {"imageRegistry": MIRROR}, "redis": {"image": {"repository": repository}}})
    tag = subchart_values("redis")["image"]["tag"]
    assert images(values)[("StatefulSet/redis", "redis")] == f"{expected}:{tag}"


def test_every_pod_gets_the_pull_secrets(value_set) -> None:
    secrets = ["mirror-credentials", "other-credentials"]
    rendered = render_chart(layered({"global": {"imagePullSecrets": secrets}}), values_files=value_set.files)
    for obj, spec in pod_specs(rendered):
        assert spec.get("imagePullSecrets") == [{"name": s} for s in secrets], obj["metadata"]["name"]

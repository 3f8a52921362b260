"""The README's examples of the production knobs (exposure, autoscaling, registry mirror, placement) do what
the text next to them says: each renders on top of its base file and yields the objects or settings it is
there for (tests/docs/test_readme.py checks that every example renders and changes something)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.docs.blocks import parse
from tests.harness import render_chart
from tests.harness.objects import containers, pod_specs
from tests.harness.paths import REPO_ROOT

EXAMPLES = [b for b in parse(REPO_ROOT / "README.md") if b.kind == "values"]


def _example(*keys: str) -> tuple[dict, Path]:
    """The README example whose values hold every key path in `keys` (dotted), with its base file."""

    def holds(data: object, path: str) -> bool:
        for part in path.split("."):
            if not isinstance(data, dict) or part not in data:
                return False
            data = data[part]
        return True

    found = [b for b in EXAMPLES if all(holds(yaml.safe_load(b.text), k) for k in keys)]
    assert len(found) == 1, f"expected one README example with {keys}, found {len(found)}"
    return yaml.safe_load(found[0].text), REPO_ROOT / found[0].arg


@pytest.mark.parametrize(
    ("keys", "kind", "names"),
    [
        (("global.gatewayIngress",), "Ingress", {"gateway"}),
        (("global.gatewayHttpRoute",), "HTTPRoute", {"gateway"}),
        (("gateway.autoscaling", "worldservice.autoscaling"), "HorizontalPodAutoscaler", {"gateway", "worldservice"}),
    ],
    ids=["ingress", "httproute", "autoscaling"],
)
def test_exposure_and_autoscaling_examples_render_their_objects(keys: tuple, kind: str, names: set) -> None:
    values, base = _example(*keys)
    rendered = render_chart(values, values_files=[base])
    assert {o["metadata"]["name"] for o in rendered.by_kind(kind)} == names


def test_the_registry_example_moves_every_image_and_gives_every_pod_its_secret() -> None:
    values, base = _example("global.imageRegistry")
    registry = values["global"]["imageRegistry"]
    for obj, spec in pod_specs(render_chart(values, values_files=[base])):
        assert spec["imagePullSecrets"] == [{"name": n} for n in values["global"]["imagePullSecrets"]]
        for container in containers(spec):
            assert container["image"].startswith(f"{registry}/"), (obj["metadata"]["name"], container["name"])


def test_the_placement_example_reaches_every_pod() -> None:
    values, base = _example("global.nodeSelector", "postgres.nodeSelector")
    for obj, spec in pod_specs(render_chart(values, values_files=[base])):
        own = values["postgres"] if obj["metadata"]["name"].startswith("postgres") else values["global"]
        assert spec["nodeSelector"] == own["nodeSelector"], obj["metadata"]["name"]
        assert spec["priorityClassName"] == own["priorityClassName"], obj["metadata"]["name"]

"""The shipped profiles: every values set is accepted by helm template, python-jsonschema and validate;
prod carries the design's reference endpoints and nothing unpinned; dev is the laptop profile; the
dev-coordinator overlay adds exactly the coordinator and what it needs. (helm lint --strict of every set:
tests/test_chart_package.py.)"""

from __future__ import annotations

import json

from qmtl_validate import schema

from tests.harness import render_chart, value_sets
from tests.harness.objects import chart_values
from tests.harness.paths import VALUES_DIR
from tests.validation.conftest import DEV_FILE, PROD_FILE, check_named, run_validate

DEPENDENCIES = ("redis", "postgres", "neo4j", "questdb", "minio", "controlbus")
DEV_COORDINATOR = VALUES_DIR / "dev-coordinator.yaml"


def _helm_values(files) -> dict:
    """What Helm hands the chart for these values files."""
    return chart_values(*files)


def _config(files) -> dict:
    config_map = render_chart(values_files=files).get("ConfigMap", "qmtl-config")
    return json.loads(config_map["data"]["qmtl.json"])


def test_every_values_set_is_accepted_by_python_jsonschema(value_set, values_schema: dict) -> None:
    assert schema.check(values_schema, _helm_values(value_set.files)) == []
    assert _helm_values(value_set.files)["global"]["profile"] == value_set.profile


def test_every_values_set_is_accepted_by_validate(value_set) -> None:
    code, report, stderr = run_validate(value_set.files, args=["--profile", value_set.profile])
    assert report is not None, stderr
    assert code == 0, [c for items in report["results"].values() for c in items if c["severity"] == "error"]
    assert report["profile"] == value_set.profile


def test_prod_points_at_the_reference_endpoints() -> None:
    """The design's reference values (DESIGN.md), written here, checked in the rendered QMTL config."""
    seamless = _config([PROD_FILE])["seamless"]
    assert seamless["coordinator_url"] == "http://seamless-coordinator:8080"
    assert seamless["redis_dsn"] == "redis://redis:6379/3"
    assert seamless["questdb_dsn"].split("?")[0] == "postgresql://questdb:8812/qmtl"
    assert seamless["artifact_endpoint"] == "http://minio:9000"
    assert seamless["artifact_bucket"] == "qmtl-seamless"
    gateway = _config([PROD_FILE])["gateway"]
    assert gateway["controlbus_brokers"] == ["redpanda:9092"]
    values = _helm_values([PROD_FILE])
    assert values["global"]["seamless"]["artifact_prefix"] == "artifacts/"
    assert values["global"]["controlbus"]["topicPrefix"] == ""  # see QMTL_RUNTIME_FACTS: unsafe by default


def test_prod_turns_everything_on() -> None:
    values = _helm_values([PROD_FILE])
    assert values["global"]["profile"] == "prod"
    for dependency in DEPENDENCIES:
        assert values["global"][dependency]["enabled"] is True, dependency
    for service in ("gateway", "dagmanager", "worldservice", "seamless-coordinator"):
        assert values[service]["enabled"] is True, service
    assert values["global"]["replicas"]["prod"]["controlbus"] >= 3


def test_prod_runs_no_unpinned_image() -> None:
    rendered = render_chart(values_files=[PROD_FILE])
    images = []
    for obj in rendered.objects:
        spec = obj.get("spec", {}).get("template", {}).get("spec") or obj.get("spec") or {}
        for container in (spec.get("initContainers") or []) + (spec.get("containers") or []):
            images.append(container["image"])
    assert images
    for image in images:
        name = image.split("@")[0]
        tag = name.rsplit(":", 1)[-1] if ":" in name.rsplit("/", 1)[-1] else ""
        assert tag or "@sha256:" in image, f"{image}: no tag or digest"
        assert tag.lower() != "latest", image


def test_dev_is_the_laptop_profile() -> None:
    values = _helm_values([DEV_FILE])
    assert values["global"]["profile"] == "dev"
    for dependency in DEPENDENCIES:
        assert values["global"][dependency]["enabled"] is False, dependency
    assert values["seamless-coordinator"]["enabled"] is False
    assert "coordinator_url" not in _config([DEV_FILE])["seamless"]
    rendered = render_chart(values_files=[DEV_FILE])
    assert not rendered.by_kind("StatefulSet"), "dev runs no bundled dependency"


def test_dev_warns_that_prod_requires_the_coordinator_url() -> None:
    code, report, _ = run_validate([DEV_FILE], args=["--profile", "dev", "--target", "seamless"])
    assert code == 0
    check = check_named(report, "seamless", "coordinator_url")
    assert check["severity"] == "warning"
    assert "prod requires" in check["hint"]
    assert "global.seamless.coordinator_url" in check["hint"]


def test_dev_coordinator_overlay_adds_the_coordinator_and_only_what_it_needs() -> None:
    assert DEV_COORDINATOR.read_text().splitlines()[0] == "# overlay-of: dev.yaml"
    assert any(s.files == (DEV_FILE, DEV_COORDINATOR) for s in value_sets())
    values = _helm_values([DEV_FILE, DEV_COORDINATOR])
    assert values["global"]["profile"] == "dev"
    assert values["seamless-coordinator"]["enabled"] is True
    on = {d for d in DEPENDENCIES if values["global"][d]["enabled"]}
    assert on == {"redis", "questdb"}  # the coordinator uses no S3
    seamless = _config([DEV_FILE, DEV_COORDINATOR])["seamless"]
    assert seamless["coordinator_url"] == "http://seamless-coordinator:8080"
    assert {"redis_dsn", "questdb_dsn"} <= set(seamless)


# --- the merge validate does is Helm's ------------------------------------------------------------------

STATEFUL = ("controlbus", "redis", "postgres", "neo4j", "questdb", "minio")


def test_prod_keeps_every_bundled_dependencys_data_on_a_volume() -> None:
    """ "Persistence on" in prod: there is no in-memory mode to switch to (values.schema.json refuses a
    persistence.enabled key and a zero size); every bundled stateful dependency mounts its data directory from
    a PersistentVolumeClaim template of its StatefulSet, never from an emptyDir."""
    rendered = render_chart(values_files=[PROD_FILE])
    sets = [i for i in rendered.items if i.obj.get("kind") == "StatefulSet"]
    assert {i.source.split("/")[2] for i in sets} == set(STATEFUL)
    for item in sets:
        spec = item.obj["spec"]
        claims = {t["metadata"]["name"]: t for t in spec.get("volumeClaimTemplates") or []}
        assert claims, f"{item.source}: no volumeClaimTemplates"
        for claim in claims.values():
            size = claim["spec"]["resources"]["requests"]["storage"]
            assert size, item.source
            assert not size.startswith("0"), (item.source, size)
        pod = spec["template"]["spec"]
        volumes = {v["name"]: v for v in pod.get("volumes") or []}
        main = pod["containers"][0]
        mounted = [m for m in main.get("volumeMounts") or [] if m["name"] in claims]
        assert mounted, f"{item.source}: the main container mounts no claim"
        assert not any(m["name"] in volumes and "emptyDir" in volumes[m["name"]] for m in mounted)

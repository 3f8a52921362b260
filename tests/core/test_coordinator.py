"""The Seamless coordinator: its env wiring, its own credentials, how `seamless-coordinator.enabled`
and `global.seamless.coordinator_url` relate, and the install notes."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from tests.core.common import (
    BUNDLED_COORDINATOR_URL,
    DEFAULTS,
    DEV_COORDINATOR,
    DEV_LOCAL,
    EXTERNAL_COORDINATOR_URL,
    PROD,
    PROD_EXTERNAL_COORDINATOR,
    PROD_MANAGED,
    container,
    effective,
    pod_spec,
    render,
    service_ports,
)
from tests.core.common import notes as _notes
from tests.harness import render_error
from tests.harness.objects import env as env_by_name
from tests.harness.objects import layered, secret_refs
from tests.harness.paths import CHART_DIR

ENV_NAMES = {
    "COORDINATOR_ID",
    "BIND_ADDR",
    "PROMETHEUS_PORT",
    "REDIS_DSN",
    "REDIS_USER",
    "REDIS_PASSWORD",
    "QUESTDB_DSN",
    "QUESTDB_USER",
    "QUESTDB_PASSWORD",
    "LEASE_MAX_MS",
    "LEASE_RECORD_TTL_S",
    "LOG_LEVEL",
}
SECRET_ENV = {"REDIS_PASSWORD", "QUESTDB_USER", "QUESTDB_PASSWORD"}


def _env(values: dict) -> tuple[list[dict], dict]:
    rendered = render(values)
    c = container(pod_spec(rendered, "seamless-coordinator"), "seamless-coordinator")
    return c["env"], env_by_name(c)


@pytest.mark.parametrize("values", [PROD, PROD_MANAGED, DEV_COORDINATOR], ids=["prod", "prod-managed", "dev"])
def test_coordinator_env_is_wired_from_the_endpoints(values: dict) -> None:
    rendered = render(values)
    env, by_name = _env(values)
    assert set(by_name) == ENV_NAMES
    ports = effective(values)["global"]["ports"]
    assert by_name["BIND_ADDR"]["value"] == f"0.0.0.0:{ports['coordinator']}"
    assert by_name["PROMETHEUS_PORT"]["value"] == str(ports["coordinatorMetrics"])
    assert by_name["COORDINATOR_ID"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    services = service_ports(rendered)
    g = effective(values)["global"]
    for name in ("REDIS_DSN", "QUESTDB_DSN"):
        url = urlsplit(by_name[name]["value"])
        assert url.username is None, f"{name} carries credentials: {url.netloc}"
        assert url.password is None, f"{name} carries credentials: {url.netloc}"
        target = (url.hostname, url.port or 443)
        external = {"QUESTDB_DSN": g.get("questdb", {}).get("external", {})}.get(name, {})
        declared = (external.get("host"), external.get("port")) if "host" in external else None
        assert target in services or target == declared, (name, target)
    assert by_name["REDIS_USER"]["value"] == "seamless-coordinator"
    redis = urlsplit(by_name["REDIS_DSN"]["value"])
    assert redis.path == f"/{effective(values)['global']['redis']['databases']['seamless']}"
    # credentials come from Secrets; nothing secret is written into the pod spec itself
    for name in SECRET_ENV:
        assert "secretKeyRef" in by_name[name]["valueFrom"], name
    assert not any("value" in e and "@" in e["value"] for e in env)


def test_coordinator_gets_no_s3_credentials() -> None:
    """Least privilege: the coordinator keeps leases in Redis and metadata in QuestDB and never reads or
    writes artifacts, so its pod gets no S3 endpoint, keys or MinIO Secret (README)."""
    rendered = render(PROD)
    spec = pod_spec(rendered, "seamless-coordinator")
    secrets = {ref[0] for ref in secret_refs(spec)}
    minio_secrets = {o["metadata"]["name"] for o in rendered.by_kind("Secret") if "minio" in o["metadata"]["name"]}
    assert minio_secrets, "the prod render has no MinIO Secrets to compare with"
    assert not (secrets & minio_secrets)
    _, by_name = _env(PROD)
    assert not [name for name in by_name if name.startswith(("ARTIFACT_", "S3_", "AWS_", "MINIO_"))]


def test_lease_settings_are_passed_from_values() -> None:
    _, by_name = _env(PROD)
    defaults = effective(PROD)["seamless-coordinator"]
    assert by_name["LEASE_MAX_MS"]["value"] == str(defaults["leases"]["maxMs"])
    assert by_name["LEASE_RECORD_TTL_S"]["value"] == str(defaults["leases"]["recordTtlSeconds"])
    assert by_name["LOG_LEVEL"]["value"] == defaults["logLevel"]
    custom = {"leases": {"maxMs": 600000, "recordTtlSeconds": 86400}, "logLevel": "debug"}
    _, by_name = _env(layered(PROD, {"seamless-coordinator": custom}))
    assert (by_name["LEASE_MAX_MS"]["value"], by_name["LEASE_RECORD_TTL_S"]["value"]) == ("600000", "86400")
    assert by_name["LOG_LEVEL"]["value"] == "debug"


def test_coordinator_image_defaults_to_this_projects_build() -> None:
    """The default image is the one scripts/images.sh builds from images/seamless-coordinator, tagged with
    Chart.yaml's appVersion (the tag is written in values.yaml: a subchart cannot read the umbrella's
    appVersion, so this test keeps the two equal)."""
    app_version = yaml.safe_load((CHART_DIR / "Chart.yaml").read_text())["appVersion"]
    c = container(pod_spec(render(PROD), "seamless-coordinator"), "seamless-coordinator")
    assert c["image"] == f"localhost/qmtl-stack/seamless-coordinator:{app_version}"
    assert (CHART_DIR / "images" / "seamless-coordinator" / "Containerfile").is_file()


def test_coordinator_is_optional_in_dev() -> None:
    for values in (DEFAULTS, DEV_LOCAL):
        rendered = render(values)
        assert rendered.find("Deployment", "seamless-coordinator") is None
        assert rendered.find("Service", "seamless-coordinator") is None


def test_prod_deploys_the_coordinator_unless_an_external_url_is_given() -> None:
    assert render(PROD).find("Deployment", "seamless-coordinator") is not None
    assert render(PROD_EXTERNAL_COORDINATOR).find("Deployment", "seamless-coordinator") is None


URL_KEY = r"global[./]seamless[./]coordinator_url"
ENABLED_KEY = r"seamless-coordinator[./]enabled"

# Refused values and the key paths the error must name (asserted on key paths, not wording: the schema
# and the aggregated values check may report a problem before qmtl.config.errors does).
REFUSED = {
    "prod-without-url": (layered(PROD, {"global": {"seamless": {"coordinator_url": ""}}}), [URL_KEY]),
    "bundled-url-but-disabled": (layered(PROD, {"seamless-coordinator": {"enabled": False}}), [ENABLED_KEY]),
    "external-url-but-enabled": (
        layered(
            PROD,
            {
                "global": {
                    "seamless": {"coordinator_url": EXTERNAL_COORDINATOR_URL},
                    "networkPolicy": {"coordinatorCidrs": ["10.30.0.0/24"]},
                }
            },
        ),
        [ENABLED_KEY],
    ),
    "bundled-url-wrong-port": (
        layered(PROD, {"global": {"seamless": {"coordinator_url": "http://seamless-coordinator:9999"}}}),
        [URL_KEY],
    ),
    "bundled-url-https": (
        layered(PROD, {"global": {"seamless": {"coordinator_url": "https://seamless-coordinator:8080"}}}),
        [URL_KEY],
    ),
    "dev-bundled-url-but-disabled": (
        {"global": {"seamless": {"coordinator_url": BUNDLED_COORDINATOR_URL}}},
        [ENABLED_KEY],
    ),
    "dev-coordinator-without-deps": (
        layered(DEV_LOCAL, DEV_COORDINATOR),
        [r"global[./]redis", r"global[./]questdb"],
    ),
    "prod-without-postgres": (layered(PROD, {"global": {"postgres": {"enabled": False}}}), [r"global[./]postgres"]),
}


@pytest.mark.parametrize("case", REFUSED)
def test_inconsistent_values_are_refused_naming_the_key(case: str) -> None:
    values, keys = REFUSED[case]
    message = str(render_error(values))
    for key in keys:
        assert re.search(key, message), (key, message)


# ---------------------------------------------------------------------------------------------------
# NOTES.txt (rendered through the notes_chart fixture of tests/core/conftest.py)


def test_notes_warn_in_dev_when_the_coordinator_url_is_empty(notes_chart: Path) -> None:
    notes = _notes(notes_chart, DEFAULTS)
    assert "WARNING: global.seamless.coordinator_url is empty" in notes
    assert "Prod requires it" in notes
    assert "gateway" in notes
    assert "http://gateway:8080" in notes


def test_notes_name_the_coordinator_url(notes_chart: Path) -> None:
    dev = _notes(notes_chart, DEV_COORDINATOR)
    assert "WARNING" not in dev
    assert f"Seamless coordinator URL (global.seamless.coordinator_url): {BUNDLED_COORDINATOR_URL}" in dev
    assert "the bundled coordinator" in dev
    prod = _notes(notes_chart, PROD_EXTERNAL_COORDINATOR)
    assert EXTERNAL_COORDINATOR_URL in prod
    assert "an external coordinator" in prod
    assert f"{EXTERNAL_COORDINATOR_URL}/healthz answered 2xx (3 attempts, 10 s apart, 5 s timeout each)" in prod


def test_notes_warn_when_policies_open_the_external_coordinators_port_to_any_address(notes_chart: Path) -> None:
    warning = "WARNING: global.networkPolicy.coordinatorCidrs is empty"
    anywhere = layered(PROD_EXTERNAL_COORDINATOR, {"global": {"networkPolicy": {"coordinatorCidrs": []}}})
    notes = " ".join(_notes(notes_chart, anywhere).split())
    assert warning in notes
    url = urlsplit(EXTERNAL_COORDINATOR_URL)
    port = url.port or {"http": 80, "https": 443}[url.scheme]
    assert f"({EXTERNAL_COORDINATOR_URL}) the NetworkPolicies let" in notes
    assert f"connect to port {port} of ANY address" in notes
    # given its address range, with the policies off, or with the bundled coordinator: nothing to warn about
    assert warning not in _notes(notes_chart, PROD_EXTERNAL_COORDINATOR)
    off = layered(anywhere, {"global": {"networkPolicy": {"enabled": False, "disabledAcknowledged": True}}})
    assert warning not in _notes(notes_chart, off)
    assert warning not in _notes(notes_chart, PROD)


@pytest.mark.parametrize(
    ("case", "url", "profile"),
    [
        ("dev-coordinator", BUNDLED_COORDINATOR_URL, "dev"),
        ("prod", BUNDLED_COORDINATOR_URL, "prod"),
        ("prod-external-coordinator", EXTERNAL_COORDINATOR_URL, "prod"),
    ],
)
def test_sdk_workers_get_a_config_with_the_coordinator_url_and_nothing_else(case: str, url: str, profile: str) -> None:
    """ConfigMap qmtl-sdk-worker: the ./qmtl.yml a QMTL SDK worker mounts to reach the stack's coordinator (its
    DistributedBackfillCoordinator reads seamless.coordinator_url): the profile and that URL, no credential, no
    other section (tests/smoke runs QMTL's own client with it against the coordinator Service)."""
    values = {"dev-coordinator": DEV_COORDINATOR, "prod": PROD, "prod-external-coordinator": PROD_EXTERNAL_COORDINATOR}
    rendered = render(values[case])
    config = yaml.safe_load(rendered.get("ConfigMap", "qmtl-sdk-worker")["data"]["qmtl.yml"])
    assert config == {"profile": profile, "seamless": {"coordinator_url": url}}


def test_no_sdk_worker_config_without_a_coordinator_url() -> None:
    for values in (DEFAULTS, DEV_LOCAL):
        assert render(values).find("ConfigMap", "qmtl-sdk-worker") is None

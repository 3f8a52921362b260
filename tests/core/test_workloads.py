"""Render tests of the core services' workloads, dev and prod: commands, ports, probes, config mount
and working directory, security, resources, replicas/PDB/spread, the gateway's forwarder, images."""

from __future__ import annotations

import pytest
import yaml

from tests.core.common import (
    COMMANDS,
    CONFIG_DIR,
    CONFIG_FILE,
    DATA_DIR,
    DEFAULTS,
    DEV_COORDINATOR,
    DEV_LOCAL,
    GATEWAY_DAGMANAGER_DIAL,
    HEALTH_PATHS,
    PROD,
    PROD_EXTERNAL_COORDINATOR,
    SERVICES,
    container,
    effective,
    pod_spec,
    render,
)
from tests.harness import render_error, validate_k8s
from tests.harness.k8s_schema import supported_kube_versions
from tests.harness.objects import containers, qmtl_config
from tests.harness.paths import CHART_DIR

PROFILES = {"dev": DEFAULTS, "prod": PROD}
WORKLOADS = (*SERVICES, "seamless-coordinator")


def _values(profile: str, workload: str) -> dict:
    # dev deploys the coordinator only when asked to
    return DEV_COORDINATOR if (profile == "dev" and workload == "seamless-coordinator") else PROFILES[profile]


def _port(values: dict, name: str) -> int:
    return int(effective(values)["global"]["ports"][name])


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("workload", WORKLOADS)
def test_objects_are_valid_kubernetes(profile: str, workload: str) -> None:
    rendered = render(_values(profile, workload))
    objects = [
        rendered.get("Deployment", workload),
        rendered.get("Service", workload),
        rendered.get("ServiceAccount", workload),
    ]
    if profile == "prod":
        objects.append(rendered.get("PodDisruptionBudget", workload))
    for version in supported_kube_versions():
        for obj in objects:
            validate_k8s(obj, version)


@pytest.mark.parametrize("profile", PROFILES)
def test_commands_are_the_ones_that_work(profile: str) -> None:
    values = PROFILES[profile]
    rendered = render(values)
    for service, command in COMMANDS.items():
        main = container(pod_spec(rendered, service), service)
        assert main["command"] == command
        assert "args" not in main
    ws = container(pod_spec(rendered, "worldservice"), "worldservice")
    # uvicorn factory on the port of global.ports.worldservice (worldservice.bind is ignored by QMTL)
    assert ws["command"] == [
        "uvicorn",
        "qmtl.services.worldservice.api:create_app",
        "--factory",
        "--host",
        "0.0.0.0",
        "--port",
        str(_port(values, "worldservice")),
    ]
    # WorldService reads only ./qmtl.yml and writes ./.risk_blobs: it runs in its writable data dir, where
    # the assembled file is mounted read-only
    assert ws["workingDir"] == DATA_DIR
    config_file = next(m for m in ws["volumeMounts"] if m["mountPath"] == f"{DATA_DIR}/qmtl.yml")
    assert config_file == {
        "name": "qmtl-config",
        "mountPath": f"{DATA_DIR}/qmtl.yml",
        "subPath": CONFIG_FILE.rsplit("/", 1)[1],
        "readOnly": True,
    }
    # the coordinator has no command of the chart's: its image's own entrypoint, configured by env
    coordinator = container(
        pod_spec(render(_values(profile, "seamless-coordinator")), "seamless-coordinator"), "seamless-coordinator"
    )
    assert "command" not in coordinator
    assert "args" not in coordinator


@pytest.mark.parametrize("profile", PROFILES)
def test_ports_and_services_come_from_global_ports(profile: str) -> None:
    expected = {
        "gateway": {"http": "gateway"},
        "dagmanager": {"http": "dagmanagerHttp", "grpc": "dagmanagerGrpc"},
        "worldservice": {"http": "worldservice"},
        "seamless-coordinator": {"http": "coordinator", "metrics": "coordinatorMetrics"},
    }
    for workload, ports in expected.items():
        values = _values(profile, workload)
        rendered = render(values)
        main = container(pod_spec(rendered, workload), workload)
        assert {p["name"]: p["containerPort"] for p in main["ports"]} == {
            name: _port(values, key) for name, key in ports.items()
        }
        service = rendered.get("Service", workload)
        assert {p["name"]: (p["port"], p["targetPort"]) for p in service["spec"]["ports"]} == {
            name: (_port(values, key), name) for name, key in ports.items()
        }
        pod_labels = rendered.get("Deployment", workload)["spec"]["template"]["metadata"]["labels"]
        assert service["spec"]["selector"].items() <= pod_labels.items()


def test_ports_follow_a_changed_port_table() -> None:
    values = {
        "global": {"ports": {"gateway": 18080, "dagmanagerHttp": 18101, "dagmanagerGrpc": 15051, "worldservice": 18443}}
    }
    rendered = render(values)
    assert container(pod_spec(rendered, "gateway"), "gateway")["ports"][0]["containerPort"] == 18080
    assert rendered.get("Service", "dagmanager")["spec"]["ports"][1]["port"] == 15051
    ws = container(pod_spec(rendered, "worldservice"), "worldservice")
    assert ws["command"][-1] == "18443"
    assert ws["ports"][0]["containerPort"] == 18443
    # the forwarder follows the dagmanager gRPC port, while still listening where QMTL dials
    forwarder = container(pod_spec(rendered, "gateway"), "dagmanager-forwarder")
    assert forwarder["command"][2:4] == [GATEWAY_DAGMANAGER_DIAL, "dagmanager:15051"]


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("workload", WORKLOADS)
def test_probes_hit_the_endpoints_that_answer(profile: str, workload: str) -> None:
    main = container(pod_spec(render(_values(profile, workload)), workload), workload)
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        if workload == "dagmanager" and probe == "readinessProbe":
            continue  # reads the /status JSON when Neo4j is configured: the tests below
        path = HEALTH_PATHS[workload]
        if workload == "seamless-coordinator" and probe != "readinessProbe":
            path = "/livez"  # alive without Redis: an outage makes it unready, never restarts it
        assert main[probe]["httpGet"] == {"path": path, "port": "http"}, probe


def _dagmanager_uses_neo4j(rendered) -> bool:
    """QMTL's dagmanager keeps its graph in memory when its config has no neo4j_dsn."""
    return bool(qmtl_config(rendered)["dagmanager"].get("neo4j_dsn"))


@pytest.mark.parametrize(("values", "label"), [(DEFAULTS, "dev"), (PROD, "prod")])
def test_dagmanager_with_neo4j_is_ready_only_when_status_says_neo4j_ok(values: dict, label: str) -> None:
    """/status answers 200 with "neo4j": "error" while Neo4j is down (QMTL_RUNTIME_FACTS.md), so the
    readiness probe reads the JSON with the image's python3 (the command itself is run against a real
    dagmanager in tests/images and against canned answers in tests/core/test_scripts.py)."""
    rendered = render(values)
    assert _dagmanager_uses_neo4j(rendered), label
    main = container(pod_spec(rendered, "dagmanager"), "dagmanager")
    readiness = main["readinessProbe"]
    assert set(readiness) >= {"exec", "periodSeconds", "timeoutSeconds", "failureThreshold"}
    assert "httpGet" not in readiness
    command = readiness["exec"]["command"]
    assert command[:4] == ["python3", "-I", "-S", "-c"]
    assert f"http://127.0.0.1:{_port(values, 'dagmanagerHttp')}{HEALTH_PATHS['dagmanager']}" in command[4]
    assert '"neo4j"' in command[4]
    # the script's own HTTP timeout stays below the kubelet's
    assert readiness["timeoutSeconds"] >= 3


def test_dagmanager_in_memory_is_ready_when_status_answers() -> None:
    """Without Neo4j (its in-memory graph) /status never says neo4j "ok": its answering is what counts."""
    rendered = render(DEV_LOCAL)
    assert not _dagmanager_uses_neo4j(rendered)
    main = container(pod_spec(rendered, "dagmanager"), "dagmanager")
    assert main["readinessProbe"]["httpGet"] == {"path": HEALTH_PATHS["dagmanager"], "port": "http"}


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("service", SERVICES)
def test_config_is_assembled_and_mounted_where_the_service_reads_it(profile: str, service: str) -> None:
    spec = pod_spec(render(PROFILES[profile]), service)
    init = container(spec, "qmtl-config", init=True)
    assert spec["initContainers"][0]["name"] == "qmtl-config"
    assert init["command"][:2] == ["python3", "/etc/qmtl-template/assemble_config.py"]
    assert init["command"][3] == service  # only its own section
    assert init["command"][4] == CONFIG_FILE
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert volumes["qmtl-config-template"]["configMap"]["name"] == "qmtl-config"
    assert volumes["qmtl-config"]["emptyDir"]["medium"] == "Memory"  # holds credentials: never on disk
    main = container(spec, service)
    mount = next(m for m in main["volumeMounts"] if m["name"] == "qmtl-config")
    assert mount == {"name": "qmtl-config", "mountPath": CONFIG_DIR, "readOnly": True}
    assert not any(m["name"] == "qmtl-config-template" for m in main["volumeMounts"])


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("workload", WORKLOADS)
def test_restricted_security_and_service_account(profile: str, workload: str) -> None:
    rendered = render(_values(profile, workload))
    spec = pod_spec(rendered, workload)
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert spec["securityContext"]["runAsUser"] != 0
    assert spec["automountServiceAccountToken"] is False
    assert spec["serviceAccountName"] == workload
    assert rendered.get("ServiceAccount", workload)["automountServiceAccountToken"] is False
    for item in containers(spec):
        sc = item["securityContext"]
        assert sc["readOnlyRootFilesystem"] is True, item["name"]
        assert sc["allowPrivilegeEscalation"] is False, item["name"]
        assert sc["capabilities"] == {"drop": ["ALL"]}, item["name"]
        assert sc.get("privileged", False) is False, item["name"]


WRITABLE_CASES = (
    [(DEFAULTS, s) for s in SERVICES]
    + [(DEV_LOCAL, s) for s in SERVICES]
    + [(PROD, w) for w in WORKLOADS]
    + [(DEV_COORDINATOR, "seamless-coordinator")]
)


@pytest.mark.parametrize(
    ("values", "workload"),
    WRITABLE_CASES,
    ids=[f"{'dev-local' if v is DEV_LOCAL else 'prod' if v is PROD else 'dev'}-{w}" for v, w in WRITABLE_CASES],
)
def test_writable_paths_are_emptydirs_exactly_where_qmtl_writes(values: dict, workload: str) -> None:
    spec = pod_spec(render(values), workload)
    volumes = {v["name"]: v for v in spec["volumes"]}
    main = container(spec, workload)
    writable = {m["mountPath"]: m["name"] for m in main["volumeMounts"] if not m.get("readOnly")}
    expected = {"/tmp"}
    # the sqlite file / saved in-memory graph of a local mode (no database dependency available), and the
    # working directory of gateway and worldservice, where QMTL writes ./.risk_blobs
    if values is DEV_LOCAL or workload in ("gateway", "worldservice"):
        expected.add(DATA_DIR)
    assert set(writable) == expected
    for name in writable.values():
        assert "emptyDir" in volumes[name], name
        assert volumes[name]["emptyDir"].get("sizeLimit"), name


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("workload", WORKLOADS)
def test_every_container_is_sized_from_the_profile_table(profile: str, workload: str) -> None:
    values = _values(profile, workload)
    table = effective(values)[workload]["resources"][profile]  # the chart that runs it sizes it
    spec = pod_spec(render(values), workload)
    keys = {"qmtl-config": "qmtl-init", "coordinator-guard": "qmtl-init", "dagmanager-forwarder": "gateway-forwarder"}
    for item in containers(spec):
        expected = table[keys.get(item["name"], item["name"])]
        assert item["resources"] == expected, item["name"]
        assert item["resources"]["requests"]
        assert item["resources"]["limits"]


@pytest.mark.parametrize("workload", WORKLOADS)
def test_prod_replicas_pdb_and_topology_spread(workload: str) -> None:
    rendered = render(PROD)
    replicas = effective(PROD)["global"]["replicas"]["prod"][workload]
    dep = rendered.get("Deployment", workload)
    assert dep["spec"]["replicas"] == replicas >= 2
    pdb = rendered.get("PodDisruptionBudget", workload)
    labels = dep["spec"]["template"]["metadata"]["labels"]
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert pdb["spec"]["maxUnavailable"] == 1
    spread = dep["spec"]["template"]["spec"]["topologySpreadConstraints"]
    assert {c["topologyKey"] for c in spread} == {"kubernetes.io/hostname", "topology.kubernetes.io/zone"}
    for constraint in spread:
        assert constraint["labelSelector"]["matchLabels"].items() <= labels.items()


@pytest.mark.parametrize("workload", WORKLOADS)
def test_dev_runs_one_replica_without_pdb_or_spread(workload: str) -> None:
    rendered = render(_values("dev", workload))
    dep = rendered.get("Deployment", workload)
    assert dep["spec"]["replicas"] == effective(DEFAULTS)["global"]["replicas"]["dev"][workload] == 1
    assert rendered.find("PodDisruptionBudget", workload) is None
    assert "topologySpreadConstraints" not in dep["spec"]["template"]["spec"]


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("service", ["gateway", "worldservice"])
def test_service_works_in_its_writable_data_dir(profile: str, service: str) -> None:
    """QMTL's gateway and worldservice write their risk-hub blob store to ./.risk_blobs: on the read-only
    root it fails (PermissionError / read-only file system) and they run without it, so their working
    directory is the data dir (an emptyDir)."""
    spec = pod_spec(render(PROFILES[profile]), service)
    main = container(spec, service)
    assert main["workingDir"] == DATA_DIR
    mount = next(m for m in main["volumeMounts"] if m["mountPath"] == DATA_DIR)
    assert not mount.get("readOnly")
    volume = next(v for v in spec["volumes"] if v["name"] == mount["name"])
    assert "emptyDir" in volume


@pytest.mark.parametrize("profile", PROFILES)
def test_gateway_forwarder_sidecar(profile: str) -> None:
    values = PROFILES[profile]
    rendered = render(values)
    spec = pod_spec(rendered, "gateway")
    forwarder = container(spec, "dagmanager-forwarder")
    health_port = int(effective(values)["gateway"]["forwarder"]["healthPort"])
    # runs the library script with the gateway image's python3 (no extra image)
    assert forwarder["image"] == container(spec, "gateway")["image"]
    assert forwarder["command"][:2] == ["python3", "/etc/qmtl-template/tcp_forwarder.py"]
    listen, upstream, health = forwarder["command"][2:]
    assert listen == GATEWAY_DAGMANAGER_DIAL
    host, port = upstream.rsplit(":", 1)
    # the upstream is the dagmanager Service's gRPC port, as rendered in the same release
    grpc = next(p for p in rendered.get("Service", host)["spec"]["ports"] if p["name"] == "grpc")
    assert int(port) == grpc["port"]
    assert health == f"0.0.0.0:{health_port}"
    assert forwarder["ports"] == [{"name": "fwd-health", "containerPort": health_port, "protocol": "TCP"}]
    for probe in ("readinessProbe", "livenessProbe"):
        assert forwarder[probe]["httpGet"] == {"path": "/healthz", "port": "fwd-health"}
    assert forwarder["resources"] == effective(values)["gateway"]["resources"][profile]["gateway-forwarder"]
    # the forwarder's health port must not collide with the gateway's own
    error = render_error({"gateway": {"forwarder": {"healthPort": _port(values, "gateway")}}})
    assert "gateway.forwarder.healthPort" in str(error)


def test_guard_only_in_prod_and_only_for_the_gateway() -> None:
    dev, prod = render(DEFAULTS), render(PROD)
    assert [c["name"] for c in pod_spec(dev, "gateway")["initContainers"]] == ["qmtl-config"]
    assert [c["name"] for c in pod_spec(prod, "gateway")["initContainers"]] == ["qmtl-config", "coordinator-guard"]
    for service in ("dagmanager", "worldservice"):
        assert [c["name"] for c in pod_spec(prod, service)["initContainers"]] == ["qmtl-config"]


@pytest.mark.parametrize("values", [PROD, PROD_EXTERNAL_COORDINATOR], ids=["bundled", "external"])
def test_guard_defaults_and_url_in_the_rendered_pod(values: dict) -> None:
    guard = container(pod_spec(render(values), "gateway"), "coordinator-guard", init=True)
    url = effective(values)["global"]["seamless"]["coordinator_url"]
    assert guard["command"] == ["python3", "/etc/qmtl-template/coordinator_guard.py", "--url", url]
    env = {e["name"]: e["value"] for e in guard["env"] if "value" in e}
    # the design's bounds: 3 tries, 10 s apart, 5 s timeout each
    assert (env["QMTL_GUARD_ATTEMPTS"], env["QMTL_GUARD_INTERVAL_SECONDS"], env["QMTL_GUARD_TIMEOUT_SECONDS"]) == (
        "3",
        "10",
        "5",
    )
    # the guard reads no config file: it needs no credentials
    assert not any("valueFrom" in e for e in guard["env"])


def test_image_defaults_are_the_images_this_repository_builds() -> None:
    """scripts/images.sh tags localhost/qmtl-stack/<images/NAME>:<Chart.yaml appVersion>; the image defaults
    (values.yaml's global.qmtlImage, charts/seamless-coordinator/values.yaml's image) name exactly those (the
    tag is written there too: a subchart cannot read the umbrella's appVersion)."""
    app_version = str(yaml.safe_load((CHART_DIR / "Chart.yaml").read_text())["appVersion"])
    images = {
        "qmtl": effective(DEFAULTS)["global"]["qmtlImage"],
        # Helm merges a subchart's defaults only when it is deployed
        "seamless-coordinator": effective(DEV_COORDINATOR)["seamless-coordinator"]["image"],
    }
    for name, image in images.items():
        assert (image["repository"], str(image["tag"])) == (f"localhost/qmtl-stack/{name}", app_version), name
    assert (CHART_DIR / "images" / "qmtl" / "Containerfile").is_file()


def test_images_shared_default_override_and_digest() -> None:
    default = effective(DEFAULTS)["global"]["qmtlImage"]
    ref = f"{default['repository']}:{default['tag']}"
    rendered = render(DEV_COORDINATOR)
    for service in SERVICES:
        spec = pod_spec(rendered, service)
        assert {c["image"] for c in containers(spec)} == {ref}, service
    coordinator = effective(DEV_COORDINATOR)["seamless-coordinator"]["image"]
    assert (
        container(pod_spec(rendered, "seamless-coordinator"), "seamless-coordinator")["image"]
        == f"{coordinator['repository']}:{coordinator['tag']}"
    )

    digest = "sha256:" + "ab" * 32
    pinned = render(
        {
            "global": {"qmtlImage": {"digest": digest}},
            "worldservice": {"image": {"repository": "registry.example.internal/qmtl-ws", "tag": "0.5.2-patched"}},
        }
    )
    assert container(pod_spec(pinned, "gateway"), "gateway")["image"] == f"{ref}@{digest}"
    assert (
        container(pod_spec(pinned, "worldservice"), "worldservice")["image"]
        == f"registry.example.internal/qmtl-ws:0.5.2-patched@{digest}"
    )

    for bad, key in (
        ({"global": {"qmtlImage": {"tag": "", "digest": ""}}}, "global.qmtlImage"),
        ({"dagmanager": {"image": {"digest": "sha256:nothex"}}}, "dagmanager.image"),
    ):
        # values.schema.json refuses them first (tests/validation); qmtl.image's own second line:
        assert key in str(render_error(bad, extra_args=("--skip-schema-validation",)))

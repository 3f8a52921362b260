"""ControlBus (Redpanda) subchart, rendered: the topic+ACL plan (data), the brokers (listeners, probes,
restricted context, PDB and spread in prod), the superuser Secret and bootstrap, the provisioning hook
Job, the topic prefix, and the managed-Kafka override. Expected names come from the values and
QMTL_RUNTIME_FACTS.md, never from the chart's own output."""

from __future__ import annotations

import re

import pytest
import yaml

from tests.dependencies.common import DEV_PROFILE, PROD_EXTERNAL_COORDINATOR, QMTL_OFF
from tests.harness import render_chart, render_error
from tests.harness.objects import env, only_container, qmtl_config, quantity, subchart_values
from tests.harness.paths import VALUES_DIR

PREFIX = {"global": {"controlbus": {"topicPrefix": "qmtl.controlbus.", "topicPrefixAcknowledged": True}}}
PROFILES = {"dev": ([QMTL_OFF, DEV_PROFILE], 1), "prod": ([QMTL_OFF, PROD_EXTERNAL_COORDINATOR], 3)}
# The ControlBus topics the services really use (facts sheet: gateway routes, WorldService policy,
# DAG Manager queue/sentinel_weight, gateway ack and commit log).
QMTL_TOPICS = {
    "activation",
    "policy",
    "queue",
    "rebalancing_planned",
    "sentinel_weight",
    "control.activation.ack",
    "gateway.ingest",
}


def parse_plan(text: str) -> tuple[list[dict], list[dict]]:
    topics, acls = [], []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        kind, *f = line.split("\t")
        if kind == "topic":
            key, _, value = f[3].partition("=")
            topics.append({"name": f[0], "partitions": int(f[1]), "rf": int(f[2]), "config": {key: value}})
        elif kind == "acl":
            acls.append(
                {
                    "permission": f[0],
                    "principal": f[1],
                    "type": f[2],
                    "pattern": f[3],
                    "name": f[4],
                    "ops": set(f[5].split(",")),
                }
            )
        else:
            raise AssertionError(f"unknown plan record {line!r}")
    return topics, acls


def plan_of(rendered) -> tuple[list[dict], list[dict]]:
    return parse_plan(rendered.get("ConfigMap", "controlbus-plan")["data"]["plan.tsv"])


@pytest.fixture(params=sorted(PROFILES), scope="module")
def profile(request):
    values, brokers = PROFILES[request.param]
    return render_chart(values), brokers


def test_plan_creates_exactly_the_qmtl_topics_with_values_settings(profile) -> None:
    rendered, brokers = profile
    topics, _ = plan_of(rendered)
    assert {t["name"] for t in topics} == QMTL_TOPICS
    for t in topics:
        assert t["partitions"] == 3
        assert t["rf"] == min(3, brokers)
        assert t["config"] == {"retention.ms": "604800000"}


def test_plan_gives_qmtl_the_topics_and_denies_everyone_else(profile) -> None:
    rendered, _ = profile
    _, acls = plan_of(rendered)
    principals = {a["principal"] for a in acls}
    # Redpanda's anonymous principal (internal listener) has an empty name: only User:* reaches it.
    assert principals == {"User:*", "SASL_USERS"}
    for topic in QMTL_TOPICS:
        allow = [a for a in acls if a["permission"] == "allow" and a["name"] == topic]
        deny = [a for a in acls if a["permission"] == "deny" and a["name"] == topic]
        assert [(a["principal"], a["pattern"]) for a in allow] == [("User:*", "literal")]
        assert {"read", "write", "describe"} <= allow[0]["ops"]
        assert "create" not in allow[0]["ops"]
        assert "delete" not in allow[0]["ops"]
        assert deny[0]["ops"] >= {"delete", "alter", "alter_configs"}
    sasl = [a for a in acls if a["principal"] == "SASL_USERS"]
    assert all(a["permission"] == "deny" and a["ops"] == {"all"} for a in sasl)
    assert {(a["type"], a["name"]) for a in sasl} == {
        ("topic", "*"),
        ("group", "*"),
        ("transactional-id", "*"),
        ("cluster", "kafka-cluster"),
    }


def test_plan_lets_dagmanager_create_describe_delete_data_topics(profile) -> None:
    rendered, _ = profile
    _, acls = plan_of(rendered)
    data = [a for a in acls if a["permission"] == "allow" and a["type"] == "topic" and a["name"] == "*"]
    assert len(data) == 1
    assert {"create", "describe", "delete"} <= data[0]["ops"]
    assert "alter" not in data[0]["ops"]


def test_transactional_id_grant_matches_the_gateway_config(profile) -> None:
    rendered, _ = profile
    _, acls = plan_of(rendered)
    conf = qmtl_config(rendered)
    txn = [a for a in acls if a["type"] == "transactional-id" and a["permission"] == "allow"]
    # one id per gateway replica (the assembler fills in the pod name): the grant is the prefix before it
    configured = conf["gateway"]["commitlog_transactional_id"]
    assert configured.endswith("-${QMTL_POD_NAME}")
    assert [(a["pattern"], a["name"]) for a in txn] == [("prefixed", configured.removesuffix("${QMTL_POD_NAME}"))]
    assert conf["gateway"]["controlbus_group"].endswith("-${QMTL_POD_NAME}")  # every replica sees every event


def test_brokers_listeners_probes_and_restricted_context(profile) -> None:
    rendered, brokers = profile
    ports = {"kafka": 9092, "kafka-sasl": 9093, "admin": 9644, "rpc": 33145}
    sts = rendered.get("StatefulSet", "redpanda")
    assert sts["spec"]["replicas"] == brokers
    assert sts["spec"]["persistentVolumeClaimRetentionPolicy"]["whenDeleted"] == "Retain"
    pod = sts["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    assert {p["name"]: p["containerPort"] for p in c["ports"]} == ports
    assert c["startupProbe"]["httpGet"] == {"path": "/v1/status/ready", "port": "admin"}
    assert c["livenessProbe"]["httpGet"]["path"] == "/v1/status/ready"
    assert c["readinessProbe"]["tcpSocket"] == {"port": "kafka"}
    for container in pod["containers"] + pod["initContainers"]:
        sc = container["securityContext"]
        assert sc["privileged"] is False
        assert sc["allowPrivilegeEscalation"] is False
        assert sc["readOnlyRootFilesystem"] is True
        assert container["resources"]["limits"]
    args = " ".join(c["args"])
    assert "--kafka-addr=internal://0.0.0.0:9092,sasl://0.0.0.0:9093" in args
    assert "redpanda-headless" in args
    assert env(c)["RP_BOOTSTRAP_USER"]["valueFrom"]["secretKeyRef"] == {
        "name": "qmtl-controlbus-superuser",
        "key": "bootstrap-user",
    }
    node = yaml.safe_load(rendered.get("ConfigMap", "redpanda-config")["data"]["redpanda.yaml"])
    listeners = {lst["name"]: lst for lst in node["redpanda"]["kafka_api"]}
    assert listeners["internal"]["authentication_method"] == "none"
    assert listeners["sasl"]["authentication_method"] == "sasl"
    assert len(node["redpanda"]["seed_servers"]) == brokers
    assert not [k for k, v in node["rpk"].items() if k.startswith("tune_") and v]
    boot = yaml.safe_load(rendered.get("ConfigMap", "redpanda-config")["data"][".bootstrap.yaml"])
    assert boot["kafka_enable_authorization"] is True
    assert boot["admin_api_require_auth"] is True
    assert boot["auto_create_topics_enabled"] is False
    assert boot["superusers"] == ["qmtl-admin"]


def seastar_sizes(rendered) -> tuple[int, int, dict]:
    """(--smp, --memory in MiB, the container's resources) of the Redpanda brokers."""
    c = only_container(rendered, "StatefulSet", "redpanda")
    flags = dict(a.removeprefix("--").split("=", 1) for a in c["args"] if a.startswith(("--smp=", "--memory=")))
    assert flags["memory"].endswith("M"), flags
    return int(flags["smp"]), int(flags["memory"][:-1]), c["resources"]


def expected_seastar_sizes(resources: dict) -> tuple[int, int]:
    """Whole cores of the CPU request (at least one); controlbus.memoryPercent of the memory limit, in MiB."""
    percent = subchart_values("controlbus")["memoryPercent"]
    cores = max(1, int(quantity(resources["requests"]["cpu"])))
    return cores, int(quantity(resources["limits"]["memory"]) * percent / 100 // 2**20)


def test_seastar_cores_and_memory_follow_the_container_resources(profile) -> None:
    rendered, _ = profile
    smp, memory, resources = seastar_sizes(rendered)
    assert (smp, memory) == expected_seastar_sizes(resources)


# Quantities in the other forms Kubernetes accepts (millicores, fractions, decimal k and G suffixes).
@pytest.mark.parametrize(
    ("cpu", "limit_cpu", "memory"), [("1500m", "2", "2000000k"), ("3", "3", "3G"), ("0.5", "1", "1.5Gi")]
)
def test_seastar_sizes_read_every_quantity_form(cpu: str, limit_cpu: str, memory: str) -> None:
    redpanda = {"requests": {"cpu": cpu}, "limits": {"cpu": limit_cpu, "memory": memory}}
    rendered = render_chart([QMTL_OFF, DEV_PROFILE, {"controlbus": {"resources": {"dev": {"redpanda": redpanda}}}}])
    smp, size, resources = seastar_sizes(rendered)
    assert resources["requests"]["cpu"] == cpu
    assert resources["limits"]["memory"] == memory
    assert (smp, size) == expected_seastar_sizes(resources)


@pytest.mark.parametrize(("kind", "bad"), [("requests.cpu", "two"), ("limits.memory", "Gi")])
def test_a_quantity_the_brokers_cannot_be_sized_from_is_refused_naming_the_key(kind: str, bad: str) -> None:
    section, key = kind.split(".")
    override = {"controlbus": {"resources": {"dev": {"redpanda": {section: {key: bad}}}}}}
    error = render_error([QMTL_OFF, DEV_PROFILE, override], extra_args=("--skip-schema-validation",))
    assert f"controlbus.resources.dev.redpanda.{kind}" in str(error), str(error)


def test_superuser_secret_is_computed_once(profile) -> None:
    rendered, _ = profile
    data = rendered.get("Secret", "qmtl-controlbus-superuser")["stringData"]
    assert data["bootstrap-user"] == f"{data['username']}:{data['password']}:SCRAM-SHA-256"
    assert len(data["password"]) >= 32


def test_prod_spreads_brokers_and_has_a_pdb_dev_has_none() -> None:
    prod = render_chart(PROFILES["prod"][0])
    pdb = prod.get("PodDisruptionBudget", "redpanda")
    assert pdb["spec"]["maxUnavailable"] == 1
    pod = prod.get("StatefulSet", "redpanda")["spec"]["template"]["spec"]
    (term,) = pod["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert term["topologyKey"] == "kubernetes.io/hostname"
    assert pod["topologySpreadConstraints"][0]["topologyKey"] == "topology.kubernetes.io/zone"
    dev = render_chart(PROFILES["dev"][0])
    assert dev.find("PodDisruptionBudget", "redpanda") is None


def test_provisioning_job_is_an_install_and_upgrade_hook_with_the_plan(profile) -> None:
    rendered, brokers = profile
    job = rendered.get("Job", "controlbus-provision")
    hooks = set(job["metadata"]["annotations"]["helm.sh/hook"].split(","))
    assert hooks == {"post-install", "post-upgrade"}
    pod = job["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    assert c["command"][-2:] == ["/etc/controlbus-plan/provision.sh", "/etc/controlbus-plan/plan.tsv"]
    e = env(c)
    assert e["RPK_BROKERS"]["value"] == "redpanda:9093"
    # every broker's admin API (Redpanda's 9644), by its stable name under the headless Service
    admin = [f"redpanda-{i}.redpanda-headless.qmtl.svc.cluster.local:9644" for i in range(brokers)]
    assert e["RPK_ADMIN_HOSTS"]["value"] == ",".join(admin)
    for var, key in (("RPK_USER", "username"), ("RPK_PASS", "password"), ("RPK_SASL_MECHANISM", "mechanism")):
        assert e[var]["valueFrom"]["secretKeyRef"] == {"name": "qmtl-controlbus-superuser", "key": key}
    assert c["securityContext"]["readOnlyRootFilesystem"] is True
    assert c["resources"]["requests"]
    assert pod["volumes"][0]["configMap"]["name"] == "controlbus-plan"


def test_topic_prefix_applies_to_every_topic_acl_and_the_qmtl_config() -> None:
    rendered = render_chart([QMTL_OFF, DEV_PROFILE, PREFIX])
    topics, acls = plan_of(rendered)
    assert {t["name"] for t in topics} == {f"qmtl.controlbus.{t}" for t in QMTL_TOPICS}
    controlbus = [a for a in acls if a["type"] == "topic" and a["principal"] == "User:*" and a["name"] != "*"]
    assert {(a["pattern"], a["name"]) for a in controlbus} == {("prefixed", "qmtl.controlbus.")}
    conf = qmtl_config(rendered)
    assert all(t.startswith("qmtl.controlbus.") for t in conf["gateway"]["controlbus_topics"])
    assert conf["worldservice"]["server"]["controlbus_topic"] == "qmtl.controlbus.policy"


def test_ports_are_one_fact() -> None:
    rendered = render_chart([QMTL_OFF, DEV_PROFILE, {"global": {"ports": {"kafka": 19092, "kafkaSasl": 19093}}}])
    c = only_container(rendered, "StatefulSet", "redpanda")
    assert "--kafka-addr=internal://0.0.0.0:19092,sasl://0.0.0.0:19093" in " ".join(c["args"])
    job_env = env(only_container(rendered, "Job", "controlbus-provision"))
    assert job_env["RPK_BROKERS"]["value"] == "redpanda:19093"
    conf = qmtl_config(rendered)
    assert conf["gateway"]["controlbus_brokers"] == ["redpanda:19092"]


def test_bad_topic_settings_are_refused_naming_the_key() -> None:
    bad = {"global": {"controlbus": {"topics": {"policy": {"partitions": 0, "retentionMs": 1000}}}}}
    message = str(render_error([QMTL_OFF, DEV_PROFILE, bad]))
    assert re.search(r"global[./]controlbus[./]topics[./]policy", message), message


EXTERNAL = {
    "global": {
        "controlbus": {
            "enabled": False,
            "external": {"brokers": ["kafka-0.managed.example:9092"], "cidrs": ["10.0.1.0/24"]},
        }
    }
}


def check_external_kafka(rendered, brokers: list[str]) -> None:
    sources = {i.source for i in rendered.items}
    assert not [s for s in sources if "/charts/controlbus/" in s], "bundled ControlBus rendered"
    assert rendered.find("StatefulSet", "redpanda") is None
    conf = qmtl_config(rendered)
    assert conf["gateway"]["controlbus_brokers"] == brokers
    assert conf["gateway"]["commitlog_bootstrap"] == ",".join(brokers)
    assert conf["worldservice"]["server"]["controlbus_brokers"] == brokers


def test_external_kafka_renders_nothing_bundled_and_points_the_config_at_it() -> None:
    check_external_kafka(
        render_chart([QMTL_OFF, PROD_EXTERNAL_COORDINATOR, EXTERNAL]),
        EXTERNAL["global"]["controlbus"]["external"]["brokers"],
    )


def test_shipped_external_kafka_overlay() -> None:
    overlay, base = VALUES_DIR / "external-kafka.yaml", VALUES_DIR / "prod.yaml"
    assert overlay.read_text().splitlines()[0] == "# overlay-of: prod.yaml"
    brokers = yaml.safe_load(overlay.read_text())["global"]["controlbus"]["external"]["brokers"]
    check_external_kafka(render_chart(values_files=[base, overlay]), brokers)

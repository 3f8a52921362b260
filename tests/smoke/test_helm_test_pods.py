"""The chart's `helm test` pods (templates/tests), rendered: which checks a values set gets, and that each
one runs the client of its dependency's own image, with exactly the Secret keys the service it speaks for
uses, against the rendered Service, and that the network policies let it reach that target and nothing
else. Expectations come from the same render (the workloads, Secrets, Services and policies the checks
must agree with) and from values.yaml (the sizing table), never from the test pods themselves.
(Pod Security, resources and probes of every container, test pods included: tests/security.)"""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest
import yaml
from qmtl_stack.render import Rendered

from tests.harness import render_chart
from tests.harness.objects import redis_acl
from tests.harness.paths import CHART_DIR, VALUES_DIR
from tests.security.netpol import Cluster, ContainerPort, Endpoint

PROD = (VALUES_DIR / "prod.yaml",)
DEV = (VALUES_DIR / "dev.yaml",)
DEDICATED_REDIS = {"global": {"redis": {"dedicatedCoordinator": True}}}
EXTERNAL_URL = "https://coordinator.example.internal:8443/seamless"
EXTERNAL_COORDINATOR = {
    "global": {"seamless": {"coordinator_url": EXTERNAL_URL}, "networkPolicy": {"coordinatorCidrs": ["10.20.0.0/28"]}}
}
HOOK = "helm.sh/hook"
CHECKS = ("coordinator", "redis", "postgres", "questdb", "minio", "controlbus", "neo4j")
# Which values switch renders each dependency's check: the bundled dependency (global.<dep>.enabled).
DEPENDENCY_SWITCH = {
    "redis": "redis",
    "postgres": "postgres",
    "questdb": "questdb",
    "minio": "minio",
    "controlbus": "controlbus",
    "neo4j": "neo4j",
}


def merged_values(files, extra: dict | None = None) -> dict:
    def merge(into: dict, other: dict) -> None:
        for key, value in other.items():
            if isinstance(value, dict) and isinstance(into.get(key), dict):
                merge(into[key], value)
            else:
                into[key] = copy.deepcopy(value)

    values = yaml.safe_load((CHART_DIR / "values.yaml").read_text())
    for path in files:
        merge(values, yaml.safe_load(Path(path).read_text()) or {})
    merge(values, extra or {})
    return values


def check_pods(rendered: Rendered) -> dict[str, dict]:
    """check name -> its pod"""
    return {
        o["metadata"]["name"].removeprefix("qmtl-test-"): o
        for o in rendered.by_kind("Pod")
        if (o["metadata"].get("annotations") or {}).get(HOOK) == "test"
    }


def container(pod: dict) -> dict:
    (only,) = pod["spec"]["containers"]
    return only


def env(c: dict) -> dict[str, dict]:
    return {e["name"]: e for e in c.get("env") or []}


def value(c: dict, name: str) -> str:
    return env(c)[name]["value"]


def secret_refs(c: dict) -> dict[str, tuple[str, str]]:
    return {
        e["name"]: (e["valueFrom"]["secretKeyRef"]["name"], e["valueFrom"]["secretKeyRef"]["key"])
        for e in c.get("env") or []
        if "secretKeyRef" in (e.get("valueFrom") or {})
    }


def workload_containers(rendered: Rendered, kind: str, name: str) -> list[dict]:
    spec = rendered.get(kind, name)["spec"]["template"]["spec"]
    return list(spec.get("initContainers") or []) + list(spec["containers"])


def service_port(rendered: Rendered, name: str, port_name: str | None = None) -> int:
    ports = rendered.get("Service", name)["spec"]["ports"]
    if port_name:
        return next(int(p["port"]) for p in ports if p["name"] == port_name)
    (only,) = ports
    return int(only["port"])


@pytest.fixture(scope="module")
def prod() -> Rendered:
    return render_chart(values_files=PROD)


# --- which checks a values set gets ---------------------------------------------------------------------
def test_each_values_set_gets_a_check_per_bundled_dependency_and_coordinator_url(value_set) -> None:
    values = merged_values(value_set.files)
    g = values["global"]
    expected = {check for check, dep in DEPENDENCY_SWITCH.items() if g[dep].get("enabled")}
    if (g["seamless"].get("coordinator_url") or "").strip():
        expected.add("coordinator")
    assert set(check_pods(render_chart(values_files=value_set.files))) == expected


def test_prod_checks_every_dependency_and_the_coordinator(prod) -> None:
    assert set(check_pods(prod)) == set(CHECKS)


def test_an_external_coordinator_is_checked_at_its_own_url() -> None:
    rendered = render_chart(EXTERNAL_COORDINATOR, values_files=DEV)
    assert set(check_pods(rendered)) == {"coordinator"}
    c = container(check_pods(rendered)["coordinator"])
    assert c["command"][-2:] == ["--url", EXTERNAL_URL]


# --- the pods themselves ----------------------------------------------------------------------------------
@pytest.mark.parametrize("check", CHECKS)
def test_check_is_a_test_hook_that_is_removed_once_passed(prod, check: str) -> None:
    pod = check_pods(prod)[check]
    meta, spec = pod["metadata"], pod["spec"]
    assert meta["annotations"][HOOK] == "test"
    # a passed pod is deleted (helm uninstall never deletes hook objects); a failed one stays for its logs
    assert set(meta["annotations"]["helm.sh/hook-delete-policy"].split(",")) == {
        "before-hook-creation",
        "hook-succeeded",
    }
    assert meta["labels"]["app.kubernetes.io/component"] == f"helm-test-{check}"
    assert meta["labels"]["app.kubernetes.io/instance"] == "qmtl"
    assert spec["restartPolicy"] == "Never"
    assert spec["automountServiceAccountToken"] is False
    assert "serviceAccountName" not in spec
    assert 0 < int(spec["activeDeadlineSeconds"]) <= 600


@pytest.mark.parametrize("check", CHECKS)
def test_check_is_sized_from_the_sizing_table(prod, check: str) -> None:
    table = yaml.safe_load((CHART_DIR / "values.yaml").read_text())["resources"]
    assert container(check_pods(prod)[check])["resources"] == table["prod"][f"helm-test-{check}"]
    dev = render_chart(
        {
            "global": {
                "seamless": {"coordinator_url": EXTERNAL_URL},
                "networkPolicy": {"coordinatorCidrs": ["10.20.0.0/28"]},
            }
        },
        values_files=DEV,
    )
    assert container(check_pods(dev)["coordinator"])["resources"] == table["dev"]["helm-test-coordinator"]


def test_checks_run_the_client_of_their_dependencys_own_image(prod) -> None:
    """redis-cli, psql and rpk from the image the dependency runs, mc from the image the MinIO provisioning
    runs; the coordinator's and QuestDB's checks use python3 of the QMTL image (the QuestDB image has no PG
    client, the QMTL images have no curl), Neo4j's the Neo4j driver in the DAG Manager's image (the client
    dagmanager itself uses)."""
    pods = check_pods(prod)
    image = {check: container(pod)["image"] for check, pod in pods.items()}
    first = {
        name: workload_containers(prod, kind, name)[-1]["image"]
        for kind, name in (
            ("StatefulSet", "redis"),
            ("StatefulSet", "postgres"),
            ("StatefulSet", "redpanda"),
            ("Job", "minio-provision"),
            ("Deployment", "dagmanager"),
        )
    }
    assert image["redis"] == first["redis"]
    assert image["postgres"] == first["postgres"]
    assert image["neo4j"] == first["dagmanager"]
    assert image["controlbus"] == first["redpanda"]
    assert image["minio"] == first["minio-provision"]
    assert image["coordinator"] == image["questdb"] == first["dagmanager"]
    assert container(pods["redis"])["command"][0] == "sh"
    assert "redis-cli" in container(pods["redis"])["command"][-1]
    assert "psql" in container(pods["postgres"])["command"][-1]
    assert container(pods["neo4j"])["command"][:2] == ["python3", "-c"]
    assert "from neo4j import GraphDatabase" in container(pods["neo4j"])["command"][-1]
    assert "rpk" in container(pods["controlbus"])["command"][-1]
    assert "mc" in container(pods["minio"])["command"][-1]
    assert container(pods["questdb"])["command"][:2] == ["python3", "-c"]


def test_checks_use_the_very_secret_keys_of_the_service_they_speak_for(prod) -> None:
    pods = check_pods(prod)

    def refs_of(kind: str, name: str) -> set[tuple[str, str]]:
        return {ref for c in workload_containers(prod, kind, name) for ref in secret_refs(c).values()}

    coordinator = refs_of("Deployment", "seamless-coordinator")
    gateway, worldservice = refs_of("Deployment", "gateway"), refs_of("Deployment", "worldservice")
    # Redis: the coordinator's own ACL user, not the probe user nor another service's
    redis = set(secret_refs(container(pods["redis"])).values())
    assert redis == {ref for ref in coordinator if ref[0] == "qmtl-redis-users"}
    assert len(redis) == 1
    # PostgreSQL: each service's own password (gateway's and worldservice's), never the superuser's
    postgres = set(secret_refs(container(pods["postgres"])).values())
    assert postgres == {ref for ref in gateway | worldservice if ref[0] == "qmtl-postgres"}
    assert not any(name == "qmtl-postgres-superuser" for name, _ in postgres)
    # QuestDB: the coordinator's own credentials. MinIO: the scoped Seamless user the provisioning Job creates
    # (the coordinator itself uses no S3), never MinIO's root
    questdb = set(secret_refs(container(pods["questdb"])).values())
    assert questdb == {ref for ref in coordinator if ref[0] == "qmtl-questdb"}
    minio = set(secret_refs(container(pods["minio"])).values())
    assert minio == {ref for ref in refs_of("Job", "minio-provision") if ref[0] == "qmtl-minio-coordinator"}
    assert len(minio) == 2
    # Neo4j: the dagmanager's password
    assert set(secret_refs(container(pods["neo4j"])).values()) == refs_of("Deployment", "dagmanager")
    # ControlBus: the superuser of the provisioning Job (it creates the unprivileged principal it tests)
    assert set(secret_refs(container(pods["controlbus"])).values()) == refs_of("Job", "controlbus-provision")
    # the coordinator's /healthz check needs no credential
    assert secret_refs(container(pods["coordinator"])) == {}
    # and every key exists in the Secret the release renders
    for check, pod in pods.items():
        for name, key in secret_refs(container(pod)).values():
            secret = prod.get("Secret", name)
            assert key in {**(secret.get("data") or {}), **(secret.get("stringData") or {})}, (check, name, key)


def test_checks_target_the_rendered_services(prod) -> None:
    pods = check_pods(prod)
    redis = container(pods["redis"])
    assert (value(redis, "REDIS_HOST"), int(value(redis, "REDIS_PORT"))) == ("redis", service_port(prod, "redis"))
    pg = container(pods["postgres"])
    assert (value(pg, "PGHOST"), int(value(pg, "PGPORT"))) == ("postgres", service_port(prod, "postgres"))
    qdb = container(pods["questdb"])
    assert (value(qdb, "QUESTDB_HOST"), int(value(qdb, "QUESTDB_PORT"))) == (
        "questdb",
        service_port(prod, "questdb", "pg"),
    )
    s3 = container(pods["minio"])
    assert value(s3, "S3_ENDPOINT") == f"http://minio:{service_port(prod, 'minio')}"
    neo = container(pods["neo4j"])
    assert value(neo, "NEO4J_URI") == f"bolt://neo4j:{service_port(prod, 'neo4j', 'bolt')}"
    cb = container(pods["controlbus"])
    assert value(cb, "CONTROLBUS_INTERNAL") == f"redpanda:{service_port(prod, 'redpanda', 'kafka')}"
    assert value(cb, "RPK_BROKERS") == f"redpanda:{service_port(prod, 'redpanda', 'kafka-sasl')}"
    # the same broker admin endpoints the provisioning Job manages users through
    job = env(workload_containers(prod, "Job", "controlbus-provision")[0])
    assert value(cb, "RPK_ADMIN_HOSTS") == job["RPK_ADMIN_HOSTS"]["value"]
    coordinator = container(pods["coordinator"])
    assert coordinator["command"][-2:] == [
        "--url",
        f"http://seamless-coordinator:{service_port(prod, 'seamless-coordinator', 'http')}",
    ]


def test_the_scripts_a_check_mounts_are_the_charts_own(prod) -> None:
    """The coordinator check runs the guard script of ConfigMap qmtl-config (the prod init containers'
    guard); the ControlBus check re-applies the plan with the provisioning script of ConfigMap
    controlbus-plan, mounted where the provisioning Job mounts it."""
    pods = check_pods(prod)
    for check, configmap, wanted in (
        ("coordinator", "qmtl-config", "coordinator_guard.py"),
        ("controlbus", "controlbus-plan", "provision.sh"),
    ):
        pod = check_pods(prod)[check]
        (volume,) = [v for v in pod["spec"]["volumes"] if "configMap" in v]
        assert volume["configMap"]["name"] == configmap
        assert wanted in prod.get("ConfigMap", configmap)["data"]
        (mount,) = [m for m in container(pod)["volumeMounts"] if m["name"] == volume["name"]]
        assert mount["readOnly"] is True
        assert f"{mount['mountPath']}/{wanted}" in " ".join(container(pods[check])["command"])
    job = prod.get("Job", "controlbus-provision")["spec"]["template"]["spec"]
    job_mounts = {m["mountPath"] for c in job["containers"] for m in c.get("volumeMounts") or []}
    (plan_mount,) = [m for m in container(pods["controlbus"])["volumeMounts"] if m["name"] == "plan"]
    assert plan_mount["mountPath"] in job_mounts


def test_redis_check_keys_follow_the_rendered_acl(prod) -> None:
    """The key the check writes matches the coordinator user's patterns in the rendered ACL file; every key
    it must be refused matches none of them but belongs to another service's user."""
    c = container(check_pods(prod)["redis"])
    acl = redis_acl(prod)
    patterns: dict[str, list[str]] = {}
    for line in acl.splitlines():
        words = line.split()
        if len(words) > 1 and words[0] == "user":
            patterns[words[1]] = [w[1:] for w in words if w.startswith("~")]

    def matches(key: str, globs: list[str]) -> bool:
        return any(re.fullmatch(re.escape(g).replace(r"\*", ".*"), key) for g in globs)

    user = value(c, "REDIS_USER")
    assert user == "seamless-coordinator"
    assert matches(value(c, "REDIS_OWN_KEY"), patterns[user])
    foreign = value(c, "REDIS_FOREIGN_KEYS").split()
    others = {u: p for u, p in patterns.items() if u != user and p}
    assert foreign
    for key in foreign:
        assert not matches(key, patterns[user]), key
        assert any(matches(key, p) for p in others.values()), key
    # one refused key for every other user whose patterns are not covered by the coordinator's
    for other, globs in others.items():
        if any(not matches(g.replace("*", "x"), patterns[user]) for g in globs):
            assert any(matches(key, globs) for key in foreign), f"no refused key of {other}'s"
    assert int(value(c, "REDIS_DB")) == prod_redis_db(prod, user)
    assert value(c, "REDIS_OTHER_DB") != value(c, "REDIS_DB")


def prod_redis_db(rendered: Rendered, user: str) -> int:
    acl = redis_acl(rendered)
    line = next(x for x in acl.splitlines() if x.startswith(f"user {user} "))
    return int(re.search(r"\+select\|(\d+)", line).group(1))


def test_redis_check_follows_the_coordinator_to_its_dedicated_instance() -> None:
    rendered = render_chart(DEDICATED_REDIS, values_files=PROD)
    c = container(check_pods(rendered)["redis"])
    assert value(c, "REDIS_HOST") == "redis-seamless"
    assert int(value(c, "REDIS_PORT")) == service_port(rendered, "redis-seamless")


# --- the network ------------------------------------------------------------------------------------------
def _pods_by_component(rendered: Rendered) -> dict[str, Endpoint]:
    out: dict[str, Endpoint] = {}
    index = 0
    for obj in rendered.objects:
        if obj["kind"] in ("Deployment", "StatefulSet", "Job"):
            template = obj["spec"]["template"]
        elif obj["kind"] == "Pod":
            template = obj
        else:
            continue
        labels = template["metadata"]["labels"]
        ports = tuple(
            ContainerPort(int(p["containerPort"]), p.get("name"), p.get("protocol", "TCP"))
            for c in template["spec"]["containers"]
            for p in c.get("ports") or []
        )
        index += 1
        out[labels["app.kubernetes.io/component"]] = Endpoint(
            labels["app.kubernetes.io/component"], f"10.244.7.{index}", "qmtl", labels, ports
        )
    return out


@pytest.mark.parametrize(
    ("values", "check", "target", "ports"),
    [
        ({}, "coordinator", "seamless-coordinator", {"coordinator"}),
        ({}, "redis", "redis", {"redis"}),
        (DEDICATED_REDIS, "redis", "redis-seamless", {"redis"}),
        ({}, "postgres", "postgres", {"postgres"}),
        ({}, "questdb", "questdb", {"questdbPg"}),
        ({}, "minio", "minio", {"minio"}),
        ({}, "neo4j", "neo4j", {"neo4jBolt"}),
        ({}, "controlbus", "controlbus", {"kafka", "kafkaSasl", "redpandaAdmin"}),
    ],
    ids=["coordinator", "redis", "redis-dedicated", "postgres", "questdb", "minio", "neo4j", "controlbus"],
)
def test_policies_let_a_check_reach_its_target_and_nothing_else(values, check, target, ports) -> None:
    rendered = render_chart(values, values_files=PROD)
    global_ports = merged_values(PROD, values)["global"]["ports"]
    cluster = Cluster(rendered.by_kind("NetworkPolicy"), "qmtl", {"qmtl": {}})
    pods = _pods_by_component(rendered)
    source = pods[f"helm-test-{check}"]
    candidates = {(int(p), "TCP") for p in global_ports.values()} | {(53, "TCP"), (1, "TCP")}
    reach = {
        (name, port)
        for name, dst in pods.items()
        if name != source.name
        for port, _ in cluster.allowed_ports(source, dst, sorted(candidates))
    }
    assert reach == {(target, int(global_ports[key])) for key in ports}
    # and nothing in the release reaches a test pod
    assert not any(cluster.allowed_ports(src, source, sorted(candidates)) for src in pods.values() if src != source)

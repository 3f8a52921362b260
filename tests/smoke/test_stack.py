"""The chart on a real Kubernetes API: install, `helm test`, upgrade, rollback and uninstall.

Runs on whatever cluster KUBECONFIG names. On the local cluster with its REAL node (scripts/local-cluster.sh
start; what scripts/test.sh's smoke phases use) every pod of the release runs for real: Ready means its
process answers its probes; the chart's images must be on the node (scripts/images.sh build --load) and the
dependencies whose images cannot run here are managed services (the real engines, tests/smoke/managed.py;
which ones: tests/smoke/real-node.yaml); prod runs with values/small-node.yaml (prod's requests do not fit
the 2-CPU node). There, beyond the API's bookkeeping, the suite proves: the helm test pods' checks pass and
fail on a broken credential, the prod runtime guard holds the gateway in Init while the coordinator is down,
an SDK worker leases through the coordinator Service, the NetworkPolicies are enforced edge by edge, and
a world stored through the gateway and a Redis key survive an upgrade, a rollback and a restart of every pod.

On kwok nodes (`start --kwok-only`) or kind (scripts/kind-cluster.sh): kwok marks scheduled pods Running and
Ready without a container, completes Job pods and, through the chart's own kwok Stage
(scripts/cluster/kwok-stages.yaml), helm test pods; the tests that need running containers skip there,
saying so.

Every stage is a module fixture that depends on the previous one (install -> helm test -> upgrade ->
rollback -> uninstall) and returns what it observed, so the tests can run in any order or be selected
one by one. QMTL_SMOKE_VALUES: extra values files (os.pathsep-separated) added to every install, e.g.
image overrides for a kind cluster. Install-to-ready times are printed at the end of the run.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import os
import secrets
import tempfile
import time
from pathlib import Path

import pytest
import yaml
from pytest_helm_charts.k8s.deployment import wait_for_deployments_to_run
from pytest_helm_charts.k8s.stateful_set import wait_for_stateful_sets_to_run
from qmtl_stack.render import Rendered

from tests.harness import HelmResult, helm_binary, render_chart
from tests.harness.objects import chart_values, dsn, qmtl_config
from tests.harness.paths import VALUES_DIR
from tests.smoke.conftest import record_timing
from tests.smoke.kube import HOOK, Kube, ObjectRef, helm
from tests.smoke.managed import LOCAL_DEPENDENCY_IMAGES, REAL_NODE_VALUES, ManagedServices, managed_dependencies
from tests.smoke.realnode import IMAGES_HOW, http_json, missing_images, on_local_real_node, port_forward

pytestmark = pytest.mark.smoke

RELEASE = "qmtl"
DEV = (VALUES_DIR / "dev.yaml",)
DEV_COORDINATOR = (VALUES_DIR / "dev.yaml", VALUES_DIR / "dev-coordinator.yaml")
PROD = (VALUES_DIR / "prod.yaml",)
# prod's requests (about 12 CPUs) do not fit the local cluster's 2-CPU node: the shipped small-node overlay
SMALL_NODE = VALUES_DIR / "small-node.yaml"
# SDK workers of the stack: the peers global.networkPolicy.coordinator.from admits (tests/smoke/realchecks.py)
WORKER_LABELS = {"qmtl-stack.io/seamless-worker": "smoke"}
WORKER_PEERS = {
    "global": {"networkPolicy": {"coordinator": {"from": [{"podSelector": {"matchLabels": WORKER_LABELS}}]}}}
}
PSS_LABELS = {
    "pod-security.kubernetes.io/enforce": "restricted",
    "pod-security.kubernetes.io/enforce-version": "latest",
    "pod-security.kubernetes.io/warn": "restricted",
}
READY_TIMEOUT = 300
KEEP = "helm.sh/resource-policy"
# The upgrade's changed value and, by design, what it changes: the worldservice's own port (its container
# and probes) and, through the gateway's QMTL config (worldservice_url), the gateway's config checksum.
# Nothing else reads it; every other workload must keep its pods.
UPGRADE_KEY = ("global", "ports", "worldservice")
UPGRADE_ROLLS = {"Deployment/gateway", "Deployment/worldservice"}


def extra_values() -> tuple[Path, ...]:
    raw = os.environ.get("QMTL_SMOKE_VALUES", "")
    return tuple(Path(p).resolve() for p in raw.split(os.pathsep) if p)


def values_args(files) -> list[str]:
    args: list[str] = []
    for path in files:
        args += ["-f", str(path)]
    return args


def ok(result: HelmResult, what: str) -> HelmResult:
    assert result.ok, f"{what} failed (exit {result.returncode}):\n{result.stderr}\n{result.stdout[-2000:]}"
    return result


# --- namespaces ---------------------------------------------------------------------------------------
@dataclasses.dataclass
class Namespace:
    name: str
    pre_existing: dict[str, ObjectRef]  # what the API put there by itself (default SA, root CA ConfigMap)


def make_namespace(cluster, namespace_factory, purpose: str) -> Namespace:
    name = f"qmtl-smoke-{purpose}-{secrets.token_hex(3)}"
    namespace_factory(name, extra_metadata={"labels": PSS_LABELS})
    kube: Kube = cluster.kube

    def settled():
        inv = kube.inventory(name)
        have = {(o.kind, o.name) for o in inv.values()}
        return inv if {("ServiceAccount", "default"), ("ConfigMap", "kube-root-ca.crt")} <= have else None

    return Namespace(name, kube.wait_until(settled, 60, f"namespace {name}'s default objects"))


def new_objects(kube: Kube, ns: Namespace) -> list[ObjectRef]:
    return sorted((o for uid, o in kube.inventory(ns.name).items() if uid not in ns.pre_existing), key=str)


# --- install ------------------------------------------------------------------------------------------
@dataclasses.dataclass
class Installed:
    purpose: str
    kube: Kube
    ns: Namespace
    files: tuple[Path, ...]
    rendered: Rendered
    install: HelmResult
    seconds_to_ready: float
    job_pods: dict[str, list[tuple]]  # the pods of Jobs (helm hooks) seen during the install
    ready: dict  # what pytest-helm-charts saw ready: {"Deployment/x": obj, "StatefulSet/y": obj}
    workloads: dict[str, dict]
    pods: list[dict]
    secrets: dict[str, dict[str, str]]
    pvcs: dict[str, tuple[str, str]]
    real_node: bool = False  # the pods run (the local cluster's real node)
    managed: ManagedServices | None = None  # the dependencies run as managed services there

    @property
    def values(self) -> dict:
        """The merged values of the install (values.yaml and every file, as helm merged them)."""
        return chart_values(*self.files)


def rendered_workloads(rendered: Rendered) -> dict[str, dict]:
    return {
        f"{o['kind']}/{o['metadata']['name']}": o
        for o in rendered.objects
        if o["kind"] in ("Deployment", "StatefulSet")
    }


def rendered_test_pods(rendered: Rendered) -> dict[str, dict]:
    return {
        o["metadata"]["name"]: o
        for o in rendered.by_kind("Pod")
        if (o["metadata"].get("annotations") or {}).get(HOOK) == "test"
    }


JOB_NAME = "batch.kubernetes.io/job-name"


def is_job_pod(pod: dict) -> bool:
    return JOB_NAME in (pod["metadata"].get("labels") or {})


def install(
    cluster, namespace_factory, purpose: str, files: tuple[Path, ...], services: list | None = None
) -> Installed:
    """helm install FILES into a new restricted namespace, then wait (Helm's --wait, then pytest-helm-charts)
    until every workload is ready. On the local real node: first the managed services for the dependencies
    tests/smoke/real-node.yaml does not bundle (started, provisioned, their Secrets created in the namespace;
    appended to `services` so the module stops them), and the install gets the local dependency images,
    real-node.yaml and the managed services' values."""
    kube: Kube = cluster.kube
    ns = make_namespace(cluster, namespace_factory, purpose)
    files = files + extra_values()
    real = on_local_real_node(kube)
    managed = None
    if real:
        files = (*files, LOCAL_DEPENDENCY_IMAGES)
        bundled = render_chart(values_files=files, namespace=ns.name, release=RELEASE)
        managed = ManagedServices.start(
            managed_dependencies(files), bundled.text, Path(tempfile.mkdtemp(prefix=f"qmtl-managed-{purpose}-"))
        )
        if services is not None:
            services.append(managed)
        if managed.deps:
            record_timing(f"{purpose} managed services up", managed.seconds_to_start)
        for secret in managed.secrets():
            kube.core.create_namespaced_secret(ns.name, secret)
        # the user's own objects, as an operator creates them before installing: not the release's
        ns.pre_existing = kube.inventory(ns.name)
        files = (*files, REAL_NODE_VALUES, managed.values_file())
    rendered = render_chart(values_files=files, namespace=ns.name, release=RELEASE)
    if real:
        missing = missing_images(rendered)
        assert not missing, f"the real node lacks the images {missing}: {IMAGES_HOW}"
    started = time.monotonic()
    with kube.record_pods(ns.name, is_job_pod, settled=jobs_ended) as job_pods:
        result = ok(
            helm("install", RELEASE, ".", "-n", ns.name, *values_args(files), "--wait"), f"helm install ({purpose})"
        )
    # Independently of Helm's --wait: pytest-helm-charts' readiness checks over the rendered workloads.
    expected = rendered_workloads(rendered)
    deployments = [k.split("/", 1)[1] for k in expected if k.startswith("Deployment/")]
    statefulsets = [k.split("/", 1)[1] for k in expected if k.startswith("StatefulSet/")]
    ready: dict = {}
    if deployments:
        for d in wait_for_deployments_to_run(cluster.pykube, deployments, ns.name, READY_TIMEOUT, missing_ok=False):
            ready[f"Deployment/{d.name}"] = d.obj
    if statefulsets:
        for s in wait_for_stateful_sets_to_run(cluster.pykube, statefulsets, ns.name, READY_TIMEOUT, missing_ok=False):
            ready[f"StatefulSet/{s.name}"] = s.obj
    seconds = time.monotonic() - started
    record_timing(f"{purpose} install-to-ready", seconds)
    return Installed(
        purpose,
        kube,
        ns,
        files,
        rendered,
        result,
        seconds,
        job_pods,
        ready,
        kube.workloads(ns.name),
        kube.pods(ns.name, f"app.kubernetes.io/instance={RELEASE}"),
        kube.secrets(ns.name),
        kube.pvcs(ns.name),
        real,
        managed,
    )


@pytest.fixture(scope="module")
def real_node(smoke_cluster) -> bool:
    return on_local_real_node(smoke_cluster.kube)


@pytest.fixture(scope="module")
def dev(smoke_cluster, namespace_factory, managed_services) -> Installed:
    return install(smoke_cluster, namespace_factory, "dev", DEV, managed_services)


@pytest.fixture(scope="module")
def dev_coordinator(smoke_cluster, namespace_factory, managed_services) -> Installed:
    return install(smoke_cluster, namespace_factory, "dev-coordinator", DEV_COORDINATOR, managed_services)


@pytest.fixture(scope="module")
def prod(smoke_cluster, namespace_factory, managed_services, real_node, tmp_path_factory) -> Installed:
    peers = tmp_path_factory.mktemp("prod-values") / "sdk-workers.yaml"
    peers.write_text(yaml.safe_dump(WORKER_PEERS))
    files = PROD + ((SMALL_NODE,) if real_node else ()) + (peers,)
    return install(smoke_cluster, namespace_factory, "prod", files, managed_services)


@pytest.fixture(scope="module", params=["dev", "dev_coordinator", "prod"])
def installed(request) -> Installed:
    return request.getfixturevalue(request.param)


# --- helm test ----------------------------------------------------------------------------------------
@dataclasses.dataclass
class HelmTestRun:
    result: HelmResult
    events: dict[str, list[tuple]]  # pod name -> [(event type, pod)]
    kwok: bool


def is_test_pod(pod: dict) -> bool:
    return (pod["metadata"].get("annotations") or {}).get(HOOK) == "test"


def _phase(events: list[tuple]) -> str | None:
    return events[-1][1]["status"].get("phase")


def jobs_ended(recorded: dict[str, list[tuple]]) -> bool:
    return all(events[-1][0] == "DELETED" or _phase(events) in ("Succeeded", "Failed") for events in recorded.values())


def helm_tests_ended(recorded: dict[str, list[tuple]]) -> bool:
    """A passed test pod is deleted by Helm (hook-succeeded); a failed one stays, for its logs."""
    return all(events[-1][0] == "DELETED" or _phase(events) == "Failed" for events in recorded.values())


def run_helm_test(rel: Installed) -> HelmTestRun:
    with rel.kube.record_pods(rel.ns.name, is_test_pod, settled=helm_tests_ended) as events:
        result = helm("test", RELEASE, "-n", rel.ns.name)
    return HelmTestRun(result, events, rel.kube.is_kwok())


@pytest.fixture(scope="module")
def dev_tested(dev) -> HelmTestRun:
    return run_helm_test(dev)


@pytest.fixture(scope="module")
def dev_coordinator_tested(dev_coordinator) -> HelmTestRun:
    return run_helm_test(dev_coordinator)


@pytest.fixture(scope="module")
def prod_tested(prod) -> HelmTestRun:
    return run_helm_test(prod)


# --- what only running pods can show (the local real node) ---------------------------------------------------
def need_real_node(rel: Installed) -> None:
    if not rel.real_node:
        pytest.skip(
            "needs the chart's pods to run: the local cluster's real node (scripts/local-cluster.sh start, then "
            "scripts/images.sh build --load); on kwok nodes no container runs"
        )


# The checks of how the cluster treats the running release (the runtime guard, an SDK worker's lease, the
# NetworkPolicy matrix, helm test with a broken credential, every pod replaced at once) do not depend on the
# Helm version that installed it: scripts/test.sh runs them under its first Helm only and sets this to 0 for
# the others (each takes minutes on the 2-CPU node). By hand they run unless it is 0.
CLUSTER_CHECKS_ENV = "QMTL_SMOKE_CLUSTER_CHECKS"


def cluster_checks_here(rel: Installed) -> bool:
    return rel.real_node and os.environ.get(CLUSTER_CHECKS_ENV) != "0"


def need_cluster_checks(rel: Installed) -> None:
    need_real_node(rel)
    if not cluster_checks_here(rel):
        pytest.skip(
            f"{CLUSTER_CHECKS_ENV}=0: independent of the Helm version, so scripts/test.sh runs it under its first "
            "Helm only (it ran there, on the same cluster)"
        )


def node_cluster(rel: Installed):
    from tests.cluster.node import NodeCluster

    return NodeCluster(rel.kube.kubeconfig)


@dataclasses.dataclass
class BrokenCredential:
    secret: str
    key: str
    broken: HelmTestRun
    failed_logs: dict[str, str]
    repaired: HelmTestRun


@pytest.fixture(scope="module")
def dev_coordinator_broken(dev_coordinator, dev_coordinator_tested) -> BrokenCredential | None:
    """The coordinator's Redis password in its Secret changed (its pods restarted to read it), `helm test`
    run, the Secret put back, the pods restarted, `helm test` run again."""
    rel = dev_coordinator
    if not cluster_checks_here(rel):
        return None
    deployment = rel.rendered.get("Deployment", "seamless-coordinator")
    env = {e["name"]: e for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
    ref = env["REDIS_PASSWORD"]["valueFrom"]["secretKeyRef"]
    secret = rel.kube.core.read_namespaced_secret(ref["name"], rel.ns.name)
    original = secret.data[ref["key"]]
    selector = "app.kubernetes.io/component=seamless-coordinator"

    def set_password(value: str) -> None:
        rel.kube.core.patch_namespaced_secret(ref["name"], rel.ns.name, {"data": {ref["key"]: value}})
        rel.kube.core.delete_collection_namespaced_pod(rel.ns.name, label_selector=selector)

    set_password(base64.b64encode(b"not-the-password").decode())
    try:
        broken = run_helm_test(rel)
        logs = {
            name: rel.kube.core.read_namespaced_pod_log(name, rel.ns.name)
            for name, events in broken.events.items()
            if _phase(events) == "Failed"
        }
    finally:
        set_password(original)
    nc = node_cluster(rel)
    try:
        nc.kubectl("rollout", "status", "deployment/seamless-coordinator", "-n", rel.ns.name, "--timeout=180s")
    finally:
        nc.close()
    repaired = run_helm_test(rel)
    return BrokenCredential(ref["name"], ref["key"], broken, logs, repaired)


@pytest.fixture(scope="module")
def prod_guard(prod, prod_tested):
    """The runtime guard held the gateway while the coordinator was down, and let it start once it was back."""
    if not cluster_checks_here(prod):
        return None
    from tests.smoke.realchecks import guard_cycle

    g = prod.values["global"]
    window = int(g["guard"]["attempts"]) * (int(g["guard"]["intervalSeconds"]) + int(g["guard"]["timeoutSeconds"]))
    nc = node_cluster(prod)
    try:
        cycle = guard_cycle(nc, prod.ns.name, g["seamless"]["coordinator_url"], hold_seconds=window + 10)
    finally:
        nc.close()
    if cycle.started:
        with port_forward(prod.kube.kubeconfig, prod.ns.name, "svc/gateway", gateway_port(prod)) as local:
            status, body = http_json(local, "GET", "/status")
        cycle.status_after = (status, body.get("status") if isinstance(body, dict) else None)
        cycle.status_body = body
    return cycle


@pytest.fixture(scope="module")
def prod_workers(prod, prod_tested) -> dict | None:
    """Two SDK worker Jobs: one labelled as global.networkPolicy.coordinator.from admits, one not."""
    if not cluster_checks_here(prod):
        return None
    from tests.smoke.realchecks import run_worker

    nc = node_cluster(prod)
    try:
        return {
            "admitted": run_worker(nc, prod.ns.name, prod.rendered, "sdk-worker", WORKER_LABELS),
            "unlabelled": run_worker(nc, prod.ns.name, prod.rendered, "sdk-worker-unlabelled", {"app": "other"}),
        }
    finally:
        # the workers are this test's, not the release's: gone before the namespace is inventoried again
        nc.kubectl("delete", "job", "sdk-worker", "sdk-worker-unlabelled", "-n", prod.ns.name,
                   "--cascade=foreground", "--ignore-not-found", "--timeout=120s", timeout=150)  # fmt: skip
        nc.close()


@pytest.fixture(scope="module")
def prod_network(prod, prod_tested):
    if not cluster_checks_here(prod):
        return None
    from tests.smoke.realchecks import network_matrix

    extra = []
    if prod.managed:
        for dep in prod.managed.deps:
            access = prod.managed.access(dep)
            extra += [("10.0.0.1", int(v)) for k, v in access.items() if k.endswith("port")]
    nc = node_cluster(prod)
    try:
        matrix = network_matrix(nc, prod.ns.name, prod.rendered, prod.values, extra)
    finally:
        nc.close()
    print(
        f"\nNetworkPolicies on the real node ({helm_binary().major and f'helm{helm_binary().major}'}): "
        f"{matrix.allowed} allowed and {matrix.denied} denied connections checked, canary {matrix.canary}"
    )
    return matrix


# --- data that must survive upgrade, rollback and restarts ---------------------------------------------
@dataclasses.dataclass
class StoredData:
    world: dict
    redis_key: str
    redis_value: str


def gateway_port(rel: Installed) -> int:
    return int(rel.rendered.get("Service", "gateway")["spec"]["ports"][0]["port"])


@contextlib.contextmanager
def gateway_redis(rel: Installed):
    """A redis client as the gateway's own Redis user, wherever the release's Redis is: the bundled one
    (kubectl port-forward) or the managed one (the node address, through nsforward)."""
    import redis

    url = dsn(qmtl_config(rel.rendered)["gateway"]["redis_dsn"])
    init = next(
        c
        for c in rel.rendered.get("Deployment", "gateway")["spec"]["template"]["spec"]["initContainers"]
        if c["name"] == "qmtl-config"
    )
    refs = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in init["env"] if "secretKeyRef" in e.get("valueFrom", {})}
    ref = refs["QMTL_SECRET_REDIS_GATEWAY"]
    password = base64.b64decode(rel.kube.core.read_namespaced_secret(ref["name"], rel.ns.name).data[ref["key"]])
    db = int(url.path.strip("/") or 0)
    if rel.managed and "redis" in rel.managed.deps:
        client = redis.Redis(
            "127.0.0.1", rel.managed.forward("redis"), username=url.username, password=password.decode(), db=db
        )
        yield client
        client.close()
        return
    with port_forward(rel.kube.kubeconfig, rel.ns.name, f"svc/{url.host}", int(url.port)) as local:
        client = redis.Redis("127.0.0.1", local, username=url.username, password=password.decode(), db=db)
        yield client
        client.close()


def read_data(rel: Installed, data: StoredData, settle_s: float = 30) -> tuple[object, object]:
    """The world through the gateway and the Redis key. Right after pods were replaced the gateway may not
    reach WorldService for a moment (the enforcer admits new pod addresses asynchronously), so a read that is
    not 200 is tried again for up to `settle_s`; a world that is really gone stays 404 and fails the caller."""
    deadline = time.monotonic() + settle_s
    with port_forward(rel.kube.kubeconfig, rel.ns.name, "svc/gateway", gateway_port(rel)) as local:
        while True:
            try:
                status, world = http_json(local, "GET", f"/worlds/{data.world['id']}")
            except OSError as exc:  # the forwarded connection itself
                status, world = 0, f"{type(exc).__name__}: {exc}"
            if status == 200 or time.monotonic() > deadline:
                break
            time.sleep(1)
    with gateway_redis(rel) as client:
        value = client.get(data.redis_key)
    return (status, world), (value.decode() if value is not None else None)


def data_survived(rel: Installed, data: StoredData | None, when: str) -> None:
    if data is None:
        return
    (status, world), value = read_data(rel, data)
    assert status == 200, f"{when}: GET /worlds/{data.world['id']} through the gateway: {status} {world}"
    assert world["name"] == data.world["name"], f"{when}: the world came back as {world}"
    assert value == data.redis_value, f"{when}: Redis key {data.redis_key} is {value!r}"


@pytest.fixture(scope="module")
def prod_data(prod, prod_tested) -> StoredData | None:
    """A world created through the gateway (kubectl port-forward svc/gateway, as a user does; WorldService stores
    it in PostgreSQL) and a key written to Redis as the gateway's own user (its own key pattern), before the
    upgrade."""
    if not prod.real_node:
        return None
    token = secrets.token_hex(4)
    data = StoredData(
        {"id": f"smoke-{token}", "name": f"kept through upgrades {token}"}, f"strategy:smoke-{token}", token
    )
    with port_forward(prod.kube.kubeconfig, prod.ns.name, "svc/gateway", gateway_port(prod)) as local:
        status, body = http_json(local, "POST", "/worlds", data.world)
    assert status in (200, 201), f"POST /worlds through the gateway: {status} {body}"
    with gateway_redis(prod) as client:
        assert client.set(data.redis_key, data.redis_value)
    data_survived(prod, data, "right after writing")
    return data


# --- upgrade, rollback, uninstall (prod) -----------------------------------------------------------------
@dataclasses.dataclass
class State:
    workloads: dict[str, dict]
    pods: dict[str, dict[str, str]]  # workload -> {pod name: uid}
    secrets: dict[str, dict[str, str]]
    pvcs: dict[str, tuple[str, str]]


def state(rel: Installed) -> State:
    workloads = rel.kube.workloads(rel.ns.name)
    return State(
        workloads,
        {k: rel.kube.pods_of(rel.ns.name, w) for k, w in workloads.items()},
        rel.kube.secrets(rel.ns.name),
        rel.kube.pvcs(rel.ns.name),
    )


def revision(key: str, workload: dict) -> str:
    if key.startswith("Deployment/"):
        return workload["metadata"]["annotations"]["deployment.kubernetes.io/revision"]
    return workload["status"]["updateRevision"]


@dataclasses.dataclass
class Upgraded:
    before: State
    after: State
    changed_value: dict
    rendered_after: Rendered
    data: tuple | None = None  # (world lookup, Redis value) read after the upgrade


@dataclasses.dataclass
class RefusedUpgrade:
    result: HelmResult
    history: list[dict]
    before: State
    after: State


@pytest.fixture(scope="module")
def prod_upgrade_refused(
    prod, prod_tested, prod_guard, prod_workers, prod_network, prod_data, tmp_path_factory
) -> RefusedUpgrade:
    """`helm upgrade` of the installed prod release with coordinator_url emptied: refused, nothing changes."""
    path = tmp_path_factory.mktemp("refused-upgrade") / "no-coordinator.yaml"
    path.write_text(yaml.safe_dump({"global": {"seamless": {"coordinator_url": ""}}}))
    before = state(prod)
    result = helm("upgrade", RELEASE, ".", "-n", prod.ns.name, *values_args(prod.files), "-f", str(path), "--wait")
    history = yaml.safe_load(ok(helm("history", RELEASE, "-n", prod.ns.name, "-o", "yaml"), "helm history").stdout)
    return RefusedUpgrade(result, history, before, state(prod))


@pytest.fixture(scope="module")
def prod_upgraded(prod, prod_tested, prod_upgrade_refused, prod_data, tmp_path_factory) -> Upgraded:
    old_port = int(prod.rendered.get("Service", "worldservice")["spec"]["ports"][0]["port"])
    change: dict = {}
    node = change
    for key in UPGRADE_KEY[:-1]:
        node = node.setdefault(key, {})
    node[UPGRADE_KEY[-1]] = old_port + 1
    path = tmp_path_factory.mktemp("upgrade") / "changed.yaml"
    path.write_text(yaml.safe_dump(change))
    before = state(prod)
    ok(
        helm("upgrade", RELEASE, ".", "-n", prod.ns.name, *values_args(prod.files), "-f", str(path), "--wait"),
        "helm upgrade",
    )
    rendered_after = render_chart(change, values_files=prod.files, namespace=prod.ns.name, release=RELEASE)
    after = state(prod)
    return Upgraded(before, after, change, rendered_after, read_data(prod, prod_data) if prod_data else None)


@dataclasses.dataclass
class RolledBack:
    result: HelmResult
    history: list[dict]
    after: State
    data: tuple | None = None


@pytest.fixture(scope="module")
def prod_rolled_back(prod, prod_upgraded, prod_data) -> RolledBack:
    result = ok(helm("rollback", RELEASE, "1", "-n", prod.ns.name, "--wait"), "helm rollback")
    history = yaml.safe_load(ok(helm("history", RELEASE, "-n", prod.ns.name, "-o", "yaml"), "helm history").stdout)
    return RolledBack(result, history, state(prod), read_data(prod, prod_data) if prod_data else None)


@dataclasses.dataclass
class Restarted:
    replaced: dict[str, tuple[set[str], set[str]]]  # workload -> (pods before, pods after)
    data: tuple


@pytest.fixture(scope="module")
def prod_restarted(prod, prod_rolled_back, prod_data) -> Restarted | None:
    """Every pod of the release deleted at once (the controllers make new ones), then the data read again."""
    if not cluster_checks_here(prod):
        return None
    before = state(prod)
    prod.kube.core.delete_collection_namespaced_pod(
        prod.ns.name, label_selector=f"app.kubernetes.io/instance={RELEASE}"
    )
    nc = node_cluster(prod)
    try:
        for key in before.workloads:
            kind, name = key.split("/", 1)
            nc.kubectl("rollout", "status", f"{kind.lower()}/{name}", "-n", prod.ns.name, "--timeout=300s", timeout=330)
    finally:
        nc.close()
    after = state(prod)

    def replaced_everywhere():
        now = state(prod)
        return (
            all(
                len(now.pods[k]) == len(before.pods[k]) and not set(now.pods[k].values()) & set(before.pods[k].values())
                for k in before.workloads
            )
            and now
        )

    after = prod.kube.wait_until(replaced_everywhere, 120, "every workload's pods replaced")
    replaced = {k: (set(before.pods[k].values()), set(after.pods[k].values())) for k in before.workloads}
    return Restarted(replaced, read_data(prod, prod_data))


@dataclasses.dataclass
class Uninstalled:
    result: HelmResult
    leftover: list[ObjectRef]
    expected: set[tuple[str, str]]
    release_records: list[str]


def kept_by_design(rendered: Rendered) -> set[tuple[str, str]]:
    """(kind, name) of what an uninstall must leave: the PVCs of StatefulSets whose retention policy keeps
    them on deletion, and every object the chart marks helm.sh/resource-policy: keep."""
    kept = set()
    for sts in rendered.by_kind("StatefulSet"):
        spec = sts["spec"]
        policy = (spec.get("persistentVolumeClaimRetentionPolicy") or {}).get("whenDeleted", "Retain")
        if policy != "Retain":
            continue
        for template in spec.get("volumeClaimTemplates") or []:
            for i in range(int(spec.get("replicas", 1))):
                kept.add(("PersistentVolumeClaim", f"{template['metadata']['name']}-{sts['metadata']['name']}-{i}"))
    for obj in rendered.objects:
        if (obj["metadata"].get("annotations") or {}).get(KEEP) == "keep":
            kept.add((obj["kind"], obj["metadata"]["name"]))
    return kept


@pytest.fixture(scope="module")
def prod_uninstalled(prod, prod_rolled_back, prod_restarted) -> Uninstalled:
    result = ok(helm("uninstall", RELEASE, "-n", prod.ns.name, "--wait"), "helm uninstall")
    expected = kept_by_design(prod.rendered)

    def settled():
        # controllers finish after Helm returns (pods terminating, EndpointSlices, ControllerRevisions)
        left = new_objects(prod.kube, prod.ns)
        return left if {(o.kind, o.name) for o in left} == expected else None

    try:
        leftover = prod.kube.wait_until(settled, 90, "the namespace to hold only what the chart keeps", 2)
    except AssertionError:
        leftover = new_objects(prod.kube, prod.ns)
    return Uninstalled(result, leftover, expected, prod.kube.release_records(prod.ns.name))


# --- refused install ----------------------------------------------------------------------------------
@dataclasses.dataclass
class Refused:
    result: HelmResult
    objects: list[ObjectRef]
    release_records: list[str]
    releases: list


@pytest.fixture(scope="module")
def prod_without_coordinator(smoke_cluster, namespace_factory, tmp_path_factory) -> Refused:
    ns = make_namespace(smoke_cluster, namespace_factory, "refused")
    path = tmp_path_factory.mktemp("refused") / "no-coordinator.yaml"
    path.write_text(yaml.safe_dump({"global": {"seamless": {"coordinator_url": ""}}}))
    files = PROD + extra_values() + (path,)
    result = helm("install", RELEASE, ".", "-n", ns.name, *values_args(files), "--wait")
    every_status = ["--all"] if helm_binary().major == 3 else []  # Helm 4 lists every status by default
    listed = yaml.safe_load(ok(helm("list", "-n", ns.name, *every_status, "-o", "yaml"), "helm list").stdout) or []
    return Refused(result, new_objects(smoke_cluster.kube, ns), smoke_cluster.kube.release_records(ns.name), listed)


# ======================================================================================================
# Tests
# ======================================================================================================
def test_namespaces_really_enforce_pod_security_restricted(installed: Installed) -> None:
    """The namespace is labelled restricted AND the API enforces it: a privileged pod is refused there,
    so every pod that exists in it was admitted under "restricted"."""
    ns = installed.kube.core.read_namespace(installed.ns.name)
    assert ns.metadata.labels["pod-security.kubernetes.io/enforce"] == "restricted"
    privileged = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "pss-probe"},
        "spec": {
            "containers": [{"name": "c", "image": "example.invalid/x:1", "securityContext": {"privileged": True}}]
        },
    }
    refusal = installed.kube.server_dry_run_pod(installed.ns.name, privileged)
    assert refusal, f"a privileged pod was admitted in {installed.ns.name}"
    assert "PodSecurity" in refusal, refusal
    assert "restricted" in refusal, refusal


def test_install_creates_every_rendered_object(installed: Installed) -> None:
    have = {(o.kind, o.name) for o in installed.kube.inventory(installed.ns.name).values()}
    missing = [
        f"{o['kind']}/{o['metadata']['name']}"
        for o in installed.rendered.objects
        if HOOK not in (o["metadata"].get("annotations") or {}) and (o["kind"], o["metadata"]["name"]) not in have
    ]
    assert not missing, f"rendered but not in namespace {installed.ns.name}: {missing}"


def test_every_workload_becomes_ready(installed: Installed) -> None:
    expected = rendered_workloads(installed.rendered)
    assert expected, "the render has no workloads"
    assert set(installed.ready) == set(expected)
    for key, obj in installed.ready.items():
        want = int(expected[key]["spec"].get("replicas", 1))
        field = "availableReplicas" if key.startswith("Deployment/") else "readyReplicas"
        assert int(obj["status"].get(field, 0)) == want, f"{key}: {field} {obj['status']} (want {want})"


def test_every_pod_of_the_release_is_admitted_scheduled_and_ready(installed: Installed) -> None:
    expected = sum(int(w["spec"].get("replicas", 1)) for w in rendered_workloads(installed.rendered).values())
    running = [p for p in installed.pods if p["status"].get("phase") == "Running"]
    assert len(running) == expected, (
        f"{len(running)} running pods, want {expected}: {[p['metadata']['name'] for p in installed.pods]}"
    )
    for pod in running:
        ready = {c["type"]: c["status"] for c in pod["status"].get("conditions") or []}
        assert pod["spec"].get("nodeName"), f"{pod['metadata']['name']} is not scheduled"
        assert ready.get("Ready") == "True", f"{pod['metadata']['name']} is not Ready: {ready}"


def test_install_hooks_run_to_completion(installed: Installed) -> None:
    """Every post-install hook Job of the render got a pod that succeeded (on kwok: completed by kwok's own
    pod-complete stage for Job pods, without running) before Helm reported the install done, and was then
    deleted (hook-succeeded), so no hook Job is left in the namespace."""
    hooks = {
        o["metadata"]["name"]: o
        for o in installed.rendered.by_kind("Job")
        if "post-install" in (o["metadata"].get("annotations") or {}).get(HOOK, "")
    }
    provisioned = {"postgres", "minio", "neo4j", "controlbus"}  # the bundled dependencies with a hook Job
    if any(installed.values["global"][dep]["enabled"] for dep in provisioned):
        assert hooks, f"{installed.purpose} bundles a dependency that is provisioned by a hook Job, yet renders none"
    succeeded: dict[str, set[str]] = {}
    for _, events in installed.job_pods.items():
        for _, pod in events:
            job = pod["metadata"]["labels"][JOB_NAME]
            succeeded.setdefault(job, set()).add(pod["status"].get("phase"))
    for name in hooks:
        assert "Succeeded" in succeeded.get(name, set()), f"hook Job {name}: pod phases {succeeded.get(name)}"
    jobs = {j.metadata.name for j in installed.kube.api_batch().list_namespaced_job(installed.ns.name).items}
    deleted_after_success = {
        n
        for n, o in hooks.items()
        if "hook-succeeded" in o["metadata"]["annotations"].get("helm.sh/hook-delete-policy", "")
    }
    assert not jobs & deleted_after_success, f"hook Jobs left behind: {sorted(jobs & deleted_after_success)}"


def _last(events: list[tuple]) -> dict:
    return events[-1][1]


# Which values switch renders each dependency's check (templates/tests): the bundled dependency.
CHECK_SWITCH = {"redis": "redis", "postgres": "postgres", "questdb": "questdb", "minio": "minio",
                "controlbus": "controlbus", "neo4j": "neo4j"}  # fmt: skip


@pytest.mark.parametrize("profile", ["dev", "dev_coordinator", "prod"])
def test_helm_test_creates_exactly_the_chart_test_pods_and_they_succeed(request, profile: str) -> None:
    rel: Installed = request.getfixturevalue(profile)
    tested: HelmTestRun = request.getfixturevalue(f"{profile}_tested")
    assert tested.result.ok, f"helm test failed:\n{tested.result.stderr}\n{tested.result.stdout}"
    expected = rendered_test_pods(rel.rendered)
    g = rel.values["global"]
    # one check per bundled dependency, and the coordinator's whenever a coordinator URL is set
    want = {check for check, dep in CHECK_SWITCH.items() if g[dep].get("enabled")}
    if (g["seamless"].get("coordinator_url") or "").strip():
        want.add("coordinator")
    assert {n.removeprefix("qmtl-test-") for n in expected} == want
    if profile != "dev":
        assert expected, f"{profile} renders no helm test pod"
    assert set(tested.events) == set(expected), f"observed test pods {sorted(tested.events)}"
    for name, events in tested.events.items():
        phases = [pod["status"].get("phase") for _, pod in events]
        assert "Succeeded" in phases, f"{name} never succeeded: phases {phases}"
        assert _last(events)["spec"].get("nodeName"), f"{name} was never scheduled"
        # hook-succeeded: Helm deletes a passed test pod, so nothing outlives the release
        assert events[-1][0] == "DELETED", f"{name} was not deleted after it passed"


def test_helm_test_pods_are_well_formed_as_admitted(prod, prod_tested) -> None:
    """What the API server admitted (under PSS restricted) is what the chart rendered, and every Secret
    key and ConfigMap a test pod refers to exists in the release: on a real node the pod can start."""
    expected = rendered_test_pods(prod.rendered)
    configmaps = {c.metadata.name for c in prod.kube.core.list_namespaced_config_map(prod.ns.name).items}
    for name, events in prod_tested.events.items():
        admitted = events[0][1]
        want = expected[name]
        spec, want_spec = admitted["spec"], want["spec"]
        assert spec["automountServiceAccountToken"] is False
        assert spec["securityContext"] == want_spec["securityContext"]
        assert [v.get("configMap", {}).get("name") for v in spec["volumes"]] == [
            v.get("configMap", {}).get("name") for v in want_spec["volumes"]
        ]
        for volume in spec["volumes"]:
            if "configMap" in volume:
                assert volume["configMap"]["name"] in configmaps, f"{name}: no ConfigMap {volume['configMap']}"
        assert not any(v.get("projected") for v in spec["volumes"]), f"{name} got a service-account token"
        (container,), (want_container,) = spec["containers"], want_spec["containers"]
        for field in ("image", "command", "securityContext", "volumeMounts"):
            assert container.get(field) == want_container.get(field), f"{name}: {field} differs from the render"
        assert container["resources"] == want_container["resources"], f"{name}: resources differ from the render"
        assert container["env"] == want_container["env"], f"{name}: env differs from the render"
        for env in container["env"]:
            ref = (env.get("valueFrom") or {}).get("secretKeyRef")
            if ref:
                assert ref["key"] in prod.secrets.get(ref["name"], {}), (
                    f"{name}: env {env['name']} refers to Secret {ref['name']} key {ref['key']}, which the "
                    f"release does not have (Secrets: { {k: sorted(v) for k, v in prod.secrets.items()} })"
                )


@pytest.mark.parametrize("profile", ["dev_coordinator", "prod"])
def test_helm_test_pods_really_run_their_checks(request, profile: str) -> None:
    """Needs nodes that run containers: each check pod exits 0 only when every check passed."""
    rel: Installed = request.getfixturevalue(profile)
    tested: HelmTestRun = request.getfixturevalue(f"{profile}_tested")
    if tested.kwok:
        pytest.skip(
            "the nodes are kwok fakes: no container runs, helm test pods are completed by a kwok Stage without "
            "executing (scripts/cluster/kwok-stages.yaml). Their checks execute on the local cluster's real node "
            "(scripts/local-cluster.sh start) or kind"
        )
    assert tested.events, f"{profile}: no helm test pod was seen"
    for name, events in tested.events.items():
        final = next(pod for kind, pod in reversed(events) if pod["status"].get("phase") == "Succeeded")
        assert final["status"].get("reason") != "KwokSimulated", f"{name} was simulated on a real-node cluster"
        (status,) = final["status"]["containerStatuses"]
        assert status["state"]["terminated"]["exitCode"] == 0, f"{name}: {status}"
        assert final["spec"]["nodeName"] == "qmtl-node" or not rel.real_node, (
            f"{name} ran on {final['spec']['nodeName']}"
        )


def test_helm_test_fails_when_a_credential_is_broken(dev_coordinator, dev_coordinator_broken) -> None:
    """dev + coordinator: the coordinator's Redis password changed in its Secret (its pods restarted) makes
    `helm test` fail, the coordinator check's pod fails naming the health URL, and it passes again once the
    Secret is put back."""
    need_cluster_checks(dev_coordinator)
    run = dev_coordinator_broken
    assert not run.broken.result.ok, (
        f"helm test passed with a broken {run.secret}/{run.key}:\n{run.broken.result.stdout}"
    )
    failed = {name for name, events in run.broken.events.items() if _phase(events) == "Failed"}
    assert "qmtl-test-coordinator" in failed, f"failed test pods: {failed}"
    url = dev_coordinator.values["global"]["seamless"]["coordinator_url"].rstrip("/") + "/healthz"
    log = run.failed_logs["qmtl-test-coordinator"]
    assert url in log, log
    assert "not healthy" in log, log
    assert run.repaired.result.ok, f"helm test after the repair:\n{run.repaired.result.stderr}"


def test_runtime_guard_holds_the_gateway_until_the_coordinator_answers(prod, prod_guard) -> None:
    need_cluster_checks(prod)
    guard = prod_guard
    g = prod.values["global"]["guard"]
    assert guard.held_seconds >= int(g["attempts"]) * int(g["intervalSeconds"]), guard
    assert guard.init_states, "no gateway pod was created while the coordinator was down"
    for state in guard.init_states:
        # still trying or already failed and restarted by the kubelet: never past the guard
        assert state["ready"] is False, state
        assert state.get("restartCount", 0) >= 1 or "running" in state["state"] or "waiting" in state["state"], state
    assert f"{guard.url.rstrip('/')}/healthz" in guard.guard_log, guard.guard_log
    assert "is not healthy after" in guard.guard_log, guard.guard_log
    assert guard.started, "the gateway did not start once the coordinator was back"
    # these gateway pods started after every dependency answered: each one of them is reported ok
    assert guard.status_after == (200, "ok"), guard.status_body
    record_timing("prod gateway start after the coordinator came back", guard.seconds_to_start)


def test_an_sdk_worker_leases_through_the_coordinator_service(prod, prod_workers) -> None:
    """QMTL's own DistributedBackfillCoordinator (the qmtl image), configured only by the chart's worker config
    (ConfigMap qmtl-sdk-worker, ./qmtl.yml) and admitted by global.networkPolicy.coordinator.from, claims a
    lease through the coordinator Service and completes it; a worker the policy does not admit gets nowhere."""
    need_cluster_checks(prod)
    admitted, stranger = prod_workers["admitted"], prod_workers["unlabelled"]
    assert admitted.succeeded, admitted.log
    result = admitted.result
    assert result["url"] == prod.values["global"]["seamless"]["coordinator_url"], result
    assert result["profile"] == "prod", result
    assert result["claim"], result
    assert int(result["claim"]["token"]) > 0, result
    lease = result["inspect"]["body"]["lease"]
    assert (lease["state"], lease["token"]) == ("completed", result["claim"]["token"]), result
    assert not stranger.succeeded, stranger.log
    assert stranger.result, stranger.log
    assert stranger.result.get("error"), stranger.log
    assert not stranger.result.get("claim"), stranger.log


def test_network_policies_are_enforced_edge_by_edge(prod, prod_network) -> None:
    need_cluster_checks(prod)
    from tests.security.graph import component_on, load_graph, value_at

    matrix = prod_network
    assert matrix.canary == {"before": "refused", "after": "ok"}, matrix.canary
    assert not matrix.not_listening, f"targets that do not listen (nothing to prove there): {matrix.not_listening}"
    assert not matrix.mismatches(), "\n".join(matrix.mismatches())
    assert all(outcome == "ok" for outcome in matrix.dns.values()), matrix.dns
    # only the one pattern kube-router is known to let through (realchecks.kube_router_same_policy)
    assert all(matrix.results[k] == "ok" for k in matrix.enforcer_only), matrix.enforcer_only
    # every edge of files/service-graph.yaml that exists in this values set had a real connection succeed
    graph, values = load_graph(), prod.values
    on = {name: component_on(values, name, graph) for name in graph["components"]}
    components = matrix.components
    probed_ok = {
        (components.get(src, src), comp, port)
        for (src, dst, port), want in matrix.expected.items()
        if want and matrix.results[(src, dst, port)] == "ok"
        for comp in {components.get(d, d) for d in dst.split("|")}
    }
    ports = values["global"]["ports"]
    exercised, absent = [], []
    for edge in graph["edges"]:
        when = edge.get("when") or []
        if not on[edge["from"]] or not all(value_at(values, w) for w in ([when] if isinstance(when, str) else when)):
            absent.append(f"{edge['from']} -> {edge['to']}")
            continue
        if edge.get("unless") and on.get(edge["unless"]):
            absent.append(f"{edge['from']} -> {edge['to']} (replaced by {edge['unless']})")
            continue
        managed_target = not on[edge["to"]] and edge["to"] in set(components.values())
        if not on[edge["to"]] and not managed_target:
            absent.append(f"{edge['from']} -> {edge['to']} (target not in this values set)")
            continue
        hits = {p for (s_, t_, p) in probed_ok if s_ == edge["from"] and t_ == edge["to"]}
        if on[edge["to"]]:
            want_ports = {int(ports[k]) for k in edge["ports"]}
            assert want_ports <= hits, f"edge {edge}: succeeded only on {sorted(hits)}"
        else:
            assert hits, f"edge {edge} (to the managed {edge['to']}): no connection succeeded"
        exercised.append(f"{edge['from']} -> {edge['to']} {sorted(hits)}")
    print(
        f"\nNetworkPolicies enforced on the real node: {matrix.allowed} allowed / {matrix.denied} denied connections "
        f"as declared ({len(matrix.enforcer_only)} denied by the graph but let through by kube-router: "
        f"{sorted(matrix.enforcer_only)}); graph edges exercised: {len(exercised)}, not in this values set: "
        f"{len(absent)}; probe pods scanned again while the enforcer caught up with them: "
        f"{ {k: v for k, v in matrix.rescans.items() if v} or 'none' }"
    )
    record_timing("prod NetworkPolicy connections allowed", matrix.allowed)
    record_timing("prod NetworkPolicy connections denied", matrix.denied)


def test_the_gateway_answers_through_port_forward(installed: Installed) -> None:
    """What the install notes tell a user: kubectl port-forward svc/gateway, then GET /status."""
    need_real_node(installed)
    with port_forward(installed.kube.kubeconfig, installed.ns.name, "svc/gateway", gateway_port(installed)) as local:
        status, body = http_json(local, "GET", "/status")
    assert status == 200, body
    assert body["status"] in ("ok", "degraded"), body
    assert body["worldservice"] == "ok", body
    if installed.purpose == "prod":  # the real Redis and PostgreSQL answer the gateway
        assert (body["redis"], body["postgres"]) == ("ok", "ok"), body
        # the DAG Manager may read "error" here for good: the gateway's circuit breaker opens after 3 failed
        # status calls while the dagmanager pod was still starting, and QMTL's breaker never closes again on
        # its own (qmtl/foundation/common/circuit_breaker.py). A gateway started once everything answers reports
        # "ok" overall: test_runtime_guard_holds_the_gateway_until_the_coordinator_answers checks that one.


def _assert_kept(prod: Installed, data: StoredData, when: str, got: tuple) -> None:
    (status, world), value = got
    assert status == 200, f"{when}: GET /worlds/{data.world['id']} through the gateway: {status} {world}"
    assert world["name"] == data.world["name"], f"{when}: {world}"
    assert value == data.redis_value, f"{when}: Redis {data.redis_key} = {value!r}"


def test_stored_data_survives_upgrade_and_rollback(prod, prod_data, prod_upgraded, prod_rolled_back) -> None:
    """A world stored through the gateway (WorldService's PostgreSQL) and a key the gateway's Redis user wrote."""
    need_real_node(prod)
    _assert_kept(prod, prod_data, "after the upgrade", prod_upgraded.data)
    _assert_kept(prod, prod_data, "after the rollback", prod_rolled_back.data)


def test_stored_data_survives_a_restart_of_every_pod(prod, prod_data, prod_restarted) -> None:
    need_cluster_checks(prod)
    assert all(before and after and not before & after for before, after in prod_restarted.replaced.values()), (
        prod_restarted.replaced
    )
    _assert_kept(prod, prod_data, "after every pod was replaced", prod_restarted.data)


def test_prod_without_coordinator_url_is_refused_before_any_object_exists(prod_without_coordinator) -> None:
    refused = prod_without_coordinator
    assert not refused.result.ok, "helm install accepted prod values without global.seamless.coordinator_url"
    assert "coordinator_url" in refused.result.stderr, refused.result.stderr
    assert refused.objects == [], f"a refused install left objects behind: {[str(o) for o in refused.objects]}"
    assert refused.release_records == [], f"a refused install left release records: {refused.release_records}"
    assert refused.releases == [], f"helm lists a refused release: {refused.releases}"


def test_prod_upgrade_without_coordinator_url_is_refused_and_changes_nothing(prod_upgrade_refused) -> None:
    refused = prod_upgrade_refused
    assert not refused.result.ok, "helm upgrade accepted prod values without global.seamless.coordinator_url"
    assert "coordinator_url" in refused.result.stderr, refused.result.stderr
    assert [h["revision"] for h in refused.history] == [1], f"a refused upgrade made a revision: {refused.history}"
    assert refused.after.secrets == refused.before.secrets
    assert refused.after.pods == refused.before.pods, "a refused upgrade replaced pods"
    assert {k: revision(k, w) for k, w in refused.after.workloads.items()} == {
        k: revision(k, w) for k, w in refused.before.workloads.items()
    }


def test_upgrade_keeps_every_generated_secret(prod, prod_upgraded) -> None:
    """Helm's lookup (qmtl.persistentSecret) hands every generated password back on upgrade: each Secret's
    data is byte for byte what it was after install."""
    before, after = prod.secrets, prod_upgraded.after.secrets
    assert set(after) == set(before)
    assert prod_upgraded.before.secrets == before
    changed = sorted(name for name in before if after[name] != before[name])
    assert not changed, f"helm upgrade changed Secret data: {changed}"
    generated = {o["metadata"]["name"] for o in prod.rendered.by_kind("Secret")}
    assert generated, "prod generates no Secret (at least the gateway's event-signing key)"
    assert generated <= set(before), f"generated Secrets missing after install: {sorted(generated - set(before))}"


def test_upgrade_leaves_pvcs_untouched(prod, prod_upgraded) -> None:
    if prod.rendered.by_kind("StatefulSet"):
        assert prod.pvcs, "prod's StatefulSets have persistent volumes"
    assert prod_upgraded.after.pvcs == prod.pvcs, "a PVC was replaced (uid or creationTimestamp changed)"


def test_upgrade_rolls_exactly_the_pods_whose_config_changed(prod, prod_upgraded) -> None:
    # the chart: the changed value reaches exactly these pod templates, the gateway's by its checksum only
    before_t = {k: w["spec"]["template"] for k, w in rendered_workloads(prod.rendered).items()}
    after_t = {k: w["spec"]["template"] for k, w in rendered_workloads(prod_upgraded.rendered_after).items()}
    assert {k for k in before_t if before_t[k] != after_t[k]} == UPGRADE_ROLLS
    gw_before, gw_after = before_t["Deployment/gateway"], after_t["Deployment/gateway"]
    assert gw_before["spec"] == gw_after["spec"]
    assert (
        gw_before["metadata"]["annotations"]["checksum/qmtl-config"]
        != gw_after["metadata"]["annotations"]["checksum/qmtl-config"]
    )
    # the cluster: new revisions and new pods there, the same revision and the very same pods elsewhere
    before, after = prod_upgraded.before, prod_upgraded.after
    assert set(before.workloads) == set(after.workloads) == set(before_t)
    for key in before.workloads:
        old_rev, new_rev = revision(key, before.workloads[key]), revision(key, after.workloads[key])
        old_pods, new_pods = before.pods[key], after.pods[key]
        if key in UPGRADE_ROLLS:
            assert new_rev != old_rev, f"{key} was not rolled (revision {old_rev})"
            assert not set(old_pods.values()) & set(new_pods.values()), f"{key} kept old pods: {new_pods}"
        else:
            assert new_rev == old_rev, f"{key} was rolled ({old_rev} -> {new_rev}) though nothing it reads changed"
            assert new_pods == old_pods, f"{key}'s pods were replaced though nothing it reads changed"


def test_rollback_restores_the_previous_revision(prod, prod_upgraded, prod_rolled_back) -> None:
    history = prod_rolled_back.history
    assert [int(h["revision"]) for h in history] == [1, 2, 3]
    assert history[-1]["status"] == "deployed"
    assert "Rollback to 1" in history[-1]["description"]
    values = (
        yaml.safe_load(ok(helm("get", "values", RELEASE, "-n", prod.ns.name, "-o", "yaml"), "helm get values").stdout)
        or {}
    )
    node = values
    for key in UPGRADE_KEY:
        node = (node or {}).get(key) if isinstance(node, dict) else None
    assert node is None, f"after rollback the release still carries the upgrade's value {UPGRADE_KEY}: {node}"
    after = prod_rolled_back.after
    for key, workload in prod.workloads.items():
        assert after.workloads[key]["spec"]["template"] == workload["spec"]["template"], (
            f"{key}: the pod template after rollback is not the installed one"
        )
        if key not in UPGRADE_ROLLS:
            assert after.pods[key] == prod_upgraded.before.pods[key], f"{key}'s pods were replaced by the rollback"
    assert after.secrets == prod.secrets, "rollback changed Secret data"
    assert after.pvcs == prod.pvcs, "rollback replaced a PVC"


def test_uninstall_removes_everything_but_the_kept_pvcs(prod, prod_uninstalled) -> None:
    gone = prod_uninstalled
    if prod.rendered.by_kind("StatefulSet"):
        assert any(kind == "PersistentVolumeClaim" for kind, _ in gone.expected)
    left = {(o.kind, o.name) for o in gone.leftover}
    assert left == gone.expected, (
        f"after helm uninstall, namespace {prod.ns.name} holds\n  unexpected: {sorted(left - gone.expected)}\n"
        f"  missing (should be kept): {sorted(gone.expected - left)}"
    )
    kept_pvcs = {o.name: o.uid for o in gone.leftover if o.kind == "PersistentVolumeClaim"}
    assert kept_pvcs == {name: uid for name, (uid, _) in prod.pvcs.items()}, "kept PVCs are not the installed ones"
    assert gone.release_records == [], f"release records left: {gone.release_records}"

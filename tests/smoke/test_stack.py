"""The chart on a real Kubernetes API: install, `helm test`, upgrade, rollback and uninstall.

Runs on whatever cluster KUBECONFIG names: the local control plane (scripts/local-cluster.sh: a real
kube-apiserver with PodSecurity admission, controller-manager and scheduler, and kwok nodes) or kind
(scripts/kind-cluster.sh). On kwok nodes no container runs: kwok marks scheduled pods Running and Ready,
completes Job pods (helm hooks) and, through the chart's own kwok Stage (scripts/cluster/kwok-stages.yaml),
helm test pods. So there these tests prove what the API server, the controllers and Helm do with the
chart (admission under Pod Security "restricted", scheduling, readiness as controllers see it, hooks,
upgrade/rollback/uninstall semantics, Helm's lookup of existing Secrets), not what the processes do;
the one test that needs containers to really run (the helm test pods' checks) skips there.

Every stage is a module fixture that depends on the previous one (install -> helm test -> upgrade ->
rollback -> uninstall) and returns what it observed, so the tests can run in any order or be selected
one by one. QMTL_SMOKE_VALUES: extra values files (os.pathsep-separated) added to every install, e.g.
image overrides for a kind cluster.
"""

from __future__ import annotations

import dataclasses
import os
import secrets
import time
from pathlib import Path

import pytest
import yaml
from pytest_helm_charts.k8s.deployment import wait_for_deployments_to_run
from pytest_helm_charts.k8s.stateful_set import wait_for_stateful_sets_to_run
from qmtl_stack.render import Rendered

from tests.harness import HelmResult, helm_binary, render_chart
from tests.harness.paths import VALUES_DIR
from tests.smoke.conftest import record_timing
from tests.smoke.kube import HOOK, Kube, ObjectRef, helm

pytestmark = pytest.mark.smoke

RELEASE = "qmtl"
DEV = (VALUES_DIR / "dev.yaml",)
PROD = (VALUES_DIR / "prod.yaml",)
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


def install(cluster, namespace_factory, purpose: str, files: tuple[Path, ...]) -> Installed:
    kube: Kube = cluster.kube
    ns = make_namespace(cluster, namespace_factory, purpose)
    files = files + extra_values()
    rendered = render_chart(values_files=files, namespace=ns.name, release=RELEASE)
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
    )


@pytest.fixture(scope="module")
def dev(smoke_cluster, namespace_factory) -> Installed:
    return install(smoke_cluster, namespace_factory, "dev", DEV)


@pytest.fixture(scope="module")
def prod(smoke_cluster, namespace_factory) -> Installed:
    return install(smoke_cluster, namespace_factory, "prod", PROD)


@pytest.fixture(scope="module", params=["dev", "prod"])
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
def prod_tested(prod) -> HelmTestRun:
    return run_helm_test(prod)


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


@dataclasses.dataclass
class RefusedUpgrade:
    result: HelmResult
    history: list[dict]
    before: State
    after: State


@pytest.fixture(scope="module")
def prod_upgrade_refused(prod, prod_tested, tmp_path_factory) -> RefusedUpgrade:
    """`helm upgrade` of the installed prod release with coordinator_url emptied: refused, nothing changes."""
    path = tmp_path_factory.mktemp("refused-upgrade") / "no-coordinator.yaml"
    path.write_text(yaml.safe_dump({"global": {"seamless": {"coordinator_url": ""}}}))
    before = state(prod)
    result = helm("upgrade", RELEASE, ".", "-n", prod.ns.name, *values_args(prod.files), "-f", str(path), "--wait")
    history = yaml.safe_load(ok(helm("history", RELEASE, "-n", prod.ns.name, "-o", "yaml"), "helm history").stdout)
    return RefusedUpgrade(result, history, before, state(prod))


@pytest.fixture(scope="module")
def prod_upgraded(prod, prod_tested, prod_upgrade_refused, tmp_path_factory) -> Upgraded:
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
    return Upgraded(before, state(prod), change, rendered_after)


@dataclasses.dataclass
class RolledBack:
    result: HelmResult
    history: list[dict]
    after: State


@pytest.fixture(scope="module")
def prod_rolled_back(prod, prod_upgraded) -> RolledBack:
    result = ok(helm("rollback", RELEASE, "1", "-n", prod.ns.name, "--wait"), "helm rollback")
    history = yaml.safe_load(ok(helm("history", RELEASE, "-n", prod.ns.name, "-o", "yaml"), "helm history").stdout)
    return RolledBack(result, history, state(prod))


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
def prod_uninstalled(prod, prod_rolled_back) -> Uninstalled:
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
    if installed.purpose == "prod":
        assert hooks, "prod renders provisioning hooks"
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


@pytest.mark.parametrize("profile", ["dev", "prod"])
def test_helm_test_creates_exactly_the_chart_test_pods_and_they_succeed(request, profile: str) -> None:
    rel: Installed = request.getfixturevalue(profile)
    tested: HelmTestRun = request.getfixturevalue(f"{profile}_tested")
    assert tested.result.ok, f"helm test failed:\n{tested.result.stderr}\n{tested.result.stdout}"
    expected = rendered_test_pods(rel.rendered)
    if profile == "prod":  # prod bundles every dependency and the coordinator: one pod per check
        assert {n.removeprefix("qmtl-test-") for n in expected} == {
            "coordinator",
            "redis",
            "postgres",
            "questdb",
            "minio",
            "controlbus",
            "neo4j",
        }
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


def test_helm_test_pods_really_run_their_checks(prod, prod_tested) -> None:
    """Needs nodes that run containers (kind): each check pod exits 0 only when every check passed."""
    if prod_tested.kwok:
        pytest.skip(
            "the nodes are kwok fakes (local control plane): no container runs, helm test pods are "
            "completed by a kwok Stage without executing (scripts/cluster/kwok-stages.yaml). Their checks "
            "execute on kind: scripts/kind-cluster.sh, which needs a Docker engine"
        )
    for name, events in prod_tested.events.items():
        final = next(pod for kind, pod in reversed(events) if pod["status"].get("phase") == "Succeeded")
        assert final["status"].get("reason") != "KwokSimulated", f"{name} was simulated on a real-node cluster"
        (status,) = final["status"]["containerStatuses"]
        assert status["state"]["terminated"]["exitCode"] == 0, f"{name}: {status}"


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
    assert len(before) >= 5, f"prod should own several generated Secrets, found {sorted(before)}"


def test_upgrade_leaves_pvcs_untouched(prod, prod_upgraded) -> None:
    assert prod.pvcs, "prod has persistent volumes"
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
    assert any(kind == "PersistentVolumeClaim" for kind, _ in gone.expected)
    left = {(o.kind, o.name) for o in gone.leftover}
    assert left == gone.expected, (
        f"after helm uninstall, namespace {prod.ns.name} holds\n  unexpected: {sorted(left - gone.expected)}\n"
        f"  missing (should be kept): {sorted(gone.expected - left)}"
    )
    kept_pvcs = {o.name: o.uid for o in gone.leftover if o.kind == "PersistentVolumeClaim"}
    assert kept_pvcs == {name: uid for name, (uid, _) in prod.pvcs.items()}, "kept PVCs are not the installed ones"
    assert gone.release_records == [], f"release records left: {gone.release_records}"

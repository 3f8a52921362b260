"""What the smoke suite proves with the chart's pods REALLY running (the local cluster's real node):

- `guard_cycle`: the prod runtime guard: with the coordinator scaled to 0, new gateway pods stay in Init
  and the guard's log names the coordinator URL; with the coordinator back, they start;
- `run_worker`: an SDK worker Job (the qmtl image, QMTL's own DistributedBackfillCoordinator, the chart's
  worker config ConfigMap qmtl-sdk-worker) claims and completes a lease through the coordinator Service;
- `network_matrix`: the NetworkPolicies as the enforcer (kube-router) applies them: a canary denial first,
  then a real TCP connection for every (source, listening destination) pair around the release: sources
  are probe pods (the cluster's netcheck image) carrying the labels of the component they impersonate,
  plus a pod of another namespace and an unlabelled pod of the release's namespace; destinations are the
  release's real pods on every container port they listen on, the managed services at the node address,
  and the cluster DNS. What must be allowed comes from files/service-graph.yaml through
  tests/security/graph.py (the one derivation of the declared graph); everything else must be refused or
  time out.
"""

from __future__ import annotations

import dataclasses
import json
import secrets
import time
from collections.abc import Mapping

from qmtl_stack.render import Rendered

from tests.cluster.node import NodeCluster, restricted_security_context
from tests.security.graph import INSTANCE, NAMESPACE, build_network, declared_connections
from tests.security.netpol import Cluster, Endpoint

COMPONENT = "app.kubernetes.io/component"
SETTLE_SCANS = 4  # scans of one probe pod at most, SETTLE_PAUSE_S apart, while the enforcer catches up with it
SETTLE_PAUSE_S = 3.0
WORKER_LABELS = {"qmtl-stack.io/seamless-worker": "smoke"}


def _kubectl(nc: NodeCluster, *args: str, **kw):
    return nc.kubectl(*args, **kw)


def _pods(nc: NodeCluster, ns: str, selector: str) -> list[dict]:
    return nc.get("pods", "-n", ns, "-l", selector)["items"]


def _ready(pod: dict) -> bool:
    conds = {c["type"]: c["status"] for c in pod.get("status", {}).get("conditions") or []}
    return conds.get("Ready") == "True" and not pod["metadata"].get("deletionTimestamp")


def _wait(check, timeout: float, what: str, interval: float = 1.0):
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


# ============================================================================================== the guard
@dataclasses.dataclass
class GuardCycle:
    url: str
    held_seconds: float  # how long the new gateway pods were watched, all in Init
    init_states: list[dict]  # the coordinator-guard init container's status of each held pod
    guard_log: str
    seconds_to_start: float  # coordinator back -> every gateway pod Ready
    started: bool
    status_after: tuple | None = None  # (HTTP status, JSON status) of GET /status once the gateway started
    status_body: object = None


def guard_cycle(nc: NodeCluster, ns: str, url: str, hold_seconds: float) -> GuardCycle:
    coordinator = nc.get("deployment", "-n", ns, "seamless-coordinator")
    replicas = int(coordinator["spec"].get("replicas", 1))
    gw_selector = f"{COMPONENT}=gateway"
    co_selector = f"{COMPONENT}=seamless-coordinator"
    _kubectl(nc, "scale", "deployment/seamless-coordinator", "-n", ns, "--replicas=0")
    try:
        _wait(lambda: not _pods(nc, ns, co_selector), 120, "the coordinator's pods to be gone")
        old = {p["metadata"]["name"] for p in _pods(nc, ns, gw_selector)}
        _kubectl(nc, "delete", "pod", "-n", ns, "-l", gw_selector, "--wait=false")
        new = _wait(
            lambda: [p for p in _pods(nc, ns, gw_selector) if p["metadata"]["name"] not in old] or None,
            60,
            "new gateway pods",
        )
        t0 = time.monotonic()
        # held: for the whole window, no new gateway pod gets past its init containers
        while time.monotonic() - t0 < hold_seconds:
            pods = [p for p in _pods(nc, ns, gw_selector) if p["metadata"]["name"] not in old]
            for pod in pods:
                running = [
                    c["name"] for c in pod.get("status", {}).get("containerStatuses") or [] if "running" in c["state"]
                ]
                assert not running, f"{pod['metadata']['name']} started {running} while the coordinator was down"
                assert not _ready(pod), f"{pod['metadata']['name']} is Ready while the coordinator is down"
            time.sleep(2)
        new = [p for p in _pods(nc, ns, gw_selector) if p["metadata"]["name"] not in old]
        states = []
        for pod in new:
            (guard,) = [c for c in pod["status"].get("initContainerStatuses") or [] if c["name"] == "coordinator-guard"]
            states.append(guard)
        name = new[0]["metadata"]["name"]
        log = _kubectl(nc, "logs", "-n", ns, name, "-c", "coordinator-guard", check=False).stdout
        previous = _kubectl(nc, "logs", "-n", ns, name, "-c", "coordinator-guard", "--previous", check=False).stdout
        held = time.monotonic() - t0
    finally:
        _kubectl(nc, "scale", "deployment/seamless-coordinator", "-n", ns, f"--replicas={replicas}")
    t1 = time.monotonic()
    started = (
        _kubectl(
            nc, "rollout", "status", "deployment/gateway", "-n", ns, "--timeout=300s", timeout=330, check=False
        ).returncode
        == 0
    )
    return GuardCycle(url, held, states, previous + log, time.monotonic() - t1, started)


# ============================================================================================== an SDK worker
WORKER_SCRIPT = r"""
import asyncio, dataclasses, json, sys
import httpx
from qmtl.runtime.sdk.configuration import get_runtime_config, get_seamless_config
from qmtl.runtime.sdk.backfill_coordinator import DistributedBackfillCoordinator

async def main(key):
    out = {"profile": getattr(get_runtime_config(), "profile", None), "url": get_seamless_config().coordinator_url}
    out["profile"] = str(out["profile"].value if hasattr(out["profile"], "value") else out["profile"])
    try:
        coordinator = DistributedBackfillCoordinator(out["url"])
        lease = await coordinator.claim(key, 60000)
        out["claim"] = dataclasses.asdict(lease) if lease else None
        if lease:
            await coordinator.complete(lease)
        async with httpx.AsyncClient(timeout=5) as client:
            response = await client.post(out["url"].rstrip("/") + "/v1/leases/inspect", json={"key": key})
        out["inspect"] = {"status": response.status_code, "body": response.json()}
    except Exception as error:
        out["error"] = type(error).__name__ + ": " + str(error)
    print("RESULT " + json.dumps(out), flush=True)
    done = (out.get("inspect") or {}).get("body", {}).get("lease", {}).get("state") == "completed"
    return 0 if done else 1

sys.exit(asyncio.run(main(sys.argv[1])))
"""


@dataclasses.dataclass
class WorkerRun:
    name: str
    labels: dict
    key: str
    succeeded: bool
    result: dict | None
    log: str


def worker_job(name: str, image: str, pull: str, labels: Mapping[str, str], key: str) -> dict:
    pod_ctx, container_ctx = restricted_security_context()
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {
            "backoffLimit": 0,
            "activeDeadlineSeconds": 180,
            "template": {
                "metadata": {"labels": dict(labels)},
                "spec": {
                    "restartPolicy": "Never",
                    "automountServiceAccountToken": False,
                    "nodeSelector": {"type": "real"},
                    "securityContext": pod_ctx,
                    "containers": [
                        {
                            "name": "worker",
                            "image": image,
                            "imagePullPolicy": pull,
                            "command": ["python3", "-c", WORKER_SCRIPT, key],
                            # QMTL's SDK reads ./qmtl.yml: the chart's worker config
                            "workingDir": "/etc/qmtl-worker",
                            "env": [
                                {"name": "HOME", "value": "/tmp"},
                                {"name": "PYTHONDONTWRITEBYTECODE", "value": "1"},
                            ],
                            "securityContext": container_ctx,
                            "resources": {
                                "requests": {"cpu": "10m", "memory": "64Mi"},
                                "limits": {"cpu": "500m", "memory": "256Mi"},
                            },
                            "volumeMounts": [
                                {"name": "qmtl", "mountPath": "/etc/qmtl-worker", "readOnly": True},
                                {"name": "tmp", "mountPath": "/tmp"},
                            ],
                        }
                    ],
                    "volumes": [
                        {"name": "qmtl", "configMap": {"name": "qmtl-sdk-worker"}},
                        {"name": "tmp", "emptyDir": {"sizeLimit": "16Mi"}},
                    ],
                },
            },
        },
    }


def run_worker(nc: NodeCluster, ns: str, rendered: Rendered, name: str, labels: Mapping[str, str]) -> WorkerRun:
    gateway = rendered.get("Deployment", "gateway")["spec"]["template"]["spec"]["containers"][0]
    key = f"blake3:smoke-{secrets.token_hex(4)}:60:1000:2000:world-smoke:"
    nc.apply(ns, worker_job(name, gateway["image"], gateway.get("imagePullPolicy", "IfNotPresent"), labels, key))

    def ended():
        status = nc.get("job", "-n", ns, name).get("status") or {}
        return status if (status.get("succeeded") or status.get("failed")) else None

    status = _wait(ended, 240, f"Job {name} to end", 2)
    log = _kubectl(nc, "logs", "-n", ns, f"job/{name}", check=False).stdout
    result = None
    for line in log.splitlines():
        if line.startswith("RESULT "):
            result = json.loads(line.removeprefix("RESULT "))
    return WorkerRun(name, dict(labels), key, bool(status.get("succeeded")), result, log)


# ============================================================================================== NetworkPolicies
@dataclasses.dataclass(frozen=True)
class Target:
    name: str  # graph endpoint name (tests/security/graph.py), e.g. Deployment/gateway, external:redis@...
    address: str
    port: int


@dataclasses.dataclass
class Matrix:
    canary: dict  # outcomes of the canary: denied before the allow rule, allowed after
    sources: dict[str, dict]  # graph source name -> probe pod (namespace, name, labels)
    results: dict[tuple[str, str, int], str]  # (source, target name, port) -> outcome
    expected: dict[tuple[str, str, int], bool]  # -> allowed by the declared graph
    enforcer_only: set[tuple[str, str, int]]  # denied by the graph, but let through by kube-router (see below)
    dns: dict[str, str]  # source -> outcome of a DNS query
    not_listening: list[Target]
    components: dict[str, str]  # graph endpoint name -> component (release pods) or graph component (externals)
    rescans: dict[str, int]  # source -> scans repeated before its outcomes matched the graph (enforcer catching up)

    @property
    def allowed(self) -> int:
        return sum(1 for k, v in self.expected.items() if v)

    @property
    def denied(self) -> int:
        return sum(1 for k, v in self.expected.items() if not v)

    def mismatches(self) -> list[str]:
        out = []
        for key, want in sorted(self.expected.items()):
            got = self.results.get(key)
            ok = got == "ok"
            if want != ok and not (ok and key in self.enforcer_only):
                out.append(f"{key[0]} -> {key[1]}:{key[2]}: want {'allowed' if want else 'denied'}, got {got}")
        return out


def kube_router_same_policy(rendered: Rendered, src: Endpoint, dst: Endpoint, port: int) -> bool:
    """True when kube-router (2.x, its iptables policy chains) lets src reach dst:port although src's egress
    rules do not allow it: it checks a pod's egress by jumping to the chain of every policy selecting the pod,
    and that chain holds the policy's INGRESS rules as well, so a connection between two pods the SAME policy
    selects passes when that policy's ingress admits it (the chart's gateway policy: gateway pods reach other
    gateway pods' HTTP port, which its egress rules do not list). The NetworkPolicy API says the connection
    needs both directions; this is the enforcer's deviation, computed from the rendered policies."""
    cluster = Cluster(rendered.by_kind("NetworkPolicy"), NAMESPACE, {NAMESPACE: {}})
    for ns, policy in cluster.policies:
        spec = policy.get("spec") or {}
        selected = [p for p in (src, dst) if p.namespace == ns and p.is_pod]
        if len(selected) < 2 or not all(_selects(spec, p) for p in selected):
            continue
        for rule in spec.get("ingress") or []:
            peers = rule.get("from")
            if peers and not any(cluster._peer_matches(peer, ns, src) for peer in peers):
                continue
            if cluster._port_matches(rule.get("ports"), dst, port, "TCP"):
                return True
    return False


def _selects(spec: Mapping, pod: Endpoint) -> bool:
    from tests.security.netpol import selector_matches

    return selector_matches(spec.get("podSelector"), pod.labels)


def canary(nc: NodeCluster) -> dict:
    """The enforcer works at all: a pod behind a default-deny ingress policy is refused, then reached once
    an allow rule admits the client."""
    ns = nc.namespace("smoke-canary")
    nc.apply(
        ns,
        nc.netcheck_pod("server", ["serve"], {"app": "canary-server"}),
        nc.netcheck_pod("client", ["sleep"], {"app": "canary-client"}),
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": "deny"},
            "spec": {"podSelector": {"matchLabels": {"app": "canary-server"}}, "policyTypes": ["Ingress"]},
        },
    )
    nc.wait_ready(ns, "server", "client")
    ip = nc.get("pod", "-n", ns, "server")["status"]["podIP"]
    before = _wait(
        lambda: (p := nc.probe(ns, "client", "connect", "-timeout", "2s", f"{ip}:8080")).denied and p,
        30,
        "the canary denial",
    )
    nc.apply(
        ns,
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": "allow-client"},
            "spec": {
                "podSelector": {"matchLabels": {"app": "canary-server"}},
                "policyTypes": ["Ingress"],
                "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "canary-client"}}}]}],
            },
        },
    )
    after = _wait(
        lambda: (p := nc.probe(ns, "client", "connect", "-timeout", "2s", f"{ip}:8080")).outcome == "ok" and p,
        30,
        "the canary's allow rule",
    )
    return {"before": before.outcome, "after": after.outcome}


def _listening_ports(workload: dict) -> list[int]:
    spec = workload["spec"]["template"]["spec"]
    return sorted(
        {
            int(p["containerPort"])
            for c in spec.get("containers") or []
            for p in c.get("ports") or []
            if p.get("protocol", "TCP") == "TCP"
        }
    )


def _node_scan(targets: list[tuple[str, int]]) -> dict[tuple[str, int], str]:
    """Which targets accept a connection from the node itself (no policy applies there): a listener check."""
    from tests.harness.paths import TOOLS_BIN
    from tests.smoke.realnode import local_cluster

    done = local_cluster(
        "exec", str(TOOLS_BIN / "netcheck"), "scan", "-timeout", "3s", *(f"{a}:{p}" for a, p in targets), timeout=300
    )
    assert done.returncode == 0, done.stderr
    return _parse_scan(done.stdout)


def _parse_scan(text: str) -> dict[tuple[str, int], str]:
    out = {}
    for line in text.splitlines():
        parts = line.split(" ", 2)
        if len(parts) >= 2 and ":" in parts[1]:
            host, _, port = parts[1].rpartition(":")
            out[(host, int(port))] = parts[0]
    return out


def network_matrix(
    nc: NodeCluster, ns: str, rendered: Rendered, values: dict, extra_targets: list[tuple[str, int]] = ()
) -> Matrix:
    """See the module docstring. `values`: the merged values of the install (for the declared graph);
    `extra_targets`: more (address, port) pairs that listen, e.g. the managed services' other ports, which
    no release pod may reach."""
    canary_result = canary(nc)
    network = build_network(rendered, values)
    worker_peers = (((values.get("global") or {}).get("networkPolicy") or {}).get("coordinator") or {}).get(
        "from"
    ) or []
    has_worker = any((peer.get("podSelector") or {}).get("matchLabels") == WORKER_LABELS for peer in worker_peers)
    if has_worker:  # a pod of the namespace that global.networkPolicy.coordinator.from admits: an SDK worker
        worker = Endpoint("probe:sdk-worker", "10.244.255.254", NAMESPACE, dict(WORKER_LABELS))
        network = dataclasses.replace(network, probes=(*network.probes, worker))
    declared = declared_connections(network, values)
    release = {p.name: p for p in network.release_pods}

    # destinations: the release's real pods (one per workload), the managed services, the cluster DNS
    targets: list[Target] = []
    for name in release:
        kind, _, workload_name = name.partition("/")
        if kind not in ("Deployment", "StatefulSet"):
            continue
        obj = rendered.get(kind, workload_name)
        labels = obj["spec"]["selector"]["matchLabels"]
        selector = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
        pods = [p for p in _pods(nc, ns, selector) if _ready(p)]
        assert pods, f"no Ready pod of {name} in {ns}"
        for port in _listening_ports(obj):
            targets.append(Target(name, pods[0]["status"]["podIP"], port))
    for externals in network.externals.values():
        for ext in externals:
            ports = {p for (_, dst, p, proto) in declared if dst == ext.name and proto == "TCP"}
            for port in sorted(ports):
                targets.append(Target(ext.name, ext.ip, port))
    targets += [Target(f"node:{port}", address, port) for address, port in extra_targets]
    listening = _node_scan([(t.address, t.port) for t in targets])
    not_listening = [t for t in targets if listening.get((t.address, t.port)) != "ok"]
    targets = [t for t in targets if listening.get((t.address, t.port)) == "ok"]

    # sources: one probe pod per release component (its labels), another namespace's pod, a stranger
    sources: dict[str, dict] = {}
    other_ns = nc.namespace("smoke-elsewhere")
    manifests: dict[str, list[dict]] = {ns: [], other_ns: []}
    for name, endpoint in release.items():
        labels = {k: v for k, v in endpoint.labels.items() if k in (INSTANCE, COMPONENT)}
        pod_name = f"as-{endpoint.labels.get(COMPONENT, 'x')}"[:50]
        sources[name] = {"namespace": ns, "pod": pod_name, "labels": labels}
        manifests[ns].append(nc.netcheck_pod(pod_name, ["sleep"], labels))
    sources["probe:non-release-pod-same-namespace"] = {
        "namespace": ns,
        "pod": "stranger",
        "labels": {"app": "stranger"},
    }
    manifests[ns].append(nc.netcheck_pod("stranger", ["sleep"], {"app": "stranger"}))
    sources["probe:pod-in-other-namespace"] = {"namespace": other_ns, "pod": "elsewhere", "labels": {"app": "strategy"}}
    manifests[other_ns].append(nc.netcheck_pod("elsewhere", ["sleep"], {"app": "strategy"}))
    worker_peers = (((values.get("global") or {}).get("networkPolicy") or {}).get("coordinator") or {}).get(
        "from"
    ) or []
    if any((peer.get("podSelector") or {}).get("matchLabels") == WORKER_LABELS for peer in worker_peers):
        sources["probe:sdk-worker"] = {"namespace": ns, "pod": "sdk-worker", "labels": dict(WORKER_LABELS)}
        manifests[ns].append(nc.netcheck_pod("sdk-worker", ["sleep"], dict(WORKER_LABELS)))
    for namespace, objs in manifests.items():
        nc.apply(namespace, *objs)
    try:
        return _probe(nc, rendered, network, declared, release, sources, targets, not_listening, canary_result)
    finally:  # the probe pods are the test's: gone before the release's namespace is inventoried again
        nc.kubectl("delete", "pod", "-n", ns, *(s["pod"] for s in sources.values() if s["namespace"] == ns),
                   "--ignore-not-found", "--timeout=120s", timeout=150)  # fmt: skip


def _probe(nc, rendered, network, declared, release, sources, targets, not_listening, canary_result) -> Matrix:
    for src in sources.values():
        nc.wait_ready(src["namespace"], src["pod"], timeout=180)

    results: dict[tuple[str, str, int], str] = {}
    expected: dict[tuple[str, str, int], bool] = {}
    enforcer_only: set[tuple[str, str, int]] = set()
    rescans: dict[str, int] = {}
    endpoints = {e.name: e for e in network.everything}
    by_address: dict[tuple[str, int], list[Target]] = {}
    for t in targets:
        by_address.setdefault((t.address, t.port), []).append(t)
    plan: dict[str, dict[tuple[str, int], tuple[str, str, int]]] = {}  # source -> (address, port) -> key
    for source in sources:
        for (address, port), same in by_address.items():
            if source not in release and not any(t.name in release for t in same):
                continue  # between two pods the release's policies do not select: not the chart's business
            if any(t.name.startswith("node:") for t in same) and len(same) == 1:
                want = source not in release  # only pods the release's policies do not select reach them
            else:
                # several graph endpoints may share an address (every managed service is at the node
                # address): a connection there is declared when it is declared to any of them
                want = any((source, t.name, port, "TCP") in declared for t in same)
            key = (source, "|".join(sorted({t.name for t in same})), port)
            plan.setdefault(source, {})[(address, port)] = key
            expected[key] = want
            if (
                not want
                and source in release
                and any(
                    t.name in release and kube_router_same_policy(rendered, endpoints[source], endpoints[t.name], port)
                    for t in same
                )
            ):
                enforcer_only.add(key)

    def as_declared(key: tuple[str, str, int], outcome: str) -> bool:
        return (outcome == "ok") == expected[key] or (outcome == "ok" and key in enforcer_only)

    for source, src in sources.items():
        # The enforcer learns of a new pod asynchronously (kube-router syncs its ipsets and pod chains a moment
        # after the pod is Ready): a source whose outcomes differ from the graph is scanned again, up to
        # SETTLE_SCANS times; a policy that really allows or refuses the wrong thing differs every time.
        addresses = plan.get(source, {})
        for attempt in range(1, SETTLE_SCANS + 1):
            scan = nc.kubectl(
                "exec", "-n", src["namespace"], src["pod"], "--", "/netcheck", "scan", "-timeout", "3s",
                *(f"{a}:{p}" for a, p in addresses), timeout=600,
            )  # fmt: skip
            outcomes = _parse_scan(scan.stdout)
            for address, key in addresses.items():
                results[key] = outcomes.get(address, "missing")
            if all(as_declared(key, results[key]) for key in addresses.values()) or attempt == SETTLE_SCANS:
                break
            time.sleep(SETTLE_PAUSE_S)
        rescans[source] = attempt - 1

    dns = {}
    for source, src in sources.items():
        probe = nc.probe(src["namespace"], src["pod"], "dns", "-timeout", "3s", "kubernetes.default.svc.cluster.local")
        dns[source] = probe.outcome

    components = {name: p.labels.get(COMPONENT, "") for name, p in release.items()}
    for component, externals in network.externals.items():
        components |= {e.name: component for e in externals}
    return Matrix(canary_result, sources, results, expected, enforcer_only, dns, not_listening, components, rescans)

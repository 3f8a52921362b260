"""Pod Security Standards "restricted", resources, probes and pinned images: one case per pod and per
container the chart renders (init containers, sidecars, hooks and helm test pods included), for the
chart's defaults and every shipped values set (tests/security/cases.py)."""

from __future__ import annotations

import re

import pytest
import yaml

from tests.harness import render_chart
from tests.harness.paths import CHART_DIR
from tests.security.cases import container_cases, expected_components, pod_cases, unpack
from tests.security.workloads import containers, quantity, workloads

# Pod Security Standards (Kubernetes docs, "Pod Security Standards", restricted profile).
RESTRICTED_VOLUME_TYPES = {
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
}
SAFE_SYSCTLS = {
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
    "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
}
SELINUX_TYPES = {"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"}
SECCOMP_OK = {"RuntimeDefault", "Localhost"}
TOOLS_QMTL_IMAGES_LACK = re.compile(r"(^|[\s/;|&])(curl|wget)(\s|$)")


def _pod_security(workload) -> dict:
    return workload.spec.get("securityContext") or {}


# --- pods ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("case", pod_cases())
def test_pod_shares_no_host_namespace_and_mounts_no_host_path(case) -> None:
    _, workload = unpack(case)
    spec = workload.spec
    for field in ("hostNetwork", "hostPID", "hostIPC"):
        assert not spec.get(field), f"{workload.ref}: {field} is set"
    for volume in spec.get("volumes") or []:
        kinds = set(volume) - {"name"}
        assert kinds <= RESTRICTED_VOLUME_TYPES, f"{workload.ref}: volume {volume['name']} is {sorted(kinds)}"


@pytest.mark.parametrize("case", pod_cases())
def test_pod_scratch_space_is_bounded(case) -> None:
    """Root filesystems are read-only; the only node-local writable storage is emptyDir, each capped."""
    _, workload = unpack(case)
    for volume in workload.spec.get("volumes") or []:
        if "emptyDir" in volume:
            limit = (volume["emptyDir"] or {}).get("sizeLimit")
            assert limit is not None, f"{workload.ref}: emptyDir {volume['name']} has no sizeLimit"
            assert quantity(limit) > 0, f"{workload.ref}: emptyDir {volume['name']} sizeLimit {limit}"


@pytest.mark.parametrize("case", pod_cases())
def test_replicated_workload_spreads_over_nodes(case) -> None:
    """Replicas on one node fail together: several replicas need a hostname spread or anti-affinity."""
    _, workload = unpack(case)
    if workload.replicas < 2:
        return
    spread = {c.get("topologyKey") for c in workload.spec.get("topologySpreadConstraints") or []}
    anti = (workload.spec.get("affinity") or {}).get("podAntiAffinity") or {}
    terms = (anti.get("requiredDuringSchedulingIgnoredDuringExecution") or []) + [
        t.get("podAffinityTerm") or {} for t in anti.get("preferredDuringSchedulingIgnoredDuringExecution") or []
    ]
    keys = spread | {t.get("topologyKey") for t in terms}
    assert "kubernetes.io/hostname" in keys, (
        f"{workload.ref}: {workload.replicas} replicas without a kubernetes.io/hostname topology spread or "
        "pod anti-affinity"
    )


@pytest.mark.parametrize("case", pod_cases())
def test_pod_security_context_is_restricted(case) -> None:
    _, workload = unpack(case)
    pod = _pod_security(workload)
    for name in (s["name"] for s in pod.get("sysctls") or []):
        assert name in SAFE_SYSCTLS, f"{workload.ref}: unsafe sysctl {name}"
    if "seccompProfile" in pod:
        assert pod["seccompProfile"].get("type") in SECCOMP_OK, f"{workload.ref}: pod seccompProfile"
    assert pod.get("runAsUser") != 0, f"{workload.ref}: pod runs as uid 0"
    _check_selinux(pod.get("seLinuxOptions"), workload.ref)
    assert (pod.get("appArmorProfile") or {}).get("type") != "Unconfined", f"{workload.ref}: AppArmor Unconfined"
    assert not (pod.get("windowsOptions") or {}).get("hostProcess"), f"{workload.ref}: hostProcess"


@pytest.mark.parametrize("case", pod_cases())
def test_service_account_token_is_not_mounted_unless_the_pod_uses_the_api(case) -> None:
    vs, workload = unpack(case)
    rendered = vs.render()
    spec = workload.spec
    account = spec.get("serviceAccountName") or "default"
    sa = rendered.find("ServiceAccount", account)
    effective = spec.get("automountServiceAccountToken")
    if effective is None:
        effective = True if sa is None else sa.get("automountServiceAccountToken", True)
    if not effective:
        return
    bound = [
        b
        for b in rendered.by_kind("RoleBinding") + rendered.by_kind("ClusterRoleBinding")
        if any(s.get("kind") == "ServiceAccount" and s.get("name") == account for s in b.get("subjects") or [])
    ]
    assert sa is not None, (
        f"{workload.ref} mounts the token of ServiceAccount {account!r}, which the chart does "
        "not render: set automountServiceAccountToken: false"
    )
    assert bound, (
        f"{workload.ref} mounts a ServiceAccount token but no (Cluster)RoleBinding grants {account!r} "
        "anything: set automountServiceAccountToken: false"
    )


@pytest.mark.parametrize("case", expected_components())
def test_every_component_the_values_switch_on_renders_and_is_least_privileged(case) -> None:
    """Enumerated from what the values switch on (files/service-graph.yaml), not from what rendered: a
    workload that vanishes from the render fails here instead of silently dropping out of the cases."""
    vs, component = case
    found = [w for w in workloads(vs.render()) if w.labels.get("app.kubernetes.io/component") == component]
    assert found, f"{vs.name}: the values switch {component} on, but no pod of it is rendered"
    for workload in found:
        test_pod_security_context_is_restricted((vs, workload))
        test_service_account_token_is_not_mounted_unless_the_pod_uses_the_api((vs, workload))
        for container in containers(workload):
            test_container_security_context_is_restricted((vs, container))
            test_container_has_requests_and_limits((vs, container))


# --- containers -------------------------------------------------------------------------------------------
def _check_selinux(options: dict | None, where: str) -> None:
    options = options or {}
    assert options.get("type", "") in SELINUX_TYPES, f"{where}: seLinuxOptions.type {options.get('type')}"
    assert not options.get("user"), f"{where}: seLinuxOptions.user is set"
    assert not options.get("role"), f"{where}: seLinuxOptions.role is set"


@pytest.mark.parametrize("case", container_cases())
def test_container_security_context_is_restricted(case) -> None:
    _, container = unpack(case)
    where = f"{container.workload.ref} container {container.name}"
    pod = _pod_security(container.workload)
    sc = container.spec.get("securityContext") or {}
    assert sc.get("allowPrivilegeEscalation") is False, f"{where}: allowPrivilegeEscalation must be false"
    assert not sc.get("privileged"), f"{where}: privileged"
    caps = sc.get("capabilities") or {}
    assert "ALL" in (caps.get("drop") or []), f"{where}: capabilities.drop must include ALL"
    assert not caps.get("add"), f"{where}: adds capabilities {caps.get('add')}"
    run_as_non_root = sc.get("runAsNonRoot", pod.get("runAsNonRoot"))
    assert run_as_non_root is True, f"{where}: runAsNonRoot must be true (container or pod)"
    assert sc.get("runAsUser", pod.get("runAsUser")) != 0, f"{where}: runs as uid 0"
    seccomp = (sc.get("seccompProfile") or pod.get("seccompProfile") or {}).get("type")
    assert seccomp in SECCOMP_OK, f"{where}: seccompProfile must be RuntimeDefault or Localhost (got {seccomp})"
    assert sc.get("procMount", "Default") == "Default", f"{where}: procMount"
    _check_selinux(sc.get("seLinuxOptions"), where)
    assert (sc.get("appArmorProfile") or {}).get("type") != "Unconfined", f"{where}: AppArmor Unconfined"
    assert sc.get("readOnlyRootFilesystem") is True, f"{where}: readOnlyRootFilesystem must be true"
    for port in container.spec.get("ports") or []:
        assert not port.get("hostPort"), f"{where}: hostPort {port['hostPort']}"


@pytest.mark.parametrize("case", container_cases())
def test_container_has_requests_and_limits(case) -> None:
    _, container = unpack(case)
    where = f"{container.workload.ref} container {container.name}"
    resources = container.spec.get("resources") or {}
    for kind in ("requests", "limits"):
        for resource in ("cpu", "memory"):
            value = (resources.get(kind) or {}).get(resource)
            assert value is not None, f"{where}: no {kind}.{resource} (<section>.resources.<profile>.<container>)"
            assert quantity(value) > 0, f"{where}: {kind}.{resource} is {value}"
    for resource in ("cpu", "memory"):
        request, limit = quantity(resources["requests"][resource]), quantity(resources["limits"][resource])
        assert request <= limit, f"{where}: {resource} request {request} exceeds its limit {limit}"


def _probe_port_ok(probe: dict, container: dict) -> str | None:
    """An error when an httpGet/tcpSocket/grpc probe names a port the container does not declare."""
    declared = {p.get("containerPort") for p in container.get("ports") or []}
    names = {p.get("name") for p in container.get("ports") or []}
    for handler in ("httpGet", "tcpSocket", "grpc"):
        if handler in probe:
            port = probe[handler].get("port")
            if port not in declared and port not in names:
                return f"{handler} probe on port {port!r}, which the container does not declare ({sorted(declared)})"
    if "exec" in probe:
        command = " ".join(str(a) for a in probe["exec"].get("command") or [])
        if TOOLS_QMTL_IMAGES_LACK.search(command):
            return f"exec probe uses curl/wget, which the images lack: {command}"
    return None


@pytest.mark.parametrize("case", container_cases())
def test_long_running_container_has_probes_that_can_answer(case) -> None:
    _, container = unpack(case)
    where = f"{container.workload.ref} container {container.name}"
    probes = {k: container.spec[k] for k in ("startupProbe", "readinessProbe", "livenessProbe") if k in container.spec}
    if not container.long_running:
        assert not (container.init and not container.sidecar and probes), f"{where}: init containers take no probes"
        return
    assert "readinessProbe" in probes, f"{where}: long-running container without readinessProbe"
    assert "livenessProbe" in probes, f"{where}: long-running container without livenessProbe"
    readiness, liveness = probes["readinessProbe"], probes["livenessProbe"]
    if _handler(readiness) == _handler(liveness):
        # One health check serves both: a struggling pod must leave the Service well before it is restarted.
        assert _tolerance(liveness) > _tolerance(readiness), (
            f"{where}: readiness and liveness probe the same thing; liveness must tolerate failure longer "
            f"(initialDelay + period x failureThreshold: {_tolerance(liveness)} s <= {_tolerance(readiness)} s)"
        )
    for kind, probe in probes.items():
        handlers = {"exec", "httpGet", "tcpSocket", "grpc"} & set(probe)
        assert len(handlers) == 1, f"{where}: {kind} needs exactly one handler, has {sorted(handlers)}"
        problem = _probe_port_ok(probe, container.spec)
        assert problem is None, f"{where}: {kind}: {problem}"


def _handler(probe: dict) -> dict:
    return {k: v for k, v in probe.items() if k in ("exec", "httpGet", "tcpSocket", "grpc")}


def _tolerance(probe: dict) -> int:
    """Seconds of consecutive failure before the probe acts (Kubernetes defaults: period 10, threshold 3)."""
    return int(probe.get("initialDelaySeconds", 0)) + int(probe.get("periodSeconds", 10)) * int(
        probe.get("failureThreshold", 3)
    )


_DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")


def _image_problem(image: str) -> str | None:
    if not image:
        return "no image"
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    tag = last.split(":", 1)[1] if ":" in last else None
    if tag == "latest":
        return f"{image}: tag `latest`"
    if tag is None and not _DIGEST.search(image):
        return f"{image}: neither tag nor digest (means latest)"
    return None


@pytest.mark.parametrize("case", container_cases())
def test_image_is_pinned(case) -> None:
    _, container = unpack(case)
    problem = _image_problem(container.spec.get("image", ""))
    assert problem is None, f"{container.workload.ref} container {container.name}: {problem}"


def test_image_check_itself_rejects_unpinned_references() -> None:
    assert _image_problem("redis:latest")
    assert _image_problem("docker.io/library/redis")
    assert _image_problem("registry:5000/redis")
    assert _image_problem("redis:7.2") is None
    assert _image_problem("registry:5000/redis@sha256:" + "a" * 64) is None


# --- digests: every image value honours a digest -----------------------------------------------------------
DIGEST = "sha256:" + "0123456789abcdef" * 4


def _image_blocks(node, path=()):
    """Paths of every image block (a mapping with `repository` and `tag`/`digest`) in a values tree."""
    if isinstance(node, dict):
        if "repository" in node and ("tag" in node or "digest" in node):
            yield path
        for key, value in node.items():
            yield from _image_blocks(value, (*path, key))


def _digest_override() -> dict:
    chart = yaml.safe_load((CHART_DIR / "Chart.yaml").read_text())
    trees = [((), yaml.safe_load((CHART_DIR / "values.yaml").read_text()) or {})]
    for dep in chart.get("dependencies") or []:
        values = CHART_DIR / "charts" / dep["name"] / "values.yaml"
        if values.exists():
            trees.append(((dep.get("alias") or dep["name"],), yaml.safe_load(values.read_text()) or {}))
    override: dict = {}
    for prefix, tree in trees:
        for path in _image_blocks(tree):
            node = override
            for key in (*prefix, *path):
                node = node.setdefault(key, {})
            node["digest"] = DIGEST
    return override


DIGEST_OVERRIDE = _digest_override()


def test_every_image_value_honours_a_digest() -> None:
    assert DIGEST_OVERRIDE, "no image blocks (repository + tag) found in the values"
    rendered = render_chart(DIGEST_OVERRIDE)
    images = {f"{w.ref}/{c.name}": c.spec.get("image", "") for w in workloads(rendered) for c in containers(w)}
    unpinned = {where: image for where, image in images.items() if not image.endswith("@" + DIGEST)}
    assert not unpinned, f"containers whose image ignores the digest set in the values: {unpinned}"

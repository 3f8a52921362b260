"""Rendered pods run from the images with podman, the way the kubelet would run them.

    pod = RenderedPod(rendered, "gateway", workdir, network="host", hosts={"redis": "127.0.0.1"})
    pod.start()                         # volumes, init containers in order (each must exit 0), containers
    pod.wait_until(pod.probe("gateway", "startupProbe"))
    pod.stop()

What is taken from the render, unchanged: each container's image, command, args, env (secretKeyRef read
from the release's rendered Secrets), workingDir, volume mounts (ConfigMap files, emptyDirs shared
between the pod's containers) and security context (user/group, fsGroup as a supplementary group,
read-only root filesystem, capabilities dropped, no privilege escalation; podman's default seccomp
profile is the runtime default). Probes run as the kubelet runs them: httpGet against the container's
port (from the node: this host when the pod uses the host's network, else from inside the pod's network
namespace), exec with `podman exec`; success is 2xx/3xx or exit 0, within the probe's timeoutSeconds.

Networking: "host" (the pod shares this host's loopback, where the test servers listen; the rendered
service names resolve to 127.0.0.1 through --add-host) or "none" (a pod network namespace with loopback
only, held by an infra container, like Kubernetes' pause container: nothing can be downloaded).
"""

from __future__ import annotations

import json
import os
import secrets
import shlex
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from qmtl_stack.render import Rendered

from tests.harness.objects import pod_template, resolved_env
from tests.harness.paths import CHART_DIR

IMAGES_SH = CHART_DIR / "scripts" / "images.sh"
PODMAN_ENV_FILE = CHART_DIR / ".tools" / "podman" / "podman.env"
TEST_LABEL = "io.qmtl-stack.test"


def podman_env() -> dict[str, str]:
    """This project's private podman configuration (written by scripts/images.sh) on top of os.environ."""
    env = dict(os.environ)
    for line in PODMAN_ENV_FILE.read_text().splitlines():
        key, _, value = line.partition("=")
        env[key] = value
    return env


def podman(*args: str, timeout: float = 120, check: bool = True, input: str | None = None):
    done = subprocess.run(
        ["podman", *args], env=podman_env(), capture_output=True, text=True, timeout=timeout, input=input
    )
    if check and done.returncode != 0:
        raise AssertionError(f"podman {shlex.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return done


@dataclass(frozen=True)
class ProbeResult:
    ok: bool
    detail: str


@dataclass
class RenderedPod:
    rendered: Rendered
    workload: str  # a Deployment of the release
    workdir: Path
    network: str = "host"  # "host" or "none"
    hosts: Mapping[str, str] = field(default_factory=dict)
    kind: str = "Deployment"
    rendered_namespace: str = "qmtl"  # the release namespace the render was made for
    names: dict[str, str] = field(default_factory=dict)  # container name -> podman container name
    _infra: str | None = None
    _volumes: dict[str, Path] = field(default_factory=dict)
    _started: list[str] = field(default_factory=list)
    _started_at: float = 0.0

    def __post_init__(self) -> None:
        if self.network not in ("host", "none"):
            raise ValueError(f"network {self.network!r}: 'host' or 'none'")
        template = pod_template(self.rendered.get(self.kind, self.workload)) or {}
        self.spec: dict = template.get("spec") or {}
        self.prefix = f"qmtl-test-{self.workload}-{secrets.token_hex(3)}"

    # ----------------------------------------------------------------------------------------- containers
    def container_spec(self, name: str) -> dict:
        for item in [*(self.spec.get("initContainers") or []), *(self.spec.get("containers") or [])]:
            if item["name"] == name:
                return item
        raise KeyError(f"{self.kind}/{self.workload} has no container {name!r}")

    def start(self) -> None:
        """Volumes, the infra container (network "none"), every init container to completion (a
        failure raises with its log), then the containers, detached."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._make_volumes()
        if self.network == "none":
            self._infra = f"{self.prefix}-infra"
            image = self.spec["containers"][0]["image"]
            locked_down = {
                "securityContext": {
                    "readOnlyRootFilesystem": True,
                    "capabilities": {"drop": ["ALL"]},
                    "allowPrivilegeEscalation": False,
                }
            }
            podman(
                "run", "--detach", "--name", self._infra, "--label", TEST_LABEL, "--network", "none",
                *self._security(locked_down),
                "--entrypoint", json.dumps(["python3", "-c", "import signal; signal.pause()"]), image,
            )  # fmt: skip
            self._started.append(self._infra)
        for init in self.spec.get("initContainers") or []:
            name = self._run(init, detach=False)
            done = podman("wait", name, timeout=300)
            logs = self.logs(init["name"])
            code = int(done.stdout.strip().splitlines()[-1])
            if code != 0:
                raise AssertionError(f"init container {init['name']} of {self.workload} exited {code}:\n{logs}")
        for main in self.spec["containers"]:
            self._run(main, detach=True)
        self._started_at = time.monotonic()

    def _make_volumes(self) -> None:
        # a StatefulSet's claims: a fresh, empty volume each, owned by the pod's fsGroup as the kubelet
        # leaves a volume that supports ownership management (group fsGroup, setgid, group rwx)
        workload = self.rendered.get(self.kind, self.workload)
        fs_group = (self.spec.get("securityContext") or {}).get("fsGroup")
        for claim in (workload.get("spec") or {}).get("volumeClaimTemplates") or []:
            name = claim["metadata"]["name"]
            path = self.workdir / "volumes" / name
            path.mkdir(parents=True, exist_ok=True)
            if fs_group is not None:
                os.chown(path, 0, int(fs_group))
                path.chmod(0o2770)
            else:
                path.chmod(0o777)
            self._volumes[name] = path
        for volume in self.spec.get("volumes") or []:
            path = self.workdir / "volumes" / volume["name"]
            path.mkdir(parents=True, exist_ok=True)
            if "configMap" in volume:
                data = self.rendered.get("ConfigMap", volume["configMap"]["name"])["data"]
                mode = int(volume["configMap"].get("defaultMode", 0o644))
                for key, text in data.items():
                    (path / key).write_text(text)
                    (path / key).chmod(mode)
                path.chmod(0o755)
            elif "emptyDir" in volume:
                path.chmod(0o777)  # the kubelet's emptyDir mode (medium Memory is a host folder here)
            else:
                raise NotImplementedError(
                    f"volume {volume['name']}: only configMap, emptyDir and a StatefulSet's claims are run here"
                )
            self._volumes[volume["name"]] = path

    def _security(self, container: Mapping) -> list[str]:
        pod = self.spec.get("securityContext") or {}
        sc = container.get("securityContext") or {}
        user = sc.get("runAsUser", pod.get("runAsUser"))
        group = sc.get("runAsGroup", pod.get("runAsGroup"))
        args: list[str] = []
        if user is not None:
            args += ["--user", f"{user}:{group if group is not None else user}"]
        if pod.get("fsGroup") is not None:
            args += ["--group-add", str(pod["fsGroup"])]
        if sc.get("readOnlyRootFilesystem"):
            # podman would add its own tmpfs on /tmp, /run and /var/tmp: the chart mounts what it needs
            args += ["--read-only", "--read-only-tmpfs=false"]
        drop = (sc.get("capabilities") or {}).get("drop") or []
        if "ALL" in drop:
            args += ["--cap-drop", "all"]
        if sc.get("allowPrivilegeEscalation") is False:
            args += ["--security-opt", "no-new-privileges"]
        if sc.get("privileged"):
            raise AssertionError(f"{container.get('name')}: privileged containers are not run here")
        return args

    def _env(self, container: Mapping) -> dict[str, str]:
        """The container's env as the kubelet gives it: values, Secrets (rendered), the pod's own fields."""
        fields = {"metadata.name": self.prefix, "metadata.namespace": self.rendered_namespace}
        plain, resolved = [], {}
        for entry in container.get("env") or []:
            ref = (entry.get("valueFrom") or {}).get("fieldRef")
            if ref is None:
                plain.append(entry)
            elif ref.get("fieldPath") in fields:
                resolved[entry["name"]] = fields[ref["fieldPath"]]
            else:
                raise NotImplementedError(f"{container['name']}: env {entry['name']} from {ref}")
        return {**resolved_env(self.rendered, {"env": plain}), **resolved}

    def _network(self) -> list[str]:
        if self.network == "host":
            return ["--network", "host", *(f"--add-host={h}:{ip}" for h, ip in sorted(self.hosts.items()))]
        return ["--network", f"container:{self._infra}"]

    def _run(self, container: Mapping, *, detach: bool) -> str:
        name = f"{self.prefix}-{container['name']}"
        self.names[container["name"]] = name
        args = ["run", "--detach", "--name", name, "--label", TEST_LABEL, *self._network(), *self._security(container)]
        for key, value in self._env(container).items():
            args += ["--env", f"{key}={value}"]
        for mount in container.get("volumeMounts") or []:
            source = self._volumes[mount["name"]]
            if mount.get("subPath"):  # one entry of the volume, as it is when the container starts
                source = source / mount["subPath"]
                if not source.exists():
                    raise AssertionError(f"{container['name']}: no {mount['subPath']} in volume {mount['name']}")
            mode = "ro" if mount.get("readOnly") else "rw"
            args += ["--volume", f"{source}:{mount['mountPath']}:{mode}"]
        if container.get("workingDir"):
            args += ["--workdir", container["workingDir"]]
        command, rest = list(container.get("command") or []), list(container.get("args") or [])
        if command:
            args += ["--entrypoint", json.dumps(command)]
        args += [container["image"], *rest]
        podman(*args)
        self._started.append(name)
        return name

    # ----------------------------------------------------------------------------------------- state
    def volume(self, name: str) -> Path:
        """The host folder behind the pod's volume `name` (an emptyDir's content, as the pod wrote it)."""
        return self._volumes[name]

    def seconds_up(self) -> float:
        return time.monotonic() - self._started_at if self._started_at else 0.0

    def logs(self, container: str) -> str:
        done = podman("logs", self.names[container], check=False)
        return done.stdout + done.stderr

    def running(self, container: str) -> bool:
        done = podman("inspect", "--format", "{{.State.Running}}", self.names[container], check=False)
        return done.stdout.strip() == "true"

    def inspect(self, container: str) -> dict:
        return json.loads(podman("inspect", self.names[container]).stdout)[0]

    def wait_exit(self, container: str, timeout: float = 300) -> int:
        """Wait for one of the pod's containers to exit (a Job's or a helm test's); its exit code."""
        done = podman("wait", self.names[container], timeout=timeout)
        return int(done.stdout.strip().splitlines()[-1])

    def exec(self, container: str, *command: str, timeout: float = 30) -> subprocess.CompletedProcess:
        return podman("exec", self.names[container], *command, timeout=timeout, check=False)

    def stop(self) -> None:
        """Remove the pod's containers, then its infra container (podman refuses to remove a network
        namespace's holder while containers that joined it exist)."""
        containers = [name for name in self._started if name != self._infra]
        for batch in (containers, [self._infra] if self._infra in self._started else []):
            if batch:
                done = podman("rm", "--force", "--time", "2", *batch, check=False, timeout=120)
                if done.returncode != 0:
                    # podman 4.3 races a container that exits between its SIGTERM and its SIGKILL ("container
                    # state improper: stopped") and keeps it: a second rm removes the stopped container
                    done = podman("rm", "--force", "--time", "2", *batch, check=False, timeout=120)
                assert done.returncode == 0, f"podman rm {batch}: {done.stderr}"
        self._started.clear()

    # ----------------------------------------------------------------------------------------- probes
    def probe(self, container: str, kind: str) -> Callable[[], ProbeResult]:
        """The container's rendered probe `kind` (startupProbe, readinessProbe, livenessProbe), as a
        callable that runs it once."""
        spec = self.container_spec(container)
        probe = spec.get(kind)
        if probe is None:
            raise AssertionError(f"{self.workload}/{container} declares no {kind}")
        timeout = float(probe.get("timeoutSeconds", 1))
        if "httpGet" in probe:
            get = probe["httpGet"]
            port = _container_port(spec, get["port"])
            url = f"{get.get('scheme', 'HTTP').lower()}://127.0.0.1:{port}{get.get('path', '/')}"
            return lambda: self._http_probe(url, timeout)
        if "exec" in probe:
            command = list(probe["exec"]["command"])
            return lambda: self._exec_probe(container, command, timeout)
        raise NotImplementedError(f"{self.workload}/{container} {kind}: only httpGet and exec probes are run here")

    def _http_probe(self, url: str, timeout: float) -> ProbeResult:
        if self.network == "host":
            try:
                with urllib.request.urlopen(url, timeout=timeout) as response:
                    status = response.status
            except urllib.error.HTTPError as exc:
                status = exc.code
            except (OSError, ValueError) as exc:
                return ProbeResult(False, f"GET {url}: {exc}")
            return ProbeResult(200 <= status < 400, f"GET {url}: HTTP {status}")
        # from inside the pod's network namespace (its loopback is all it has)
        script = (
            "import sys, urllib.request, urllib.error\n"
            "try:\n"
            f"    print(urllib.request.urlopen({url!r}, timeout={timeout}).status)\n"
            "except urllib.error.HTTPError as e:\n"
            "    print(e.code)\n"
        )
        done = podman("exec", self._infra, "python3", "-I", "-S", "-c", script, check=False, timeout=timeout + 30)
        if done.returncode != 0:
            return ProbeResult(False, f"GET {url}: {done.stderr.strip().splitlines()[-1:]}")
        status = int(done.stdout.strip())
        return ProbeResult(200 <= status < 400, f"GET {url}: HTTP {status}")

    def _exec_probe(self, container: str, command: list[str], timeout: float) -> ProbeResult:
        start = time.monotonic()
        try:
            done = podman("exec", self.names[container], *command, check=False, timeout=timeout + 30)
        except subprocess.TimeoutExpired:
            return ProbeResult(False, f"exec {command[:2]}: no answer in {timeout}s")
        took = time.monotonic() - start
        detail = f"exec {shlex.join(command[:3])}...: exit {done.returncode} in {took:.1f}s"
        detail += f" {done.stderr.strip()[-300:]}"
        return ProbeResult(done.returncode == 0, detail)

    def wait_until(self, probe: Callable[[], ProbeResult], container: str, timeout: float) -> ProbeResult:
        """Run `probe` until it succeeds (at most `timeout` s; the container must stay running)."""
        deadline = time.monotonic() + timeout
        last = ProbeResult(False, "not run")
        while time.monotonic() < deadline:
            if not self.running(container):
                raise AssertionError(f"{self.workload}/{container} exited:\n{self.logs(container)[-6000:]}")
            last = probe()
            if last.ok:
                return last
            time.sleep(1)
        raise AssertionError(
            f"{self.workload}/{container}: probe still failing after {timeout:.0f}s ({last.detail}):\n"
            f"{self.logs(container)[-6000:]}"
        )

    def startup_budget(self, container: str) -> float:
        """How long the kubelet waits for the startup probe: periodSeconds x failureThreshold."""
        probe = self.container_spec(container)["startupProbe"]
        return float(probe.get("periodSeconds", 10)) * float(probe.get("failureThreshold", 3))


def _container_port(container: Mapping, port: int | str) -> int:
    if isinstance(port, int):
        return port
    for item in container.get("ports") or []:
        if item.get("name") == port:
            return int(item["containerPort"])
    raise AssertionError(f"{container['name']}: probe port {port!r} is not declared")


def wait_ready(pod: RenderedPod) -> None:
    """Every container of the pod passes its startup probe, then its readiness probe, each within the
    kubelet's budget (periodSeconds x failureThreshold)."""
    for name in [c["name"] for c in pod.spec["containers"]]:
        spec = pod.container_spec(name)
        if "startupProbe" in spec:
            pod.wait_until(pod.probe(name, "startupProbe"), name, pod.startup_budget(name))
        if "readinessProbe" in spec:
            probe = spec["readinessProbe"]
            budget = float(probe.get("periodSeconds", 10)) * float(probe.get("failureThreshold", 3))
            pod.wait_until(pod.probe(name, "readinessProbe"), name, budget)


def check_probes_and_stay_up(pod: RenderedPod, stay_up: float) -> None:
    """Every container of the pod: its startup probe passes within the kubelet's budget, then its
    readiness and liveness probes within theirs; `stay_up` seconds after the start every container still
    runs and its readiness and liveness probes still pass."""
    containers = [c["name"] for c in pod.spec["containers"]]
    for name in containers:
        spec = pod.container_spec(name)
        if "startupProbe" in spec:
            pod.wait_until(pod.probe(name, "startupProbe"), name, pod.startup_budget(name))
        for kind in ("readinessProbe", "livenessProbe"):
            if kind in spec:
                budget = float(spec[kind].get("periodSeconds", 10)) * float(spec[kind].get("failureThreshold", 3))
                pod.wait_until(pod.probe(name, kind), name, budget)
    time.sleep(max(0.0, stay_up - pod.seconds_up()))
    for name in containers:
        assert pod.running(name), f"{pod.workload}/{name} exited:\n{pod.logs(name)[-6000:]}"
        for kind in ("readinessProbe", "livenessProbe"):
            if kind in pod.container_spec(name):
                result = pod.probe(name, kind)()
                assert result.ok, f"{pod.workload}/{name} {kind} {stay_up:.0f}s after the start: {result.detail}"

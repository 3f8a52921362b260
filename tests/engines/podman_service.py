"""podman's Docker-compatible API, for the container backend (testcontainers) where no Docker engine is.

    service = PodmanService.start()      # the API at service.docker_host (unix socket)
    host, port = service.forward(5432)   # a published port of a container, reachable from this host
    service.stop()

Network rule: nothing started here may route or NAT out. podman's default bridge network masquerades out of
the host, so the service does not run in the host's network at all:

- A holder process (`unshare --net --mount`, then `sleep`) anchors a new network namespace with only
  loopback, and a private mount namespace in which tmpfs cover what rootful podman, runc and the CNI
  plugins write outside the paths podman is configured with (/run/netns, /run/runc, /var/lib/cni,
  /dev/shm: podman's lock segment): nothing of it lands on the host, all of it goes with the namespace.
- `podman system service` runs inside both (nsenter), with this project's settings (runc, cgroupfs, no
  default ulimits: nothing may raise an rlimit here), its own storage under .tools/podman/services/<name>/
  (with the images scripts/images.sh built, .tools/podman/storage, as a read-only additional image store:
  nothing is copied or pulled; a pull fails, there is no route to a registry), and one CNI network of its
  own: a bridge inside the namespace, without masquerading, and without a default route in the
  containers (a connection to an outside address fails at once: "network is unreachable"). Its API is a
  unix socket, which the host reaches through the file system.
- A container's published ports are bound inside the namespace (CNI portmap, including 127.0.0.1 there).
  forward(port) opens a loopback port on this host; each connection to it is dialled by a thread of this
  process that joined the namespace (setns applies to that thread only), and bytes are copied both ways.
  Only loopback crosses from the host into the namespace, as for the local cluster's API server.

stop() removes every container (through the API), stops the service, kills whatever is left in the
namespace, then the holder, and deletes the storage. Each process (pytest-xdist worker) has a service of
its own. The holder and the service die with the process that started them (PR_SET_PDEATHSIG); what a
killed process leaves behind (conmon and its containers) is swept by the next start on this checkout.
Needs root (namespaces, mounts, iptables inside the namespace), podman, runc, util-linux, iproute2,
iptables and the CNI plugins bridge, host-local and portmap (scripts/setup.sh installs them).
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import hashlib
import json
import os
import queue
import shutil
import signal
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from ._proc import Process
from .pins import ROOT, EngineStartError, EngineUnavailable

SERVICES_DIR = ROOT / ".tools" / "podman" / "services"
IMAGE_STORE = ROOT / ".tools" / "podman" / "storage"  # scripts/images.sh's store
CNI_PLUGIN_DIRS = ("/usr/lib/cni", "/usr/libexec/cni", "/opt/cni/bin")
NETWORK = "qmtl-isolated"
SUBNET, GATEWAY = "10.89.0.0/24", "10.89.0.1"
# rootful podman, runc and CNI write there whatever their configuration says: private tmpfs instead
COVERED = ("/run/netns", "/run/runc", "/var/lib/cni", "/dev/shm")
CLONE_NEWNET = 0x40000000

_LIBC = ctypes.CDLL(None, use_errno=True)


def unavailable_reason() -> str | None:
    """None when a podman service can run here, else what is missing."""
    if os.geteuid() != 0:
        return "the podman service needs root (network and mount namespaces, iptables inside them)"
    missing = [
        tool for tool in ("podman", "runc", "conmon", "unshare", "nsenter", "ip", "iptables") if not shutil.which(tool)
    ]
    if not _cni_dir():
        missing.append("the CNI plugins bridge, host-local and portmap")
    if missing:
        return f"the podman service needs {', '.join(missing)} (scripts/setup.sh installs them)"
    return None


def _cni_dir() -> str | None:
    for folder in CNI_PLUGIN_DIRS:
        if all(os.access(os.path.join(folder, p), os.X_OK) for p in ("bridge", "host-local", "portmap")):
            return folder
    return None


def _start_time(pid: int) -> str | None:
    """The process's start time (clock ticks since boot): with its pid, its identity."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _processes() -> list[tuple[int, int, str]]:
    """(pid, ppid, command line) of every process."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, IndexError, ValueError):
            continue
        found.append((int(entry.name), ppid, cmdline))
    return found


def _kill_trees(roots: set[int], timeout: float = 10) -> None:
    """SIGKILL the processes `roots` and all their descendants; return once they are gone (or zombies)."""
    procs = _processes()
    doomed, changed = set(roots), True
    while changed:
        changed = False
        for pid, ppid, _ in procs:
            if ppid in doomed and pid not in doomed:
                doomed.add(pid)
                changed = True
    started = {pid: _start_time(pid) for pid in doomed}
    for pid in doomed:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(_running(pid, since) for pid, since in started.items()):
        time.sleep(0.02)


def _netns(pid: int) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/ns/net")
    except OSError:
        return None


def _running(pid: int, start_time: str | None) -> bool:
    """The process `pid` that started at `start_time` still exists and is not a zombie."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return False
    return fields[0] not in ("Z", "X") and fields[19] == start_time


def _run_dir(name: str) -> Path:
    """Run state (socket, runroot, CNI state) in /tmp: unix socket paths are limited to 107 bytes."""
    checkout = hashlib.sha256(str(ROOT).encode()).hexdigest()[:12]
    return Path("/tmp") / f"qmtl-stack-podman-svc-{checkout}-{name}"


def _sweep_stale() -> None:
    """Services whose owner process is gone (a worker killed before its teardown): kill what they left
    running (conmon processes name their storage folder, the containers are their children), delete them."""
    if not SERVICES_DIR.is_dir():
        return
    for folder in SERVICES_DIR.iterdir():
        owner_file = folder / "owner.json"
        try:
            owner = json.loads(owner_file.read_text())
        except (OSError, ValueError):
            owner = {}
        if owner and _start_time(owner.get("pid", 0)) == owner.get("start_time"):
            continue  # alive: another process's service
        # conmon names the storage folder on its command line (the containers are its children); the
        # holder and the service die with their owner (PDEATHSIG), unless they are still on their way out
        marker = str(folder / "storage")
        procs = _processes()
        doomed = {pid for pid, _, cmdline in procs if marker in cmdline}
        doomed |= {int(pid) for pid, since in owner.get("helpers", {}).items() if _start_time(int(pid)) == since}
        # and whatever else runs in their network namespaces (runc, podman's exit commands), which are ours
        namespaces = {ns for pid in doomed if (ns := _netns(pid))} - {_netns(os.getpid())}
        doomed |= {pid for pid, _, _ in procs if _netns(pid) in namespaces}
        _kill_trees(doomed)
        shutil.rmtree(folder, ignore_errors=True)
        shutil.rmtree(_run_dir(folder.name), ignore_errors=True)


@dataclass
class PodmanService:
    name: str
    state: Path  # .tools/podman/services/<name>: configuration and storage
    run: Path  # /tmp/...: socket and run state
    holder: Process
    service: Process
    _forwards: list[_Forward] = field(default_factory=list)
    _dialer: _NamespaceDialer | None = None

    @property
    def socket_path(self) -> Path:
        return self.run / "podman.sock"

    @property
    def docker_host(self) -> str:
        return f"unix://{self.socket_path}"

    @property
    def netns(self) -> str:
        return f"/proc/{self.holder.pid}/ns/net"

    # ------------------------------------------------------------------------------------------- start
    @classmethod
    def start(cls, timeout: float = 60) -> PodmanService:
        reason = unavailable_reason()
        if reason:
            raise EngineUnavailable(reason)
        if not IMAGE_STORE.is_dir():  # containers.start_engine builds the images (and so the store) first
            raise EngineStartError(f"no image store at {IMAGE_STORE}: build the images first (ensure_images)")
        SERVICES_DIR.mkdir(parents=True, exist_ok=True)
        with (SERVICES_DIR.parent / "services.lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            _sweep_stale()
            name = f"{os.environ.get('PYTEST_XDIST_WORKER', 'main')}-{os.getpid()}"
            state, run = SERVICES_DIR / name, _run_dir(name)
            for folder in (state, run):
                shutil.rmtree(folder, ignore_errors=True)
                folder.mkdir(parents=True)
            me = os.getpid()
            (state / "owner.json").write_text(json.dumps({"pid": me, "start_time": _start_time(me)}))
        env = _write_config(state, run)
        holder = service = None
        try:
            holder = _start_holder(run)
            service = Process(
                "podman-service",
                ["nsenter", "-t", str(holder.pid), "-n", "-m", "--", "podman", "system", "service", "--time=0",
                 f"unix://{run / 'podman.sock'}"],
                log_path=run / "service.log",
                env=env,
            )  # fmt: skip
            helpers = {str(p.pid): _start_time(p.pid) for p in (holder, service)}
            (state / "owner.json").write_text(
                json.dumps({"pid": me, "start_time": _start_time(me), "helpers": helpers})
            )
            started = cls(name, state, run, holder, service)
            started._wait_ready(timeout)
        except BaseException:
            for proc in (service, holder):
                if proc is not None:
                    proc.stop()
            shutil.rmtree(state, ignore_errors=True)
            shutil.rmtree(run, ignore_errors=True)
            raise
        return started

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.service.alive():
                raise EngineStartError(f"podman system service exited:\n{self.service.log()}")
            with contextlib.suppress(OSError):
                if self._get("/_ping") == b"OK":
                    return
            time.sleep(0.1)
        raise EngineStartError(f"podman system service did not answer in {timeout:.0f}s:\n{self.service.log()}")

    def _get(self, path: str) -> bytes:
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(5)
            s.connect(str(self.socket_path))
            s.sendall(f"GET {path} HTTP/1.0\r\nHost: podman\r\n\r\n".encode())
            data = b""
            while chunk := s.recv(65536):
                data += chunk
        return data.split(b"\r\n\r\n", 1)[-1]

    # ------------------------------------------------------------------------------------------- ports
    def forward(self, port: int) -> tuple[str, int]:
        """A loopback address of this host that reaches 127.0.0.1:`port` inside the namespace."""
        if self._dialer is None:
            self._dialer = _NamespaceDialer(self.netns)
        forward = _Forward(self._dialer, port)
        self._forwards.append(forward)
        return "127.0.0.1", forward.port

    # ------------------------------------------------------------------------------------------- stop
    def stop(self) -> None:
        for forward in self._forwards:
            forward.close()
        self._forwards.clear()
        if self._dialer is not None:
            self._dialer.close()
            self._dialer = None
        if self.service.alive():
            with contextlib.suppress(Exception):
                self._remove_containers()
        self.service.stop()
        # whatever is left in the namespace (conmon, containers, exit commands), then the holder
        if self.holder.alive():
            ns = os.readlink(self.netns)
            left = set()
            for pid, _, _ in _processes():
                if pid != self.holder.pid:
                    with contextlib.suppress(OSError):
                        if os.readlink(f"/proc/{pid}/ns/net") == ns:
                            left.add(pid)
            _kill_trees(left)
        self.holder.stop()
        shutil.rmtree(self.state, ignore_errors=True)
        shutil.rmtree(self.run, ignore_errors=True)

    def _remove_containers(self) -> None:
        import docker

        client = docker.DockerClient(base_url=self.docker_host, timeout=60)
        try:
            for container in client.containers.list(all=True):
                container.remove(force=True, v=True)
        finally:
            client.close()


def _write_config(state: Path, run: Path) -> dict[str, str]:
    """containers.conf, storage.conf, registries.conf and the CNI network of a service; its env."""
    net = state / "networks"
    net.mkdir()
    conflist = {
        "cniVersion": "0.4.0",
        "name": NETWORK,
        "plugins": [
            {
                "type": "bridge",
                "bridge": "qmtl0",
                "isGateway": True,
                "ipMasq": False,
                "hairpinMode": True,
                # no "routes": the containers get their subnet's route only, no default route
                "ipam": {
                    "type": "host-local",
                    "dataDir": str(run / "cni"),
                    "ranges": [[{"subnet": SUBNET, "gateway": GATEWAY}]],
                },
            },
            {"type": "portmap", "capabilities": {"portMappings": True}},
        ],
    }
    (net / f"{NETWORK}.conflist").write_text(json.dumps(conflist, indent=2))
    (state / "containers.conf").write_text(
        f"""# Written by tests/engines/podman_service.py for one podman service.
[containers]
default_ulimits = []
log_driver = "k8s-file"
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "{run}/events.log"
tmp_dir = "{run}/libpod"
volume_path = "{state}/storage/volumes"
[network]
network_backend = "cni"
network_config_dir = "{net}"
default_network = "{NETWORK}"
cni_plugin_dirs = ["{_cni_dir()}"]
"""
    )
    (state / "storage.conf").write_text(
        f"""# Written by tests/engines/podman_service.py for one podman service.
[storage]
driver = "overlay"
graphroot = "{state}/storage"
runroot = "{run}/storage"
[storage.options]
additionalimagestores = ["{IMAGE_STORE}"]
"""
    )
    (state / "registries.conf").write_text('unqualified-search-registries = []\nshort-name-mode = "enforcing"\n')
    return {
        "CONTAINERS_CONF": str(state / "containers.conf"),
        "CONTAINERS_STORAGE_CONF": str(state / "storage.conf"),
        "CONTAINERS_REGISTRIES_CONF": str(state / "registries.conf"),
    }


def _start_holder(run: Path, timeout: float = 10) -> Process:
    """The namespaces' holder: loopback up, the covered paths on private tmpfs, then `sleep infinity`."""
    covers = " && ".join(f"mkdir -p {p} && mount -t tmpfs -o mode=0755 tmpfs {p}" for p in COVERED)
    script = f"set -e; {covers}; ip link set lo up; exec sleep infinity"
    holder = Process(
        "podman-netns",
        ["unshare", "--net", "--mount", "--propagation", "private", "--", "sh", "-c", script],
        log_path=run / "holder.log",
    )
    mine = os.readlink("/proc/self/ns/net")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not holder.alive():
            raise EngineStartError(f"the namespace holder exited:\n{holder.log()}")
        with contextlib.suppress(OSError):
            comm = Path(f"/proc/{holder.pid}/comm").read_text().strip()
            if comm == "sleep" and os.readlink(f"/proc/{holder.pid}/ns/net") != mine:
                return holder
        time.sleep(0.02)
    holder.stop()
    raise EngineStartError(f"the namespace holder did not start in {timeout:.0f}s:\n{holder.log()}")


class _NamespaceDialer:
    """A thread inside the network namespace that opens TCP connections there for the others."""

    def __init__(self, netns: str) -> None:
        self._requests: queue.Queue = queue.Queue()
        ready: queue.Queue = queue.Queue()
        self._thread = threading.Thread(target=self._run, args=(netns, ready), daemon=True, name="netns-dialer")
        self._thread.start()
        error = ready.get(timeout=10)
        if error is not None:
            raise EngineStartError(f"cannot join the podman service's network namespace: {error}")

    def _run(self, netns: str, ready: queue.Queue) -> None:
        try:
            fd = os.open(netns, os.O_RDONLY)
            try:
                if _LIBC.setns(fd, CLONE_NEWNET) != 0:  # this thread only
                    raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))
            finally:
                os.close(fd)
        except OSError as exc:
            ready.put(exc)
            return
        ready.put(None)
        while (request := self._requests.get()) is not None:
            address, answer = request
            try:
                answer.put(socket.create_connection(address, timeout=10))
            except OSError as exc:
                answer.put(exc)

    def dial(self, port: int) -> socket.socket:
        answer: queue.Queue = queue.Queue()
        self._requests.put((("127.0.0.1", port), answer))
        result = answer.get(timeout=30)
        if isinstance(result, Exception):
            raise result
        result.settimeout(None)
        return result

    def close(self) -> None:
        self._requests.put(None)
        self._thread.join(timeout=5)


class _Forward:
    """127.0.0.1:<free port> on this host -> 127.0.0.1:`target` in the namespace."""

    def __init__(self, dialer: _NamespaceDialer, target: int) -> None:
        self._dialer, self._target = dialer, target
        self._listener = socket.create_server(("127.0.0.1", 0), backlog=64)
        self.port = self._listener.getsockname()[1]
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True, name=f"forward-{self.port}").start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # closed
            try:
                upstream = self._dialer.dial(self._target)
            except OSError:
                client.close()  # the client sees the connection closed, as with a refused one
                continue
            with self._lock:
                self._open.update((client, upstream))
            pending = [2]  # pumps of this pair still running; the last one closes both sockets
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b, pending), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, pending: list[int]) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)  # the other side sees end of stream
        with self._lock:
            pending[0] -= 1
            last = pending[0] == 0
            if last:
                self._open.difference_update((source, sink))
        if last:
            for s in (source, sink):
                with contextlib.suppress(OSError):
                    s.close()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._listener.close()
        with self._lock:
            for s in self._open:
                with contextlib.suppress(OSError):
                    s.close()
            self._open.clear()

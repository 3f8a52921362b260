"""Child processes for the engine servers: free loopback ports, temp dirs, reliable stop.

Every server runs in its own session (process group) so a stop reaches all of its children; it also
gets PR_SET_PDEATHSIG so that it dies with the pytest process (or xdist worker) that started it even when
that process is killed without running its finalizers. Whatever is still running at interpreter exit is
stopped by an atexit hook.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Sequence

from .pins import EngineStartError

_LIVE: set[Process] = set()
_LOCK = threading.Lock()
KEEP = os.environ.get("QMTL_ENGINES_KEEP") == "1"  # keep temp dirs for debugging


def free_port() -> int:
    """A loopback TCP port that is free now. Another process may take it before we bind it: the
    servers retry their start with new ports when the bind fails (see start_with_retries)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_workdir(name: str, owner: int | None = None, group: int | None = None) -> pathlib.Path:
    base = os.environ.get("QMTL_ENGINES_TMP") or None
    path = pathlib.Path(tempfile.mkdtemp(prefix=f"qmtl-{name}-", dir=base))
    if owner is not None:
        os.chown(path, owner, group if group is not None else -1)
    return path


def remove_workdir(path: pathlib.Path | None) -> None:
    if path and not KEEP:
        shutil.rmtree(path, ignore_errors=True)


try:
    _LIBC = ctypes.CDLL(None, use_errno=True)  # loaded here: no dlopen between fork and exec
except OSError:  # pragma: no cover - not glibc
    _LIBC = None


def _pdeathsig() -> None:  # runs in the child between fork and exec (after any setuid)
    if _LIBC is not None:
        _LIBC.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


class Process:
    """A server process writing stdout+stderr to a log file."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        log_path: pathlib.Path,
        cwd: pathlib.Path | None = None,
        env: dict[str, str] | None = None,
        user: int | None = None,
        group: int | None = None,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        full_env = {**os.environ, **(env or {})}
        kwargs: dict = {}
        if user is not None:
            kwargs.update(user=user, group=group, extra_groups=[])
        with open(log_path, "ab") as log:
            self.popen = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=cwd,
                env=full_env,
                start_new_session=True,
                preexec_fn=_pdeathsig,
                **kwargs,
            )
        with _LOCK:
            _LIVE.add(self)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log(self, tail: int = 60) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join(lines[-tail:])

    def stop(self, timeout: float = 3.0) -> None:
        """SIGTERM the process group, SIGKILL what is left after `timeout` (the data is thrown away)."""
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(timeout)
        # the whole group: a server's own children (postgres backends, ...) included
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(5)
        with _LOCK:
            _LIVE.discard(self)


@atexit.register
def _stop_all() -> None:
    for proc in list(_LIVE):
        with contextlib.suppress(Exception):
            proc.stop(timeout=5)


def wait_until(
    proc: Process,
    ready: Callable[[], bool],
    *,
    timeout: float,
    what: str,
    interval: float = 0.1,
    workdir: pathlib.Path | None = None,
) -> float:
    """Poll `ready()` until it is true; fail with the log tail if the process dies or time runs out (and
    then remove the server's `workdir`, when given). Returns the seconds it took."""
    try:
        return _wait_until(proc, ready, timeout=timeout, what=what, interval=interval)
    except EngineStartError:
        remove_workdir(workdir)
        raise


def _wait_until(proc: Process, ready: Callable[[], bool], *, timeout: float, what: str, interval: float) -> float:
    start = time.monotonic()
    last_error: Exception | None = None
    while True:
        if not proc.alive():
            raise EngineStartError(
                f"{what} exited with code {proc.popen.returncode} before it was ready; "
                f"log {proc.log_path}:\n{proc.log()}"
            )
        try:
            if ready():
                return time.monotonic() - start
        except Exception as exc:  # not ready yet
            last_error = exc
        if time.monotonic() - start > timeout:
            proc.stop()
            raise EngineStartError(
                f"{what} was not ready after {timeout:.0f}s (last probe error: {last_error!r}); "
                f"log {proc.log_path}:\n{proc.log()}"
            )
        time.sleep(interval)


BIND_ERRORS = ("Address already in use", "BindException", "bind: address already in use", "EADDRINUSE")


def start_with_retries(start: Callable[[], object], attempts: int = 4) -> object:
    """Run `start()` (which picks fresh free ports each time) again when a port was taken meanwhile."""
    for attempt in range(attempts):
        try:
            return start()
        except EngineStartError as exc:
            if attempt == attempts - 1 or not any(marker in str(exc) for marker in BIND_ERRORS):
                raise
    raise AssertionError("unreachable")


def tcp_open(host: str, port: int, timeout: float = 0.5) -> bool:
    with socket.create_connection((host, port), timeout=timeout):
        return True


def run(argv: Sequence[str], *, timeout: float = 120, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout, **kwargs)

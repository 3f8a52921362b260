"""Where the engines are: pinned versions (pyproject.toml) and the files scripts/engines/install.sh left.

Nothing here starts a process. Every locator raises EngineUnavailable with a message that says what is
missing and how to install it; the fixtures turn that into a skip (or a failure when
QMTL_REQUIRE_ENGINES=1).
"""

from __future__ import annotations

import functools
import os
import pathlib
import pwd
import re
import shutil
import subprocess
from dataclasses import dataclass

from qmtl_stack import pins as qmtl_pins

ROOT = pathlib.Path(__file__).resolve().parents[2]
INSTALL = "scripts/engines/install.sh"


class EngineUnavailable(RuntimeError):
    """The engine is not installed here (skip, or fail under QMTL_REQUIRE_ENGINES=1)."""


class EngineStartError(RuntimeError):
    """The engine is installed but did not start or answer; the message carries its log tail."""


def pins() -> dict:
    """pyproject.toml [tool.qmtl-stack.engines] (qmtl_stack.pins, the one reader)."""
    return qmtl_pins.table("engines")


def tools_dir() -> pathlib.Path:
    return pathlib.Path(os.environ.get("QMTL_ENGINES_DIR") or ROOT / ".tools" / "engines")


def _missing(engine: str, what: str) -> EngineUnavailable:
    msg = f"{engine} is not available: {what}. Install it with `{INSTALL} {engine}`"
    failed = tools_dir() / "failed" / engine
    if failed.is_file():
        msg += f"; its last install failed: {failed.read_text().strip()}"
    return EngineUnavailable(msg)


# ------------------------------------------------------------------------------------------------ binaries
@dataclass(frozen=True)
class RedisBinary:
    path: str
    version: str


@functools.cache
def redis_binary() -> RedisBinary:
    series = pins()["redis_series"]
    path = shutil.which("redis-server")
    if not path:
        raise _missing("redis", f"no redis-server on PATH (Debian package {pins()['redis_deb']})")
    out = subprocess.run([path, "--version"], capture_output=True, text=True, check=False).stdout
    m = re.search(r"v=([0-9.]+)", out)
    version = m.group(1) if m else "?"
    if not version.startswith(series + "."):
        raise _missing("redis", f"{path} is redis {version}, not the pinned series {series}")
    return RedisBinary(path, version)


@dataclass(frozen=True)
class PostgresBinaries:
    bindir: pathlib.Path
    version: str

    def tool(self, name: str) -> str:  # "postgres", "initdb", "psql"
        return str(self.bindir / name)


@functools.cache
def postgres_binaries() -> PostgresBinaries:
    series = str(pins()["postgres_series"])
    bindir = pathlib.Path(f"/usr/lib/postgresql/{series}/bin")
    for tool in ("postgres", "initdb", "psql"):
        if not (bindir / tool).is_file():
            raise _missing("postgres", f"no {bindir / tool} (Debian package {pins()['postgres_deb']})")
    out = subprocess.run([str(bindir / "postgres"), "--version"], capture_output=True, text=True).stdout
    m = re.search(r"\(PostgreSQL\) ([0-9.]+)", out)
    return PostgresBinaries(bindir, m.group(1) if m else "?")


@functools.cache
def postgres_os_user() -> pwd.struct_passwd | None:
    """The OS user to run postgres as: None when not root (run as ourselves), else `postgres`."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam("postgres")
    except KeyError:
        raise _missing(
            "postgres", "running as root and there is no `postgres` OS user (postgres refuses root)"
        ) from None


def _java_major(java: str) -> int | None:
    try:
        out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30).stderr
    except (OSError, subprocess.TimeoutExpired):
        return None
    m = re.search(r'version "(\d+)(?:\.(\d+))?', out)
    if not m:
        return None
    major = int(m.group(1))
    return int(m.group(2) or 0) if major == 1 else major


@functools.cache
def java(engine: str = "java") -> str:
    """A java >= java_min: the one install.sh chose, else JAVA_HOME, else PATH, else /usr/lib/jvm/*."""
    need = int(pins()["java_min"])
    candidates = []
    chosen = tools_dir() / "java_home"
    if chosen.is_file():
        candidates.append(pathlib.Path(chosen.read_text().strip()) / "bin" / "java")
    if os.environ.get("JAVA_HOME"):
        candidates.append(pathlib.Path(os.environ["JAVA_HOME"]) / "bin" / "java")
    if shutil.which("java"):
        candidates.append(pathlib.Path(shutil.which("java")))
    candidates += sorted(pathlib.Path("/usr/lib/jvm").glob("*/bin/java"))
    for cand in candidates:
        if cand.is_file() and (_java_major(str(cand)) or 0) >= need:
            return str(cand)
    raise _missing(engine, f"no Java >= {need} (looked at {[str(c) for c in candidates]})")


def kafka_classpath() -> str:
    version = pins()["kafka"]
    lib = tools_dir() / f"kafka-{version}" / "lib"
    if not (lib / f"kafka_2.13-{version}.jar").is_file():
        raise _missing("kafka", f"Kafka {version} jars are not in {lib}")
    java("kafka")
    return f"{lib}/*"


def questdb_jar() -> pathlib.Path:
    version = pins()["questdb"]
    jar = tools_dir() / f"questdb-{version}" / f"questdb-{version}.jar"
    if not jar.is_file():
        raise _missing("questdb", f"no {jar}")
    java("questdb")
    return jar


def neo4j_classpath() -> str:
    version = pins()["neo4j"]
    home = tools_dir() / f"neo4j-{version}"
    if not (home / "classes" / "Neo4jCommunity.class").is_file() or not (home / "lib").is_dir():
        raise _missing("neo4j", f"Neo4j {version} jars or its launcher class are not in {home}")
    java("neo4j")
    return f"{home}/classes:{home}/lib/*"


def go_binary(name: str) -> str:
    version = pins()[name]
    path = tools_dir() / f"{name}-{version}" / "bin" / name
    if not path.is_file():
        raise _missing(name, f"no {path} (built from its Go module {version})")
    return str(path)


def require_python_module(engine: str, module: str, package: str) -> None:
    try:
        __import__(module)
    except ImportError:
        raise EngineUnavailable(
            f"{engine}: the Python client `{package}` is not installed (it is pinned in pyproject.toml "
            "[project.optional-dependencies].test or images/seamless-coordinator/requirements.lock; "
            "scripts/setup.sh installs both)"
        ) from None

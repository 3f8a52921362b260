"""--online: probe the endpoints the values point at, as each service would reach them.

Where things are and whose credential is used come from the chart itself (qmtl.endpoints, rendered by
chart.py). Probes:
  coordinator  the runtime guard's own script (ConfigMap qmtl-config, coordinator_guard.py) run with
               --url and the guard's bounds from global.guard: the same attempts, spacing and timeout
               as the init container in the pods
  redis        AUTH as the service's own ACL user, SELECT its database, PING
  questdb      PG-wire connect with the coordinator's credentials (psycopg), SELECT 1
  postgres     connect as the service's own role to its database (psycopg)
  s3           GET {endpoint}/minio/health/live; other S3: the bucket, with the coordinator's keys (minio)
  kafka        metadata of the ControlBus brokers; are the ControlBus topics there (confluent-kafka)
  neo4j        Bolt connect as dagmanager's user (neo4j)
Optional client libraries that are missing turn their probe into a warning that says which to install.

Credentials (never in values): `--secret FILE` (a Secret manifest, e.g. `kubectl get secret NAME -o yaml`,
or a List of them; data is base64, stringData plain), or `--secret-env`: environment variables named
QMTL_SECRET_<SECRET NAME>_<KEY> (upper case, every other character an underscore), e.g.
QMTL_SECRET_QMTL_REDIS_USERS_GATEWAY.

Bundled endpoints are Service names that resolve inside the cluster only: run validate in the cluster,
or forward the ports and map the names with `--resolve redis=127.0.0.1:16379` (HOST[:PORT]=ADDR[:PORT]).
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import logging
import os
import re
import socket
import ssl
import subprocess
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import yaml
from qmtl_stack.render import YAML_LOADER

from qmtl_validate.report import ERROR, OK, WARN, Check
from qmtl_validate.values import LoadError

PROBE_TIMEOUT = 5.0
GUARD_ENV = {
    "attempts": "QMTL_GUARD_ATTEMPTS",
    "intervalSeconds": "QMTL_GUARD_INTERVAL_SECONDS",
    "timeoutSeconds": "QMTL_GUARD_TIMEOUT_SECONDS",
}


# --- credentials ------------------------------------------------------------------------------------------


def env_name(secret: str, key: str) -> str:
    return "QMTL_SECRET_" + re.sub(r"[^A-Z0-9]", "_", f"{secret}_{key}".upper())


@dataclasses.dataclass
class Credentials:
    secrets: dict[str, dict[str, str]] = dataclasses.field(default_factory=dict)
    use_env: bool = False

    def get(self, ref: dict | None) -> str | None:
        if not ref or not ref.get("name"):
            return None
        value = (self.secrets.get(ref["name"]) or {}).get(ref.get("key", ""))
        if value is None and self.use_env:
            value = os.environ.get(env_name(ref["name"], ref.get("key", "")))
        return value

    @staticmethod
    def missing(ref: dict | None) -> str:
        if not ref or not ref.get("name"):
            return "the values name no Secret for it"
        name, key = ref["name"], ref.get("key", "")
        return (
            f"no credential for Secret {name} key {key}: pass --secret with `kubectl get secret {name} -o yaml`, "
            f"or --secret-env with {env_name(name, key)}"
        )


def load_secrets(paths: Sequence[Path]) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for path in paths:
        try:
            docs = list(yaml.load_all(Path(path).read_text(), Loader=YAML_LOADER))
        except OSError as error:
            raise LoadError(f"--secret {path}: cannot read: {error.strerror or error}") from error
        except yaml.YAMLError as error:
            raise LoadError(f"--secret {path}: not valid YAML/JSON: {error}") from error
        items: list[Any] = []
        for doc in docs:
            if isinstance(doc, dict) and doc.get("kind") == "List":
                items += doc.get("items") or []
            elif doc is not None:
                items.append(doc)
        for item in items:
            name = (item.get("metadata") or {}).get("name") if isinstance(item, dict) else None
            if not name or item.get("kind") != "Secret":
                raise LoadError(f"--secret {path}: expected Secret manifests (kind: Secret, metadata.name)")
            data = out.setdefault(name, {})
            for key, value in (item.get("data") or {}).items():
                try:
                    data[key] = base64.b64decode(str(value), validate=True).decode()
                except (ValueError, UnicodeDecodeError) as error:
                    raise LoadError(f"--secret {path}: data.{key} of Secret {name} is not base64") from error
            for key, value in (item.get("stringData") or {}).items():
                data[key] = str(value)
    return out


# --- where to connect ------------------------------------------------------------------------------------


class Resolver:
    """--resolve HOST[:PORT]=ADDR[:PORT]: reach a name at another address (e.g. a port-forward)."""

    def __init__(self, rules: Sequence[str] = ()):
        self.rules: dict[str, tuple[str, int | None]] = {}
        for rule in rules:
            left, sep, right = rule.partition("=")
            if not sep or not left or not right:
                raise LoadError(f"--resolve {rule!r}: write HOST[:PORT]=ADDR[:PORT]")
            addr, port = _split_hostport(right)
            self.rules[left] = (addr, port)

    def map(self, host: str, port: int) -> tuple[str, int]:
        for key in (f"{host}:{port}", host):
            if key in self.rules:
                addr, new_port = self.rules[key]
                return addr, new_port or port
        return host, port

    def mapped(self, host: str, port: int) -> bool:
        return f"{host}:{port}" in self.rules or host in self.rules

    def url(self, url: str) -> str:
        parts = urllib.parse.urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        host, new_port = self.map(parts.hostname or "", port)
        if (host, new_port) == (parts.hostname, port):
            return url
        return urllib.parse.urlunsplit(parts._replace(netloc=f"{host}:{new_port}"))


def _split_hostport(text: str) -> tuple[str, int | None]:
    match = re.fullmatch(r"\[?([^\]]+?)\]?(?::(\d+))?", text)
    if not match:
        return text, None
    return match.group(1), int(match.group(2)) if match.group(2) else None


def resolvable(host: str) -> bool:
    try:
        socket.getaddrinfo(host, None)
        return True
    except OSError:
        return False


# --- probes ----------------------------------------------------------------------------------------------


@dataclasses.dataclass
class Outcome:
    ok: bool
    detail: str
    skipped: bool = False  # could not be attempted (missing credential or client library)


def run_guard(script: str, url: str, guard: dict) -> tuple[bool, list[str], str]:
    """Run the runtime guard's script (from the rendered ConfigMap) against `url` with the guard's bounds.
    Returns (healthy, attempt lines, last error line)."""
    env = {**os.environ, **{var: str(guard[key]) for key, var in GUARD_ENV.items() if key in guard}}
    with tempfile.NamedTemporaryFile("w", suffix="_coordinator_guard.py", delete=False) as handle:
        handle.write(script)
        path = handle.name
    try:
        proc = subprocess.run([sys.executable, path, "--url", url], capture_output=True, text=True, env=env)
    finally:
        os.unlink(path)
    attempts = [line for line in proc.stdout.splitlines() if "attempt" in line]
    last = (proc.stderr.strip().splitlines() or [""])[-1]
    return proc.returncode == 0, attempts, last


def _resp(*parts: str) -> bytes:
    out = [f"*{len(parts)}\r\n".encode()]
    for part in parts:
        data = part.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


def redis_ping(host: str, port: int, tls: bool, username: str, password: str, db: int) -> Outcome:
    try:
        raw = socket.create_connection((host, port), timeout=PROBE_TIMEOUT)
    except OSError as error:
        return Outcome(False, f"cannot connect to {host}:{port}: {error}")
    with contextlib.closing(raw):
        sock = ssl.create_default_context().wrap_socket(raw, server_hostname=host) if tls else raw
        reader = sock.makefile("rb")
        try:
            for command, expected in (
                ((("AUTH", username, password)), "+OK"),
                (("SELECT", str(db)), "+OK"),
                (("PING",), "+PONG"),
            ):
                sock.sendall(_resp(*command))
                reply = reader.readline().decode(errors="replace").strip()
                if reply != expected:
                    what = "AUTH as " + username if command[0] == "AUTH" else " ".join(command)
                    return Outcome(False, f"{what}: {reply or 'no answer'}")
        except OSError as error:
            return Outcome(False, f"{host}:{port}: {error}")
    return Outcome(True, f"PING as {username} (db {db}) answered PONG")


def pg_connect(host: str, port: int, dbname: str, user: str, password: str, sslmode: str) -> Outcome:
    try:
        import psycopg
    except ImportError:
        return Outcome(
            False, "skipped: python package psycopg is not installed (pip install 'psycopg[binary]')", skipped=True
        )
    try:
        with psycopg.connect(
            host=host,
            port=port,
            dbname=dbname,
            user=user,
            password=password,
            sslmode=sslmode,
            connect_timeout=int(PROBE_TIMEOUT),
        ) as conn:
            conn.execute("SELECT 1").fetchone()
    except Exception as error:
        return Outcome(False, f"{type(error).__name__}: {str(error).strip().splitlines()[0] if str(error) else ''}")
    return Outcome(True, f"connected to {dbname} as {user}")


def s3_health(endpoint: str, bucket: str, access: str | None, secret: str | None) -> Outcome:
    url = endpoint.rstrip("/") + "/minio/health/live"
    try:
        with urllib.request.urlopen(url, timeout=PROBE_TIMEOUT) as response:
            status = response.status
    except urllib.error.HTTPError as error:
        status = error.code
    except Exception as error:
        return Outcome(False, f"{url}: {type(error).__name__}: {getattr(error, 'reason', error)}")
    if 200 <= status < 300:
        return Outcome(True, f"{url} answered HTTP {status}")
    if access is None or secret is None:
        return Outcome(
            False,
            f"{url} answered HTTP {status} (not MinIO?); pass the coordinator's S3 keys "
            "(--secret) to check the bucket instead",
            skipped=True,
        )
    try:
        from minio import Minio
    except ImportError:
        return Outcome(False, "skipped: python package minio is not installed", skipped=True)
    parts = urllib.parse.urlsplit(endpoint)
    try:
        exists = Minio(
            parts.netloc, access_key=access, secret_key=secret, secure=parts.scheme == "https"
        ).bucket_exists(bucket)
    except Exception as error:
        return Outcome(False, f"bucket {bucket}: {type(error).__name__}: {error}")
    return Outcome(exists, f"bucket {bucket} {'exists' if exists else 'does not exist'}")


def kafka_metadata(brokers: list[str], topics: list[str]) -> Outcome:
    try:
        from confluent_kafka.admin import AdminClient
    except ImportError:
        return Outcome(False, "skipped: python package confluent-kafka is not installed", skipped=True)
    quiet = logging.getLogger("qmtl_validate.kafka")
    quiet.addHandler(logging.NullHandler())
    quiet.propagate = False
    client = AdminClient(
        {"bootstrap.servers": ",".join(brokers), "socket.timeout.ms": int(PROBE_TIMEOUT * 1000), "logger": quiet}
    )
    try:
        metadata = client.list_topics(timeout=PROBE_TIMEOUT)
    except Exception as error:
        return Outcome(False, f"no metadata from {', '.join(brokers)}: {error}")
    missing = [t for t in topics if t not in metadata.topics]
    detail = f"{len(metadata.brokers)} broker(s) at {', '.join(brokers)}"
    if missing:
        return Outcome(
            True,
            f"{detail}; ControlBus topics not there yet: {', '.join(missing)} (the chart's "
            "provisioning creates them on a bundled bus; create them on a managed one)",
        )
    return Outcome(True, f"{detail}; every ControlBus topic exists")


def neo4j_connect(uri: str, user: str, password: str) -> Outcome:
    try:
        import neo4j
    except ImportError:
        return Outcome(False, "skipped: python package neo4j is not installed", skipped=True)
    try:
        with neo4j.GraphDatabase.driver(uri, auth=(user, password), connection_timeout=PROBE_TIMEOUT) as driver:
            driver.verify_connectivity()
    except Exception as error:
        return Outcome(False, f"{type(error).__name__}: {error}")
    return Outcome(True, f"Bolt as {user}")


# --- per target --------------------------------------------------------------------------------------------


@dataclasses.dataclass
class Context:
    endpoints: dict
    values: dict
    prod: bool
    credentials: Credentials
    resolver: Resolver
    guard_script: str
    cache: dict[str, Check] = dataclasses.field(default_factory=dict)

    @property
    def fail(self) -> str:
        return ERROR if self.prod else WARN


def _reach(
    ctx: Context, name: str, host: str, port: int, bundled: bool, path: str, probe: Callable[[str, int], Outcome]
) -> Check:
    """Resolve (or map) host:port, run the probe, turn the outcome into a check."""
    addr, addr_port = ctx.resolver.map(host, port)
    if not ctx.resolver.mapped(host, port) and not resolvable(host):
        if bundled:
            return Check(
                name,
                WARN,
                f"{host} is the bundled Service: it resolves inside the cluster only. Run "
                f"validate there, or port-forward and map it with --resolve {host}=127.0.0.1:<port>",
                path,
            )
        return Check(name, ctx.fail, f"{host} does not resolve (DNS)", path)
    outcome = probe(addr, addr_port)
    where = f"{host}:{port}" + (f" via {addr}:{addr_port}" if (addr, addr_port) != (host, port) else "")
    if outcome.ok:
        return Check(name, OK, f"{where}: {outcome.detail}", path)
    return Check(name, WARN if outcome.skipped else ctx.fail, f"{where}: {outcome.detail}", path)


def coordinator(ctx: Context) -> Check:
    url = (ctx.endpoints.get("coordinator") or {}).get("url") or ""
    path = "global.seamless.coordinator_url"
    if not url:
        return Check(
            "coordinator_healthz",
            ctx.fail,
            "no coordinator_url to probe"
            + ("; prod requires it" if ctx.prod else " (dev: in-memory stub; prod requires it)"),
            path,
        )
    parts = urllib.parse.urlsplit(url)
    host, port = parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)
    bundled = bool((ctx.values.get("seamless-coordinator") or {}).get("enabled"))
    guard = (ctx.values.get("global") or {}).get("guard") or {}
    if not ctx.resolver.mapped(host, port) and not resolvable(host):
        if bundled:
            return Check(
                "coordinator_healthz",
                WARN,
                f"{host} is the bundled Service: it resolves inside the "
                "cluster only. Run validate there, or port-forward and map it with "
                f"--resolve {host}=127.0.0.1:<port>",
                path,
            )
        return Check("coordinator_healthz", ctx.fail, f"{host} does not resolve (DNS)", path)
    healthy, attempts, last = run_guard(ctx.guard_script, ctx.resolver.url(url), guard)
    if healthy:
        return Check(
            "coordinator_healthz",
            OK,
            f"{url}/healthz answered 2xx ({len(attempts)} attempt(s); the runtime guard would let the pods start)",
            path,
        )
    return Check(
        "coordinator_healthz",
        ctx.fail,
        f"{url}/healthz: not healthy after {len(attempts)} attempt(s) "
        f"({guard.get('intervalSeconds')} s apart, {guard.get('timeoutSeconds')} s timeout): "
        f"{last or (attempts[-1] if attempts else 'no output')}. In prod the pods would not start.",
        path,
    )


def redis(ctx: Context, who: str, label: str) -> Check:
    r = ctx.endpoints.get("redis") or {}
    user = (r.get("users") or {}).get(who) or {}
    name = f"redis_as_{label}"
    if not r.get("available"):
        return Check(name, OK if not ctx.prod else ERROR, "no Redis configured (nothing to probe)", "global.redis")
    password = ctx.credentials.get(user.get("secret"))
    if password is None:
        return Check(name, WARN, f"skipped: {Credentials.missing(user.get('secret'))}", "global.redis")
    host, port = user.get("host") or r.get("host"), int(user.get("port") or r.get("port"))
    return _reach(
        ctx,
        name,
        host,
        port,
        bool(r.get("bundled")),
        "global.redis",
        lambda h, p: redis_ping(h, p, bool(r.get("tls")), user["username"], password, int(user["db"])),
    )


def questdb(ctx: Context) -> Check:
    q = ctx.endpoints.get("questdb") or {}
    if not q.get("available"):
        return Check("questdb_pgwire", OK if not ctx.prod else ERROR, "no QuestDB configured", "global.questdb")
    user, password = ctx.credentials.get(q.get("username")), ctx.credentials.get(q.get("password"))
    if user is None or password is None:
        ref = q.get("username") if user is None else q.get("password")
        return Check("questdb_pgwire", WARN, f"skipped: {Credentials.missing(ref)}", "global.questdb")
    return _reach(
        ctx,
        "questdb_pgwire",
        q["host"],
        int(q["port"]),
        bool(q.get("bundled")),
        "global.questdb",
        lambda h, p: pg_connect(h, p, q.get("database", "qmtl"), user, password, q.get("sslmode", "disable")),
    )


def postgres(ctx: Context, who: str) -> Check:
    pg = ctx.endpoints.get("postgres") or {}
    name = f"postgres_as_{who}"
    if not pg.get("available"):
        return Check(name, OK if not ctx.prod else ERROR, "no PostgreSQL configured", "global.postgres")
    db = (pg.get("databases") or {}).get(who) or {}
    password = ctx.credentials.get(db.get("secret"))
    if password is None:
        return Check(name, WARN, f"skipped: {Credentials.missing(db.get('secret'))}", "global.postgres")
    return _reach(
        ctx,
        name,
        pg["host"],
        int(pg["port"]),
        bool(pg.get("bundled")),
        "global.postgres",
        lambda h, p: pg_connect(h, p, db["database"], db["username"], password, pg.get("sslmode", "disable")),
    )


def s3(ctx: Context) -> Check:
    s = ctx.endpoints.get("s3") or {}
    if not s.get("available"):
        return Check("s3_health", OK if not ctx.prod else ERROR, "no S3/MinIO configured", "global.minio")
    endpoint = s["endpoint"]
    parts = urllib.parse.urlsplit(endpoint)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    access, secret = ctx.credentials.get(s.get("accessKey")), ctx.credentials.get(s.get("secretKey"))

    def probe(host: str, mapped_port: int) -> Outcome:
        return s3_health(
            urllib.parse.urlunsplit(parts._replace(netloc=f"{host}:{mapped_port}")), s.get("bucket", ""), access, secret
        )

    return _reach(ctx, "s3_health", parts.hostname or "", port, bool(s.get("bundled")), "global.minio", probe)


def kafka(ctx: Context) -> Check:
    if "kafka" in ctx.cache:
        return ctx.cache["kafka"]
    cb = ctx.endpoints.get("controlbus") or {}
    if not cb.get("available"):
        check = Check("kafka_metadata", OK if not ctx.prod else ERROR, "no ControlBus configured", "global.controlbus")
    else:
        brokers = list(cb.get("brokers") or [])
        first_host, first_port = _split_hostport(brokers[0])
        mapped = []
        for broker in brokers:
            host, port = _split_hostport(broker)
            addr, addr_port = ctx.resolver.map(host, port or 9092)
            mapped.append(f"{addr}:{addr_port}")
        topics = sorted((cb.get("topics") or {}).values())
        check = _reach(
            ctx,
            "kafka_metadata",
            first_host,
            first_port or 9092,
            bool(cb.get("bundled")),
            "global.controlbus",
            lambda h, p: kafka_metadata(mapped, topics),
        )
    ctx.cache["kafka"] = check
    return check


def neo4j(ctx: Context) -> Check:
    n = ctx.endpoints.get("neo4j") or {}
    if not n.get("available"):
        return Check("neo4j_bolt", OK if not ctx.prod else ERROR, "no Neo4j configured", "global.neo4j")
    password = ctx.credentials.get(n.get("secret"))
    if password is None:
        return Check("neo4j_bolt", WARN, f"skipped: {Credentials.missing(n.get('secret'))}", "global.neo4j")
    parts = urllib.parse.urlsplit(n["uri"])
    port = parts.port or 7687

    def probe(host: str, mapped_port: int) -> Outcome:
        return neo4j_connect(
            urllib.parse.urlunsplit(parts._replace(netloc=f"{host}:{mapped_port}")),
            n.get("username", "neo4j"),
            password,
        )

    return _reach(ctx, "neo4j_bolt", parts.hostname or "", port, bool(n.get("bundled")), "global.neo4j", probe)


def run(target: str, ctx: Context) -> list[Check]:
    if target == "seamless":
        return [coordinator(ctx), redis(ctx, "seamless", "seamless_coordinator"), questdb(ctx), s3(ctx)]
    if target == "gateway":
        return [redis(ctx, "gateway", "gateway"), postgres(ctx, "gateway"), kafka(ctx)]
    if target == "dagmanager":
        return [neo4j(ctx), kafka(ctx)]
    if target == "worldservice":
        return [redis(ctx, "worldservice", "worldservice"), postgres(ctx, "worldservice"), kafka(ctx)]
    return []

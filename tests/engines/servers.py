"""Real dependency servers for the engine tests, started on free loopback ports in temp dirs.

    from tests.engines import servers
    redis = servers.start_redis(acl_file="rendered/users.acl")   # or use the pytest fixtures
    redis.client("seamless-coordinator", "pw", db=3).set("seamless:x", 1)
    redis.stop()

Each start_* function returns an object with the endpoint, the credentials and small helpers, and a
stop(). Nothing is mocked: every helper talks to the real server with its real client library. A missing
engine raises pins.EngineUnavailable (fixtures skip); an engine that does not come up raises
pins.EngineStartError with its log.

Versions and paths come from pins.py (pyproject.toml [tool.qmtl-stack.engines]).
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import pathlib
import secrets
import shlex
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from . import pins
from ._proc import Process, free_port, make_workdir, remove_workdir, run, start_with_retries, wait_until
from .pins import EngineStartError, EngineUnavailable

__all__ = [
    "EngineStartError",
    "EngineUnavailable",
    "KafkaBroker",
    "KafkaPrincipal",
    "MinioServer",
    "Neo4jServer",
    "PostgresServer",
    "PsqlError",
    "QuestDBServer",
    "RedisServer",
    "start_kafka",
    "start_minio",
    "start_neo4j",
    "start_postgres",
    "start_questdb",
    "start_redis",
]

LOOPBACK = "127.0.0.1"


def _password() -> str:
    return secrets.token_hex(16)


def _redis_ping(host: str, port: int) -> bool:
    """True once redis answers anything to PING (+PONG, or -NOAUTH when `default` is off)."""
    import socket

    with socket.create_connection((host, port), timeout=1) as s:
        s.sendall(b"*1\r\n$4\r\nPING\r\n")
        return s.recv(64)[:1] in (b"+", b"-")


class _Server:
    """log() and stop() of every server here: a Process in a temp dir (`_proc`, `workdir`), or, for the
    engines that have an image backend (containers.py), a testcontainers container (`_container`)."""

    workdir: pathlib.Path | None
    _proc: Process | None
    _container: Any = None

    def log(self) -> str:
        if self._proc:
            return self._proc.log()
        if self._container is not None:
            return b"".join(self._container.get_logs()).decode(errors="replace")
        return ""

    def stop(self) -> None:
        if self._proc:
            self._proc.stop()
        if self._container is not None:
            with contextlib.suppress(Exception):
                self._container.stop()
        remove_workdir(self.workdir)


# ============================================================================================== Redis
@dataclass
class RedisServer(_Server):
    """A redis-server loaded with an ACL file (`aclfile` directive)."""

    host: str
    port: int
    version: str
    acl_path: pathlib.Path | None  # the ACL file the server loaded (a copy of the one given)
    backend: str = "local"
    admin_username: str | None = None  # only when started with admin=True
    admin_password: str | None = None
    workdir: pathlib.Path | None = None
    _proc: Process | None = field(default=None, repr=False)
    _container: Any = field(default=None, repr=False)

    def url(self, username: str | None = None, password: str | None = None, db: int = 0) -> str:
        auth = ""
        if username is not None or password is not None:
            auth = f"{quote(username or '', safe='')}:{quote(password or '', safe='')}@"
        return f"redis://{auth}{self.host}:{self.port}/{db}"

    def client(self, username: str | None = None, password: str | None = None, db: int = 0, **kwargs):
        """A redis.Redis connected as `username` (AUTH username password). Errors such as NOPERM
        surface as redis.exceptions.NoPermissionError / ResponseError on the command."""
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        kwargs.setdefault("decode_responses", True)
        kwargs.setdefault("socket_timeout", 10)
        # redis-py retries ConnectionErrors, and AuthenticationError is one: a refusal must be immediate
        kwargs.setdefault("retry", Retry(NoBackoff(), 0))
        return redis.Redis(host=self.host, port=self.port, username=username, password=password, db=db, **kwargs)

    def admin(self, db: int = 0, **kwargs):
        if not self.admin_username:
            raise RuntimeError("started without admin=True: the ACL file alone decides who can connect")
        return self.client(self.admin_username, self.admin_password, db=db, **kwargs)


def redis_config(*, port: int, bind: str, data_dir: str, acl_path: str | None, extra: Iterable[str]) -> str:
    lines = [
        f"bind {bind}",
        f"port {port}",
        "protected-mode no",  # loopback only here; containers are reached through a port mapping
        "daemonize no",
        f"dir {data_dir}",
        'save ""',
        "appendonly no",
        'logfile ""',
    ]
    if acl_path:
        lines.append(f"aclfile {acl_path}")
    lines += list(extra)
    return "\n".join(lines) + "\n"


def prepare_acl(
    acl_file: str | os.PathLike | None, acl_text: str | None, admin: bool
) -> tuple[str | None, str | None, str | None]:
    """Returns (acl text to load, admin user, admin password). With admin=True a fixture-only superuser
    line is appended to a copy of the ACL (the chart's lines are not touched)."""
    if acl_file is not None and acl_text is not None:
        raise ValueError("give acl_file or acl_text, not both")
    text = pathlib.Path(acl_file).read_text() if acl_file is not None else acl_text
    admin_user = admin_pw = None
    if admin:
        admin_user, admin_pw = "qmtl-fixture-admin", _password()
        text = (text or "user default on nopass ~* &* +@all\n").rstrip("\n") + "\n"
        text += f"user {admin_user} on >{admin_pw} ~* &* +@all\n"
    return text, admin_user, admin_pw


def start_redis(
    acl_file: str | os.PathLike | None = None,
    *,
    acl_text: str | None = None,
    config: Iterable[str] = (),
    admin: bool = False,
    timeout: float = 30,
) -> RedisServer:
    """Start redis-server. `acl_file`/`acl_text`: users loaded with the `aclfile` directive (a bad file
    makes redis refuse to start: EngineStartError carries its message). `config`: extra redis.conf lines.
    `admin`: add a fixture-only superuser (RedisServer.admin()) next to the given users."""
    binary = pins.redis_binary()
    text, admin_user, admin_pw = prepare_acl(acl_file, acl_text, admin)

    def attempt() -> RedisServer:
        port = free_port()
        workdir = make_workdir("redis")
        acl_path = None
        if text is not None:
            acl_path = workdir / "users.acl"
            acl_path.write_text(text)
        conf = workdir / "redis.conf"
        conf.write_text(
            redis_config(
                port=port,
                bind=LOOPBACK,
                data_dir=str(workdir),
                acl_path=str(acl_path) if acl_path else None,
                extra=config,
            )
        )
        proc = Process("redis", [binary.path, str(conf)], log_path=workdir / "redis.log", cwd=workdir)
        server = RedisServer(LOOPBACK, port, binary.version, acl_path, "local", admin_user, admin_pw, workdir, proc)
        wait_until(proc, lambda: _redis_ping(LOOPBACK, port), timeout=timeout, what="redis-server", workdir=workdir)
        return server

    return start_with_retries(attempt)  # type: ignore[return-value]


# ============================================================================================== PostgreSQL
class PsqlError(RuntimeError):
    def __init__(self, argv: Sequence[str], result: subprocess.CompletedProcess) -> None:
        self.returncode = result.returncode
        self.stdout = result.stdout
        self.stderr = result.stderr
        super().__init__(f"psql exited {result.returncode}: {shlex.join(argv)}\n{result.stderr.strip()}")


@dataclass
class PostgresServer(_Server):
    """A PostgreSQL cluster with password (SCRAM) authentication on TCP: a wrong password fails."""

    host: str
    port: int
    version: str
    superuser: str
    superuser_password: str
    backend: str = "local"
    workdir: pathlib.Path | None = None
    _proc: Process | None = field(default=None, repr=False)
    _container: Any = field(default=None, repr=False)
    _psql_runner: Any = field(default=None, repr=False)  # (args, env) -> CompletedProcess
    _file_arg: Any = field(default=None, repr=False)  # host path -> path psql can read

    def _creds(self, user: str | None, password: str | None) -> tuple[str, str | None]:
        if user is None:
            return self.superuser, self.superuser_password if password is None else password
        return user, password

    def conninfo(self, user: str | None = None, password: str | None = None, dbname: str = "postgres") -> str:
        from psycopg.conninfo import make_conninfo

        user, password = self._creds(user, password)
        return make_conninfo(
            host=self.host,
            port=self.port,
            user=user,
            password=password or "",
            dbname=dbname,
            connect_timeout=10,
        )

    def url(self, user: str | None = None, password: str | None = None, dbname: str = "postgres") -> str:
        user, password = self._creds(user, password)
        auth = quote(user, safe="") + (f":{quote(password, safe='')}" if password else "")
        return f"postgresql://{auth}@{self.host}:{self.port}/{dbname}"

    def connect(
        self,
        user: str | None = None,
        password: str | None = None,
        dbname: str = "postgres",
        *,
        autocommit: bool = True,
        **kwargs,
    ):
        """psycopg connection over TCP with password auth (superuser when `user` is None)."""
        import psycopg

        return psycopg.connect(self.conninfo(user, password, dbname), autocommit=autocommit, **kwargs)

    def psql(
        self,
        *args: str,
        user: str | None = None,
        password: str | None = None,
        dbname: str = "postgres",
        variables: Mapping[str, str] | None = None,
        input: str | None = None,
        check: bool = True,
    ) -> subprocess.CompletedProcess:
        """Run psql (-X, ON_ERROR_STOP=1, never prompting) as `user` over TCP; raises PsqlError on a
        non-zero exit when `check`."""
        user, password = self._creds(user, password)
        argv = ["-X", "-w", "-q", "-v", "ON_ERROR_STOP=1", "-U", user, "-d", dbname]
        for key, value in (variables or {}).items():
            argv += ["-v", f"{key}={value}"]
        argv += list(args)
        env = {"PGPASSWORD": password or "", "PGCONNECT_TIMEOUT": "10"}
        result = self._psql_runner(argv, env, input)
        if check and result.returncode != 0:
            raise PsqlError(argv, result)
        return result

    def run_sql_file(self, path: str | os.PathLike, **kwargs) -> subprocess.CompletedProcess:
        """psql -f FILE: psql meta-commands (\\gexec, \\connect, :'vars') work as in a real init job."""
        return self.psql("-f", self._file_arg(pathlib.Path(path)), **kwargs)

    def run_sql(self, sql: str, **kwargs) -> subprocess.CompletedProcess:
        return self.psql("-f", "-", input=sql, **kwargs)


def local_psql_runner(psql: str, host: str, port: int):
    def runner(argv: list[str], env: dict[str, str], input: str | None) -> subprocess.CompletedProcess:
        return run([psql, "-h", host, "-p", str(port), *argv], input=input, env={**os.environ, **env}, timeout=300)

    return runner


def start_postgres(
    *, superuser_password: str | None = None, timeout: float = 60, clients: str | None = None
) -> PostgresServer:
    """initdb a fresh cluster in a temp dir (as the `postgres` OS user when we are root: postgres refuses
    root) with SCRAM password auth for local and TCP connections, and start it on a free port. `clients`: an
    address range (CIDR) whose TCP clients may log in too (SCRAM), for a server bound to a network address
    (LOOPBACK changed) that pods reach; by default only loopback clients may."""
    bins = pins.postgres_binaries()
    osuser = pins.postgres_os_user()
    uid, gid = (osuser.pw_uid, osuser.pw_gid) if osuser else (None, None)
    password = superuser_password or _password()
    as_user: dict = {"user": uid, "group": gid, "extra_groups": []} if uid is not None else {}

    def attempt() -> PostgresServer:
        port = free_port()
        workdir = make_workdir("postgres", uid, gid)
        try:
            pwfile = workdir / "superuser.pw"
            pwfile.write_text(password + "\n")
            pwfile.chmod(0o600)
            if uid is not None:
                os.chown(pwfile, uid, gid)
            data = workdir / "data"
            init = run(
                [
                    bins.tool("initdb"),
                    "-D",
                    str(data),
                    "-U",
                    "postgres",
                    f"--pwfile={pwfile}",
                    "--auth-local=scram-sha-256",
                    "--auth-host=scram-sha-256",
                    "-E",
                    "UTF8",
                    "--locale=C",
                    "--no-sync",
                ],
                cwd=workdir,
                **as_user,
            )
            if init.returncode != 0:
                raise EngineStartError(f"initdb failed:\n{init.stdout}\n{init.stderr}")
            if clients:
                with (data / "pg_hba.conf").open("a") as hba:
                    hba.write(f"host all all {clients} scram-sha-256\n")
            settings = {
                "listen_addresses": LOOPBACK,
                "port": str(port),
                "unix_socket_directories": str(workdir),
                "fsync": "off",
                "synchronous_commit": "off",
                "full_page_writes": "off",
                "shared_buffers": "32MB",
                "max_connections": "100",
                "password_encryption": "scram-sha-256",
            }
            argv = [bins.tool("postgres"), "-D", str(data)]
            for key, value in settings.items():
                argv += ["-c", f"{key}={value}"]
            proc = Process("postgres", argv, log_path=workdir / "postgres.log", cwd=workdir, user=uid, group=gid)
        except BaseException:
            remove_workdir(workdir)
            raise
        server = PostgresServer(
            LOOPBACK,
            port,
            bins.version,
            "postgres",
            password,
            "local",
            workdir,
            proc,
            _psql_runner=local_psql_runner(bins.tool("psql"), LOOPBACK, port),
            _file_arg=str,
        )

        def ready() -> bool:
            with server.connect() as conn:
                conn.execute("SELECT 1")
            return True

        wait_until(proc, ready, timeout=timeout, what="postgres", workdir=workdir)
        return server

    return start_with_retries(attempt)  # type: ignore[return-value]


# ============================================================================================== Kafka
SCRAM = "SCRAM-SHA-256"


def _kafka_cluster_id() -> str:
    while True:  # a Kafka Uuid in its base64 form; one starting with '-' would read as a CLI option
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cid.startswith("-"):
            return cid


def _err_name(err: Any) -> str | None:
    if err is None:
        return None
    name = err.name() if hasattr(err, "name") else str(err)
    return name.lstrip("_") if name.startswith("_") else name


@dataclass
class KafkaPrincipal:
    """Acts as one principal: a SCRAM user on the EXTERNAL (SASL) listener, or `User:ANONYMOUS` on the
    INTERNAL (PLAINTEXT) listener. Every method returns None on success or the Kafka error name
    (TOPIC_AUTHORIZATION_FAILED, CLUSTER_AUTHORIZATION_FAILED, AUTHENTICATION, ...)."""

    principal: str
    config: dict
    timeout: float = 10.0

    def _conf(self, **extra) -> tuple[dict, list]:
        errors: list = []
        conf = {
            **self.config,
            "socket.timeout.ms": int(self.timeout * 1000),
            "error_cb": errors.append,
            **extra,
        }
        return conf, errors

    def _auth_error(self, errors: list, client: Any = None) -> str | None:
        if client is not None:
            client.poll(0.1)  # error_cb is served by poll()
        for err in errors:
            if "AUTHENTICATION" in err.name() or "authentication" in err.str().lower():
                return "AUTHENTICATION"
        return None

    def _metadata(self, topic: str | None = None) -> tuple[Any, str | None]:
        """(ClusterMetadata, None) or (None, error name); gives up at once when authentication fails."""
        from confluent_kafka import KafkaException
        from confluent_kafka.admin import AdminClient

        conf, errors = self._conf()
        client = AdminClient(conf)
        deadline = time.monotonic() + self.timeout
        error: str | None = "TIMED_OUT"
        while time.monotonic() < deadline:
            try:
                return client.list_topics(topic=topic, timeout=1.0), None
            except KafkaException as exc:
                error = self._auth_error(errors, client)
                if error:
                    return None, error
                error = _err_name(exc.args[0])
        return None, error

    def topic_error(self, topic: str) -> str | None:
        """Metadata for `topic` as this principal (needs DESCRIBE on it)."""
        md, error = self._metadata(topic)
        if error:
            return error
        t = md.topics.get(topic)
        return _err_name(t.error) if t is not None else "UNKNOWN_TOPIC_OR_PART"

    def can_describe(self, topic: str) -> bool:
        return self.topic_error(topic) is None

    def produce(self, topic: str, value: bytes = b"qmtl-engine-test", key: bytes | None = None) -> str | None:
        from confluent_kafka import Producer

        conf, errors = self._conf(**{"message.timeout.ms": int(self.timeout * 1000), "acks": "all"})
        results: list = []
        producer = Producer(conf)
        producer.produce(topic, value=value, key=key, on_delivery=lambda err, _msg: results.append(err))
        producer.flush(self.timeout + 5)
        if not results:
            return self._auth_error(errors, producer) or "TIMED_OUT"
        return _err_name(results[0]) or None

    def consume(self, topic: str, group: str | None = None, timeout: float | None = None) -> tuple[list, str | None]:
        """Read what is in `topic` from the start as consumer group `group` (READ on the topic and the
        group). Returns (values, error name or None)."""
        from confluent_kafka import Consumer

        conf, errors = self._conf(
            **{
                "group.id": group or f"qmtl-engines-{secrets.token_hex(4)}",
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
            }
        )
        consumer = Consumer(conf)
        values: list = []
        deadline = time.monotonic() + (timeout or self.timeout)
        try:
            consumer.subscribe([topic])
            while time.monotonic() < deadline:
                msg = consumer.poll(0.5)
                if msg is None:
                    if values:
                        break
                    continue
                if msg.error():
                    name = _err_name(msg.error())
                    if name == "PARTITION_EOF":
                        continue
                    return values, name
                values.append(msg.value())
            return values, self._auth_error(errors, None)
        finally:
            consumer.close()

    def create_topic(self, topic: str, partitions: int = 1, replication_factor: int = 1) -> str | None:
        from confluent_kafka import KafkaException
        from confluent_kafka.admin import AdminClient, NewTopic

        conf, errors = self._conf()
        client = AdminClient(conf)  # keep a reference: a collected client fails its futures with _DESTROY
        futures = client.create_topics([NewTopic(topic, partitions, replication_factor)], request_timeout=self.timeout)
        try:
            futures[topic].result(self.timeout + 5)
        except KafkaException as exc:
            return self._auth_error(errors, client) or _err_name(exc.args[0])
        return None

    def delete_topic(self, topic: str) -> str | None:
        from confluent_kafka import KafkaException
        from confluent_kafka.admin import AdminClient

        conf, errors = self._conf()
        client = AdminClient(conf)
        futures = client.delete_topics([topic], request_timeout=self.timeout)
        try:
            futures[topic].result(self.timeout + 5)
        except KafkaException as exc:
            return self._auth_error(errors, client) or _err_name(exc.args[0])
        return None

    def authenticates(self) -> bool:
        """True when the listener accepts these credentials (a cluster metadata call succeeds)."""
        return self._metadata()[1] is None


def _enum(enum_cls: Any, value: Any, aliases: Mapping[str, str] | None = None) -> Any:
    """Enum member by a forgiving name: 'describe_configs', 'DescribeConfigs', 'describe-configs' and
    rpk's 'clusteraction' all work."""
    if isinstance(value, enum_cls):
        return value
    key = str(value).replace("-", "").replace("_", "").upper()
    key = (aliases or {}).get(key, key)
    for member in enum_cls:
        if member.name.replace("_", "") == key:
            return member
    raise ValueError(f"{value!r} is not one of {[m.name.lower() for m in enum_cls]}")


def acl_binding(spec: Mapping[str, Any] | Any) -> list:
    """AclBinding(s) from a dict: {principal, resource_type (topic|group|cluster|transactional_id),
    name, pattern (literal|prefixed), operations (list or one; 'all'), permission (allow|deny), host}."""
    from confluent_kafka.admin import AclBinding, AclOperation, AclPermissionType, ResourcePatternType, ResourceType

    if isinstance(spec, AclBinding):
        return [spec]
    rtype = _enum(ResourceType, spec.get("resource_type", "topic"), {"CLUSTER": "BROKER"})
    name = spec.get("name") or ("kafka-cluster" if rtype == ResourceType.BROKER else None)
    if name is None:
        raise ValueError(f"ACL without a resource name: {spec!r}")
    pattern = _enum(ResourcePatternType, spec.get("pattern", "literal"))
    ops = spec.get("operations", spec.get("operation", "all"))
    ops = [ops] if isinstance(ops, str) else list(ops)
    permission = _enum(AclPermissionType, spec.get("permission", "allow"))
    return [
        AclBinding(rtype, name, pattern, spec["principal"], spec.get("host", "*"), _enum(AclOperation, op), permission)
        for op in ops
    ]


def _every_acl_of(principal: str | None):
    """An ACL filter that matches every ACL (of `principal`, or of everyone)."""
    from confluent_kafka.admin import (
        AclBindingFilter,
        AclOperation,
        AclPermissionType,
        ResourcePatternType,
        ResourceType,
    )

    return AclBindingFilter(
        ResourceType.ANY, None, ResourcePatternType.ANY, principal, None, AclOperation.ANY, AclPermissionType.ANY
    )


@dataclass
class KafkaBroker(_Server):
    """One KRaft node (broker+controller) with two client listeners, as the chart's Redpanda is meant:

    - INTERNAL (`internal_bootstrap`): PLAINTEXT, no authentication: clients are `User:ANONYMOUS`
      (QMTL's clients have no SASL).
    - EXTERNAL (`external_bootstrap`): SASL_PLAINTEXT with SCRAM-SHA-256 users.
    - StandardAuthorizer, super.users=User:admin, allow.everyone.if.no.acl.found=false: any principal,
      ANONYMOUS included, is denied everything until an ACL allows it.
    The controller listener uses SASL/PLAIN as `admin`, so ANONYMOUS never needs to be a super user.
    """

    internal_bootstrap: str
    external_bootstrap: str
    controller_port: int
    admin_user: str
    admin_password: str
    version: str
    sasl_mechanism: str = SCRAM
    workdir: pathlib.Path | None = None
    _proc: Process | None = field(default=None, repr=False)
    _admin: Any = field(default=None, repr=False)

    # ----------------------------------------------------------------------------- clients and principals
    def client_config(self, user: str | None = None, password: str | None = None) -> dict:
        """confluent-kafka config: SASL/SCRAM on EXTERNAL for `user`, or PLAINTEXT on INTERNAL (anonymous)
        when `user` is None."""
        if user is None:
            return {"bootstrap.servers": self.internal_bootstrap}
        return {
            "bootstrap.servers": self.external_bootstrap,
            "security.protocol": "SASL_PLAINTEXT",
            "sasl.mechanism": self.sasl_mechanism,
            "sasl.username": user,
            "sasl.password": password or "",
        }

    def as_user(self, user: str, password: str, timeout: float = 10.0) -> KafkaPrincipal:
        return KafkaPrincipal(f"User:{user}", self.client_config(user, password), timeout)

    def as_anonymous(self, timeout: float = 10.0) -> KafkaPrincipal:
        return KafkaPrincipal("User:ANONYMOUS", self.client_config(), timeout)

    def as_admin(self, timeout: float = 10.0) -> KafkaPrincipal:
        return self.as_user(self.admin_user, self.admin_password, timeout)

    def admin(self):
        """AdminClient as the super user (on EXTERNAL)."""
        from confluent_kafka.admin import AdminClient

        if self._admin is None:
            self._admin = AdminClient(self.client_config(self.admin_user, self.admin_password))
        return self._admin

    # ----------------------------------------------------------------------------- provisioning helpers
    def create_scram_user(self, name: str, password: str, iterations: int = 4096, wait: bool = True) -> None:
        from confluent_kafka.admin import ScramCredentialInfo, ScramMechanism, UserScramCredentialUpsertion

        mech = ScramMechanism[self.sasl_mechanism.replace("-", "_")]
        alteration = UserScramCredentialUpsertion(name, ScramCredentialInfo(mech, iterations), password.encode())
        for fut in self.admin().alter_user_scram_credentials([alteration]).values():
            fut.result(30)
        if wait:
            _poll(lambda: self.as_user(name, password, timeout=5).authenticates(), f"SCRAM user {name}")

    def delete_scram_user(self, name: str) -> None:
        from confluent_kafka.admin import ScramMechanism, UserScramCredentialDeletion

        mech = ScramMechanism[self.sasl_mechanism.replace("-", "_")]
        for fut in self.admin().alter_user_scram_credentials([UserScramCredentialDeletion(name, mech)]).values():
            fut.result(30)

    def create_topics(
        self,
        topics: Iterable[str | Mapping[str, Any]],
        *,
        partitions: int = 1,
        replication_factor: int = 1,
        config: Mapping[str, str] | None = None,
        exist_ok: bool = True,
    ) -> None:
        """Create topics (names, or dicts {name, partitions, replication_factor, config}) and wait until
        the broker serves their metadata."""
        from confluent_kafka import KafkaException
        from confluent_kafka.admin import NewTopic

        new = []
        for t in topics:
            spec = {"name": t} if isinstance(t, str) else dict(t)
            new.append(
                NewTopic(
                    spec["name"],
                    int(spec.get("partitions", partitions)),
                    int(spec.get("replication_factor", replication_factor)),
                    config={k: str(v) for k, v in (spec.get("config") or config or {}).items()},
                )
            )
        if not new:
            return
        for name, fut in self.admin().create_topics(new, request_timeout=30).items():
            try:
                fut.result(35)
            except KafkaException as exc:
                if not (exist_ok and _err_name(exc.args[0]) == "TOPIC_ALREADY_EXISTS"):
                    raise
            _poll(lambda n=name: self.as_admin().topic_error(n) is None, f"topic {name}")

    def topic_config(self, topic: str) -> dict[str, str]:
        from confluent_kafka.admin import ConfigResource, ResourceType

        res = ConfigResource(ResourceType.TOPIC, topic)
        entries = self.admin().describe_configs([res])[res].result(30)
        return {k: v.value for k, v in entries.items()}

    def create_acls(self, acls: Iterable[Mapping[str, Any] | Any], wait: bool = True) -> list:
        """Create ACLs (dicts, see acl_binding(), or AclBinding) and wait until the broker enforces them."""
        bindings = [b for spec in acls for b in acl_binding(spec)]
        if not bindings:
            return []
        for fut in self.admin().create_acls(bindings, request_timeout=30).values():
            fut.result(35)
        if wait:
            _poll(lambda: set(bindings) <= set(self.describe_acls()), f"{len(bindings)} ACL(s)")
        return bindings

    def describe_acls(self, principal: str | None = None) -> list:
        flt = _every_acl_of(principal)
        return list(self.admin().describe_acls(flt, request_timeout=30).result(35))

    def delete_acls(self, principal: str | None = None) -> int:
        """Delete every ACL (of `principal`, or all); returns how many."""
        flt = _every_acl_of(principal)
        deleted = 0
        for fut in self.admin().delete_acls([flt], request_timeout=30).values():
            deleted += len(fut.result(35))
        _poll(lambda: not self.describe_acls(principal), "ACL deletion")
        return deleted

    def apply_plan(self, plan: Mapping[str, Any]) -> None:
        """Apply a provisioning plan: {"users": [{name, password}], "topics": [name | {name, partitions,
        replication_factor, config}], "acls": [acl dicts]}, in that order (idempotent)."""
        for user in plan.get("users", ()):
            self.create_scram_user(user["name"], user["password"])
        self.create_topics(plan.get("topics", ()))
        self.create_acls(plan.get("acls", ()))

    def run_tool(self, main_class: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        """Run a Kafka CLI tool class as the super user, e.g.
        run_tool("org.apache.kafka.tools.AclCommand", "--list"). --bootstrap-server and
        --command-config are added."""
        assert self.workdir is not None
        props = self.workdir / "admin-client.properties"
        if not props.exists():
            props.write_text(
                "security.protocol=SASL_PLAINTEXT\n"
                f"sasl.mechanism={self.sasl_mechanism}\n"
                "sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required "
                f'username="{self.admin_user}" password="{self.admin_password}";\n'
            )
        return run(
            [
                pins.java("kafka"),
                "-cp",
                pins.kafka_classpath(),
                main_class,
                "--bootstrap-server",
                self.external_bootstrap,
                "--command-config",
                str(props),
                *args,
            ],
            timeout=timeout,
        )

    def stop(self) -> None:
        self._admin = None
        super().stop()


def _poll(check, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception as exc:
            last = exc
        time.sleep(0.2)
    raise TimeoutError(f"{what} not in effect after {timeout:.0f}s (last error: {last!r})")


JVM_FAST_START = ["-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Xshare:auto", "-Djava.awt.headless=true"]


def kafka_properties(
    *, node_id: int, internal: int, external: int, controller: int, data: pathlib.Path, admin: str, password: str
) -> str:
    jaas_scram = (
        f'org.apache.kafka.common.security.scram.ScramLoginModule required username="{admin}" password="{password}";'
    )
    jaas_plain = (
        "org.apache.kafka.common.security.plain.PlainLoginModule required "
        f'username="{admin}" password="{password}" user_{admin}="{password}";'
    )
    props = {
        "process.roles": "broker,controller",
        "node.id": str(node_id),
        "controller.quorum.voters": f"{node_id}@{LOOPBACK}:{controller}",
        "listeners": f"INTERNAL://{LOOPBACK}:{internal},EXTERNAL://{LOOPBACK}:{external},"
        f"CONTROLLER://{LOOPBACK}:{controller}",
        "advertised.listeners": f"INTERNAL://{LOOPBACK}:{internal},EXTERNAL://{LOOPBACK}:{external}",
        "listener.security.protocol.map": "INTERNAL:PLAINTEXT,EXTERNAL:SASL_PLAINTEXT,CONTROLLER:SASL_PLAINTEXT",
        "controller.listener.names": "CONTROLLER",
        # broker-to-broker traffic authenticates as the super user over SCRAM (bootstrapped at format)
        "inter.broker.listener.name": "EXTERNAL",
        "sasl.mechanism.inter.broker.protocol": SCRAM,
        "listener.name.external.sasl.enabled.mechanisms": SCRAM,
        f"listener.name.external.{SCRAM.lower()}.sasl.jaas.config": jaas_scram,
        # controller traffic authenticates as the super user over PLAIN (SCRAM is not for controllers)
        "sasl.mechanism.controller.protocol": "PLAIN",
        "listener.name.controller.sasl.enabled.mechanisms": "PLAIN",
        "listener.name.controller.plain.sasl.jaas.config": jaas_plain,
        "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        "super.users": f"User:{admin}",
        "allow.everyone.if.no.acl.found": "false",
        "log.dirs": str(data),
        "num.partitions": "1",
        "auto.create.topics.enable": "false",
        "offsets.topic.replication.factor": "1",
        "offsets.topic.num.partitions": "1",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "transaction.state.log.num.partitions": "1",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        "group.initial.rebalance.delay.ms": "0",
        "log.segment.bytes": str(16 * 1024 * 1024),
    }
    return "".join(f"{k}={v}\n" for k, v in props.items())


def start_kafka(*, admin_password: str | None = None, timeout: float = 120) -> KafkaBroker:
    """Format a KRaft log dir (kafka.tools.StorageTool, with the admin SCRAM credential) and start
    kafka.Kafka from the Maven Central jars."""
    pins.require_python_module("kafka", "confluent_kafka", "confluent-kafka")
    classpath = pins.kafka_classpath()
    java = pins.java("kafka")
    version = pins.pins()["kafka"]
    admin, password = "admin", admin_password or _password()

    def attempt() -> KafkaBroker:
        internal, external, controller = free_port(), free_port(), free_port()
        workdir = make_workdir("kafka")
        try:
            data = workdir / "data"
            props = workdir / "server.properties"
            props.write_text(
                kafka_properties(
                    node_id=1,
                    internal=internal,
                    external=external,
                    controller=controller,
                    data=data,
                    admin=admin,
                    password=password,
                )
            )
            fmt = run(
                [
                    java,
                    *JVM_FAST_START,
                    "-cp",
                    classpath,
                    "kafka.tools.StorageTool",
                    "format",
                    "-t",
                    _kafka_cluster_id(),
                    "-c",
                    str(props),
                    "--add-scram",
                    f"{SCRAM}=[name={admin},password={password}]",
                ],
                timeout=120,
            )
            if fmt.returncode != 0:
                raise EngineStartError(f"kafka-storage format failed:\n{fmt.stdout[-3000:]}\n{fmt.stderr[-3000:]}")
            proc = Process(
                "kafka",
                [java, "-Xms256m", "-Xmx768m", *JVM_FAST_START, "-cp", classpath, "kafka.Kafka", str(props)],
                log_path=workdir / "kafka.log",
                cwd=workdir,
            )
        except BaseException:
            remove_workdir(workdir)
            raise
        broker = KafkaBroker(
            f"{LOOPBACK}:{internal}",
            f"{LOOPBACK}:{external}",
            controller,
            admin,
            password,
            version,
            workdir=workdir,
            _proc=proc,
        )
        wait_until(
            proc,
            lambda: broker.as_admin(timeout=3).authenticates(),
            timeout=timeout,
            what="kafka",
            interval=0.5,
            workdir=workdir,
        )
        return broker

    return start_with_retries(attempt)  # type: ignore[return-value]


# ============================================================================================== QuestDB
@dataclass
class QuestDBServer(_Server):
    host: str
    pg_port: int
    http_port: int
    health_port: int  # min-HTTP server: any path answers 200 when healthy (the chart's readiness port)
    pg_user: str
    pg_password: str
    version: str
    workdir: pathlib.Path | None = None
    _proc: Process | None = field(default=None, repr=False)

    def dsn(self, user: str | None = None, password: str | None = None, dbname: str = "qdb") -> str:
        user = user or self.pg_user
        password = self.pg_password if password is None else password
        return f"postgresql://{quote(user, safe='')}:{quote(password, safe='')}@{self.host}:{self.pg_port}/{dbname}"

    def connect(self, user: str | None = None, password: str | None = None, *, autocommit: bool = True, **kw):
        """psycopg connection on the PG wire port as `user` (default: the configured pg.user)."""
        import psycopg

        return psycopg.connect(self.dsn(user, password), autocommit=autocommit, connect_timeout=10, **kw)

    def healthy(self) -> bool:
        with urllib.request.urlopen(f"http://{self.host}:{self.health_port}/", timeout=2) as resp:
            return resp.status == 200


def questdb_command(workdir: pathlib.Path) -> list[str]:
    """The QuestDB server process, its data (and conf/server.conf) in `workdir`; EngineUnavailable when
    QuestDB or its Java is not installed."""
    jar, java = pins.questdb_jar(), pins.java("questdb")
    return [java, "-Xms128m", "-Xmx512m", "-p", str(jar), "-m", "io.questdb/io.questdb.ServerMain", "-d", str(workdir)]


def start_questdb(
    pg_user: str = "admin",
    pg_password: str | None = None,
    *,
    config: Mapping[str, str] | None = None,
    timeout: float = 90,
) -> QuestDBServer:
    """Start io.questdb.ServerMain with server.conf `pg.user`/`pg.password` (the coordinator's PG-wire
    credentials) on free ports; the read-only PG user is off. `config`: extra server.conf keys."""
    questdb_command(pathlib.Path())  # EngineUnavailable before any set-up when QuestDB is not installed
    version = pins.pins()["questdb"]
    password = pg_password if pg_password is not None else _password()

    def attempt() -> QuestDBServer:
        http, health, pg, ilp = free_port(), free_port(), free_port(), free_port()
        workdir = make_workdir("questdb")
        (workdir / "conf").mkdir()
        conf = {
            "http.bind.to": f"{LOOPBACK}:{http}",
            "http.min.net.bind.to": f"{LOOPBACK}:{health}",
            "pg.net.bind.to": f"{LOOPBACK}:{pg}",
            "line.tcp.net.bind.to": f"{LOOPBACK}:{ilp}",
            "line.udp.enabled": "false",
            "pg.user": pg_user,
            "pg.password": password,
            "pg.readonly.user.enabled": "false",
            "telemetry.enabled": "false",
            "shared.worker.count": "1",
            **(config or {}),
        }
        (workdir / "conf" / "server.conf").write_text("".join(f"{k}={v}\n" for k, v in conf.items()))
        proc = Process(
            "questdb",
            questdb_command(workdir),
            log_path=workdir / "questdb.log",
            cwd=workdir,
        )
        server = QuestDBServer(LOOPBACK, pg, http, health, pg_user, password, version, workdir, proc)

        def ready() -> bool:
            if not server.healthy():
                return False
            with server.connect() as c:
                c.execute("SELECT 1")
            return True

        wait_until(proc, ready, timeout=timeout, what="questdb", interval=0.25, workdir=workdir)
        return server

    return start_with_retries(attempt)  # type: ignore[return-value]


# ============================================================================================== MinIO
@dataclass
class MinioServer(_Server):
    host: str
    port: int
    root_user: str
    root_password: str
    version: str
    mc_path: str | None = None  # the built mc client, when it built
    region: str = "us-east-1"
    workdir: pathlib.Path | None = None
    _proc: Process | None = field(default=None, repr=False)

    @property
    def endpoint(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.endpoint}"

    def client(self, access_key: str | None = None, secret_key: str | None = None):
        """minio.Minio S3 client as `access_key` (root when None). The region is fixed so that the client
        never needs s3:GetBucketLocation, which a prefix-scoped policy does not grant."""
        from minio import Minio

        return Minio(
            endpoint=self.endpoint,
            access_key=access_key or self.root_user,
            secret_key=secret_key if access_key else self.root_password,
            secure=False,
            region=self.region,
        )

    def admin(self):
        from minio.credentials import StaticProvider
        from minio.minioadmin import MinioAdmin

        return MinioAdmin(
            endpoint=self.endpoint, credentials=StaticProvider(self.root_user, self.root_password), secure=False
        )

    def make_bucket(self, name: str) -> None:
        c = self.client()
        if not c.bucket_exists(name):
            c.make_bucket(name)

    def add_policy(self, name: str, policy: Mapping | str | os.PathLike) -> None:
        """Create/replace a canned policy from a dict, JSON text or a JSON file."""
        if isinstance(policy, Mapping):
            doc = dict(policy)
        elif isinstance(policy, str) and policy.lstrip().startswith("{"):
            doc = json.loads(policy)
        else:
            doc = json.loads(pathlib.Path(policy).read_text())
        self.admin().policy_add(name, policy=doc)

    def add_user(self, access_key: str, secret_key: str, policies: Sequence[str] = ()) -> None:
        from minio.error import MinioAdminException

        admin = self.admin()
        admin.user_add(access_key, secret_key)
        if policies:
            try:
                admin.attach_policy(list(policies), user=access_key)
            except MinioAdminException as exc:  # attaching twice is an error in MinIO: keep idempotent
                if "AlreadyApplied" not in str(exc):
                    raise

    def mc_env(self, alias: str = "local") -> dict[str, str]:
        """Environment for running `mc` (or a rendered shell script that calls it): mc on PATH, its own
        config dir, and MC_HOST_<alias> pointing at this server as root."""
        if not self.mc_path:
            raise EngineUnavailable(f"mc is not available: {pins.INSTALL} mc")
        assert self.workdir is not None
        creds = f"{quote(self.root_user, safe='')}:{quote(self.root_password, safe='')}"
        return {
            **os.environ,
            "PATH": f"{pathlib.Path(self.mc_path).parent}:{os.environ.get('PATH', '')}",
            "MC_CONFIG_DIR": str(self.workdir / "mc"),
            f"MC_HOST_{alias}": f"http://{creds}@{self.endpoint}",
        }

    def mc(self, *args: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess:
        """Run the mc client with alias `local` pointing at this server as root, e.g.
        mc("admin", "policy", "create", "local", "p", "policy.json")."""
        env = self.mc_env()
        result = run([self.mc_path, "--no-color", *args], env=env, timeout=timeout)
        if check and result.returncode != 0:
            raise RuntimeError(f"mc {shlex.join(args)} exited {result.returncode}:\n{result.stdout}{result.stderr}")
        return result


def start_minio(*, root_user: str = "minio-root", root_password: str | None = None, timeout: float = 60) -> MinioServer:
    pins.require_python_module("minio", "minio", "minio")
    binary = pins.go_binary("minio")
    try:
        mc_path: str | None = pins.go_binary("mc")
    except EngineUnavailable:
        mc_path = None
    password = root_password or _password()

    def attempt() -> MinioServer:
        port, console = free_port(), free_port()
        workdir = make_workdir("minio")
        (workdir / "data").mkdir()
        env = {
            "MINIO_ROOT_USER": root_user,
            "MINIO_ROOT_PASSWORD": password,
            "MINIO_BROWSER": "off",
            "MINIO_UPDATE": "off",
            "MINIO_CI_CD": "1",
        }
        proc = Process(
            "minio",
            [
                binary,
                "server",
                str(workdir / "data"),
                "--address",
                f"{LOOPBACK}:{port}",
                "--console-address",
                f"{LOOPBACK}:{console}",
                "--quiet",
            ],
            log_path=workdir / "minio.log",
            cwd=workdir,
            env=env,
        )
        server = MinioServer(
            LOOPBACK, port, root_user, password, pins.pins()["minio"], mc_path, workdir=workdir, _proc=proc
        )

        def ready() -> bool:
            with urllib.request.urlopen(f"{server.url}/minio/health/live", timeout=2) as resp:
                if resp.status != 200:
                    return False
            server.client().list_buckets()  # IAM is up: root credentials are accepted
            return True

        wait_until(proc, ready, timeout=timeout, what="minio", interval=0.2, workdir=workdir)
        return server

    return start_with_retries(attempt)  # type: ignore[return-value]


# ============================================================================================== Neo4j
@dataclass
class Neo4jServer(_Server):
    host: str
    bolt_port: int
    http_port: int
    user: str
    password: str
    version: str
    workdir: pathlib.Path | None = None
    _proc: Process | None = field(default=None, repr=False)

    @property
    def bolt_uri(self) -> str:
        return f"bolt://{self.host}:{self.bolt_port}"

    def driver(self, user: str | None = None, password: str | None = None):
        from neo4j import GraphDatabase

        auth = (user or self.user, self.password if password is None else password)
        return GraphDatabase.driver(self.bolt_uri, auth=auth)

    def log(self) -> str:
        if self.workdir and (self.workdir / "logs" / "neo4j.log").exists():
            return (self.workdir / "logs" / "neo4j.log").read_text(errors="replace")[-6000:]
        return super().log()


def start_neo4j(*, password: str | None = None, timeout: float = 180) -> Neo4jServer:
    """Neo4j Community (Maven Central jars) with auth on: `neo4j-admin dbms set-initial-password`, then
    the server with bolt (and HTTP) on free loopback ports."""
    pins.require_python_module("neo4j", "neo4j", "neo4j")
    classpath = pins.neo4j_classpath()
    java = pins.java("neo4j")
    version = pins.pins()["neo4j"]
    password = password or _password()
    if len(password) < 8:
        raise ValueError("Neo4j refuses passwords shorter than 8 characters")

    def attempt() -> Neo4jServer:
        bolt, http = free_port(), free_port()
        home = make_workdir("neo4j")
        conf_dir = home / "conf"
        conf_dir.mkdir()
        conf = {
            "server.default_listen_address": LOOPBACK,
            "server.default_advertised_address": LOOPBACK,
            "server.bolt.enabled": "true",
            "server.bolt.listen_address": f"{LOOPBACK}:{bolt}",
            "server.bolt.advertised_address": f"{LOOPBACK}:{bolt}",
            "server.http.enabled": "true",
            "server.http.listen_address": f"{LOOPBACK}:{http}",
            "server.http.advertised_address": f"{LOOPBACK}:{http}",
            "server.https.enabled": "false",
            "dbms.security.auth_enabled": "true",
            "server.memory.heap.initial_size": "256m",
            "server.memory.heap.max_size": "512m",
            "server.memory.pagecache.size": "64m",
            "dbms.usage_report.enabled": "false",
            "db.tx_log.rotation.retention_policy": "1 files",
        }
        (conf_dir / "neo4j.conf").write_text("".join(f"{k}={v}\n" for k, v in conf.items()))
        env = {**os.environ, "NEO4J_HOME": str(home), "NEO4J_CONF": str(conf_dir)}
        try:
            setpw = run(
                [
                    java,
                    *JVM_FAST_START,
                    "-cp",
                    classpath,
                    "org.neo4j.cli.AdminTool",
                    "dbms",
                    "set-initial-password",
                    password,
                ],
                env=env,
                cwd=home,
            )
            if setpw.returncode != 0:
                raise EngineStartError(f"neo4j-admin set-initial-password failed:\n{setpw.stdout}\n{setpw.stderr}")
            proc = Process(
                "neo4j",
                [
                    java,
                    "-Xms256m",
                    "-Xmx512m",
                    "-XX:+UseSerialGC",
                    "-Djava.awt.headless=true",
                    "-cp",
                    classpath,
                    "Neo4jCommunity",
                    f"--home-dir={home}",
                    f"--config-dir={conf_dir}",
                ],
                log_path=home / "console.log",
                cwd=home,
                env={"NEO4J_HOME": str(home), "NEO4J_CONF": str(conf_dir)},
            )
        except BaseException:
            remove_workdir(home)
            raise
        server = Neo4jServer(LOOPBACK, bolt, http, "neo4j", password, version, home, proc)

        def ready() -> bool:
            with server.driver() as d:
                d.verify_connectivity()
            return True

        wait_until(proc, ready, timeout=timeout, what="neo4j", interval=0.5, workdir=home)
        return server

    return start_with_retries(attempt)  # type: ignore[return-value]

"""The lease rules, kept in Redis: any number of replicas may serve the same keys.

Keys (all under `seamless:`, the only pattern the coordinator's Redis ACL user may touch):

    seamless:token         INCR counter: every lease takes a value of its own, so tokens are unique across the
                           service and increase with every grant on a key (WATCH orders the grants of a key):
                           fencing tokens.
    seamless:held:<key>    the token of the lease that holds <key> now, with a server-side expiry
                           (SET ... PX lease_ms): Redis' clock alone decides when a lease has expired.
    seamless:lease:<key>   hash of the key's last lease (token, state held|completed|failed, holder, reason),
                           kept LEASE_RECORD_TTL_S after its last change: it tells a stale token (409) from a
                           key never seen (404) once the lease itself has expired.
    seamless:active        sorted set key -> expected expiry (ms), only for the active-leases gauge.

Every change is an optimistic transaction (WATCH, read, MULTI ... EXEC) and is retried when another client
changed the watched key in between; no Lua (the ACL forbids scripting) and no key listing. A claim or a
release costs two round trips: WATCH and the reads are pipelined in one, MULTI ... EXEC is the other.

Connections: redis-py's asyncio Connection (handshake, AUTH, SELECT, TLS), pooled here with nothing between
an operation and its socket (the profile showed redis-py's pool and per-command timeouts costing more than
the commands): each operation holds one connection and is bounded as a whole by `timeout_s`. A pooled
connection found dead on its first round trip (Redis restarted) is replaced and the operation starts over:
a first round trip only watches, reads and may burn a token.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Literal, TypeVar

from redis.asyncio.connection import Connection, parse_url
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, ResponseError
from redis.retry import Retry

T = TypeVar("T")

PREFIX = "seamless:"
TOKEN_KEY = PREFIX + "token"
ACTIVE_KEY = PREFIX + "active"
HELD = PREFIX + "held:"
RECORD = PREFIX + "lease:"
MAX_ATTEMPTS = 16  # optimistic retries before a request gives up with 503

Release = Literal["done", "stale", "unknown"]


class StoreUnavailable(Exception):
    """Redis did not answer, refused a command, or the key stayed too contended (503, try again). Nothing
    changed, unless Redis went away while committing: then a claim may have been granted unseen, and holds
    the key until it expires."""


@dataclasses.dataclass(frozen=True)
class Granted:
    key: str
    token: int
    lease_until_ms: int


@dataclasses.dataclass(frozen=True)
class Refused:
    lease_until_ms: int  # when the lease that holds the key expires (Redis' clock); -1 if unknown


@dataclasses.dataclass(frozen=True)
class LeaseView:
    """What /v1/leases/inspect shows. state: held, expired, completed or failed."""

    key: str
    state: str
    token: int
    holder: str
    lease_until_ms: int | None
    reason: str | None


class LeaseStore:
    def __init__(
        self,
        dsn: str,
        *,
        username: str | None = None,
        password: str | None = None,
        coordinator_id: str = "",
        record_ttl_s: int = 604800,
        max_connections: int = 256,
        timeout_s: float = 2.0,
        on_retry=None,
    ) -> None:
        options = parse_url(dsn)
        if username:
            options["username"] = username
        if password:
            options["password"] = password
        self._connection_class = options.pop("connection_class", Connection)
        # No per-command socket timeout: each operation as a whole is bounded by `timeout_s` (_op).
        self._options = {
            **options,
            "socket_timeout": None,
            "socket_connect_timeout": timeout_s,
            "retry": Retry(NoBackoff(), 0),  # this module decides what may be retried
        }
        self._idle: list[Connection] = []
        self._slots = asyncio.Semaphore(max_connections)
        self._timeout_s = timeout_s
        self._holder = coordinator_id.encode()
        self._record_ttl_ms = record_ttl_s * 1000
        self._on_retry = on_retry or (lambda op: None)

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        for conn in idle:
            await conn.disconnect()

    # ------------------------------------------------------------------------------------------- lease rules
    async def claim(self, key: str, lease_ms: int) -> Granted | Refused:
        return await self._op(self._claim, key, lease_ms)

    async def _claim(self, s: _Session, key: str, lease_ms: int) -> Granted | Refused:
        held, record = HELD + key, RECORD + key
        for _ in range(MAX_ATTEMPTS):
            _, current, until, token = await s.run(
                ("WATCH", held), ("GET", held), ("PEXPIRETIME", held), ("INCR", TOKEN_KEY)
            )
            if current is not None:
                await s.run(("UNWATCH",))
                return Refused(int(until))
            now_ms = int(time.time() * 1000)
            result = await s.transaction(
                ("SET", held, token, "PX", lease_ms),
                ("HSET", record, "token", token, "state", "held", "holder", self._holder, "reason", ""),
                ("PEXPIRE", record, self._record_ttl_ms),
                ("ZADD", ACTIVE_KEY, now_ms + lease_ms, key),
                ("PEXPIRETIME", held),
            )
            if result is not None:
                return Granted(key, int(token), int(result[-1]))
            self._on_retry("claim")
        raise StoreUnavailable(f"key {key!r} changed {MAX_ATTEMPTS} times while claiming it; try again")

    async def release(self, key: str, token: int, state: Literal["completed", "failed"], reason: str = "") -> Release:
        """End the lease `token` holds on `key` (complete or fail): 'done', 'stale' (another token, or the
        lease has expired: nothing changes) or 'unknown' (no record of the key)."""
        return await self._op(self._release, key, token, state, reason)

    async def _release(self, s: _Session, key: str, token: int, state: str, reason: str) -> Release:
        held, record = HELD + key, RECORD + key
        for _ in range(MAX_ATTEMPTS):
            _, current, known = await s.run(("WATCH", held), ("GET", held), ("EXISTS", record))
            if current is None or int(current) != token:
                await s.run(("UNWATCH",))
                return "stale" if known or current is not None else "unknown"
            result = await s.transaction(
                ("DEL", held),
                ("HSET", record, "state", state, "reason", reason),
                ("PEXPIRE", record, self._record_ttl_ms),
                ("ZREM", ACTIVE_KEY, key),
            )
            if result is not None:
                return "done"
            self._on_retry(state)
        raise StoreUnavailable(f"key {key!r} changed {MAX_ATTEMPTS} times while releasing it; try again")

    async def inspect(self, key: str) -> LeaseView | None:
        async def snapshot(s: _Session):
            return await s.transaction(("HGETALL", RECORD + key), ("GET", HELD + key), ("PEXPIRETIME", HELD + key))

        fields, current, until = await self._op(snapshot)
        if not fields and current is None:
            return None
        if not isinstance(fields, dict):  # RESP2 answers a flat list, RESP3 a map
            fields = dict(zip(fields[::2], fields[1::2], strict=True))
        record = {name.decode(): value.decode() for name, value in fields.items()}
        state = record.get("state", "held")
        if current is not None:
            state, token = "held", int(current)
        else:
            token = int(record.get("token", 0))
            if state == "held":
                state = "expired"
        return LeaseView(
            key=key,
            state=state,
            token=token,
            holder=record.get("holder", ""),
            lease_until_ms=int(until) if current is not None and int(until) > 0 else None,
            reason=record.get("reason") or None,
        )

    # ------------------------------------------------------------------------------------------- upkeep
    async def ping(self) -> None:
        async def ping(s: _Session):
            await s.run(("PING",))

        await self._op(ping)

    async def active_leases(self) -> int:
        """Leases granted and neither released nor past their expected expiry (the service's clock)."""

        async def count(s: _Session):
            now_ms = int(time.time() * 1000)
            return await s.run(("ZREMRANGEBYSCORE", ACTIVE_KEY, "-inf", now_ms), ("ZCARD", ACTIVE_KEY))

        return int((await self._op(count))[1])

    # ------------------------------------------------------------------------------------------- connections
    async def _op(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        """fn(session, *args) on one connection, within `timeout_s`. Any failure drops the connection (it may be
        in a WATCH or MULTI state) and surfaces as StoreUnavailable; a pooled connection found dead before its
        first reply is replaced once, and fn starts over."""
        try:
            async with asyncio.timeout(self._timeout_s):
                for fresh in (False, True):
                    async with self._slots:
                        conn = self._idle.pop() if self._idle and not fresh else self._new_connection()
                        session = _Session(conn)
                        try:
                            result = await fn(session, *args)
                        except BaseException as exc:
                            await conn.disconnect()
                            if isinstance(exc, _Stale) and not fresh:
                                continue
                            raise
                        self._idle.append(conn)
                        return result
                raise AssertionError("unreachable")
        except _Stale as exc:
            raise StoreUnavailable(f"redis: {exc.__cause__}") from exc
        except (RedisError, OSError, TimeoutError) as exc:
            raise StoreUnavailable(f"redis: {exc or type(exc).__name__}") from exc

    def _new_connection(self) -> Connection:
        return self._connection_class(**self._options)


class _Stale(Exception):
    """The connection failed before its first reply: nothing was done, the operation may start over."""


class _Session:
    """One operation's connection: round trips of pipelined commands."""

    __slots__ = ("conn", "replies")

    def __init__(self, conn: Connection) -> None:
        self.conn, self.replies = conn, 0

    async def run(self, *commands: Sequence[Any]) -> list[Any]:
        """Send the commands in one write, read every reply (one round trip)."""
        try:
            await self.conn.send_packed_command(_pack(commands), check_health=False)
            replies = [await self.conn.read_response() for _ in commands]
        except (RedisConnectionError, ConnectionError) as exc:
            if self.replies == 0:
                raise _Stale(str(exc)) from exc
            raise
        self.replies += len(replies)
        return replies

    async def transaction(self, *commands: Sequence[Any]) -> list[Any] | None:
        """MULTI, the commands, EXEC in one round trip: their replies, or None when a WATCHed key changed."""
        replies = await self.run(("MULTI",), *commands, ("EXEC",))
        result = replies[-1]
        if result is None:
            return None
        for reply in result:
            if isinstance(reply, ResponseError):
                raise reply
        return result


def _pack(commands: Sequence[Sequence[Any]]) -> bytes:
    """RESP arrays of bulk strings; arguments are bytes, str or int (what this module sends)."""
    out = []
    for command in commands:
        out.append(b"*%d\r\n" % len(command))
        for arg in command:
            data = arg if isinstance(arg, bytes) else str(arg).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)

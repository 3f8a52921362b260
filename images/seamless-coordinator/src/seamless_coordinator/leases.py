"""The lease rules, kept in Redis: any number of replicas may serve the same keys.

Keys (all under `seamless:`, the only pattern the coordinator's Redis ACL user may touch):

    seamless:token         INCR counter: every granted lease takes the next value, so tokens are fencing
                           tokens, strictly increasing across the whole service.
    seamless:held:<key>    the token of the lease that holds <key> now, with a server-side expiry
                           (SET ... PX lease_ms): Redis' clock alone decides when a lease has expired.
    seamless:lease:<key>   hash of the key's last lease (token, state held|completed|failed, holder, reason),
                           kept LEASE_RECORD_TTL_S after its last change: it tells a stale token (409) from a
                           key never seen (404) once the lease itself has expired.
    seamless:active        sorted set key -> expected expiry (ms), only for the active-leases gauge.

Every change is an optimistic transaction (WATCH, read, MULTI ... EXEC) and is retried when another client
changed the watched key in between; no Lua (the ACL forbids scripting) and no key listing. A claim or a
release costs two round trips: WATCH and the reads are pipelined in one, MULTI ... EXEC is the other.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any, Literal

from redis.asyncio.connection import BlockingConnectionPool, parse_url
from redis.backoff import NoBackoff
from redis.exceptions import RedisError, ResponseError
from redis.retry import Retry

PREFIX = "seamless:"
TOKEN_KEY = PREFIX + "token"
ACTIVE_KEY = PREFIX + "active"
HELD = PREFIX + "held:"
RECORD = PREFIX + "lease:"
MAX_ATTEMPTS = 16  # optimistic retries before a request gives up with 503

Release = Literal["done", "stale", "unknown"]


class StoreUnavailable(Exception):
    """Redis did not answer, refused a command, or the key stayed too contended: nothing is known to have
    changed (503)."""


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
        # No per-command socket timeout: each operation as a whole is bounded by `timeout_s` (_connection).
        self._pool = BlockingConnectionPool(
            max_connections=max_connections,
            timeout=timeout_s,
            socket_timeout=None,
            socket_connect_timeout=timeout_s,
            retry=Retry(NoBackoff(), 0),  # this module decides what may be retried
            **options,
        )
        self._timeout_s = timeout_s
        self._holder = coordinator_id.encode()
        self._record_ttl_ms = record_ttl_s * 1000
        self._on_retry = on_retry or (lambda op: None)

    async def close(self) -> None:
        await self._pool.disconnect()

    # ------------------------------------------------------------------------------------------- lease rules
    async def claim(self, key: str, lease_ms: int) -> Granted | Refused:
        held, record = HELD + key, RECORD + key
        async with self._connection() as conn:
            for _ in range(MAX_ATTEMPTS):
                _, current, until, token = await _run(
                    conn, ("WATCH", held), ("GET", held), ("PEXPIRETIME", held), ("INCR", TOKEN_KEY)
                )
                if current is not None:
                    await _run(conn, ("UNWATCH",))
                    return Refused(int(until))
                now_ms = int(time.time() * 1000)
                result = await _transaction(
                    conn,
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
        held, record = HELD + key, RECORD + key
        async with self._connection() as conn:
            for _ in range(MAX_ATTEMPTS):
                _, current, known = await _run(conn, ("WATCH", held), ("GET", held), ("EXISTS", record))
                if current is None or int(current) != token:
                    await _run(conn, ("UNWATCH",))
                    return "stale" if known or current is not None else "unknown"
                result = await _transaction(
                    conn,
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
        async with self._connection() as conn:
            fields, current, until = await _transaction(
                conn, ("HGETALL", RECORD + key), ("GET", HELD + key), ("PEXPIRETIME", HELD + key)
            )
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
        async with self._connection() as conn:
            await _run(conn, ("PING",))

    async def active_leases(self) -> int:
        """Leases granted and neither released nor past their expected expiry (the service's clock)."""
        now_ms = int(time.time() * 1000)
        async with self._connection() as conn:
            _, count = await _run(conn, ("ZREMRANGEBYSCORE", ACTIVE_KEY, "-inf", now_ms), ("ZCARD", ACTIVE_KEY))
        return int(count)

    @contextlib.asynccontextmanager
    async def _connection(self) -> AsyncIterator[Any]:
        """A pooled connection for one operation, which must end within `timeout_s`. Any failure drops the
        connection (it may still be in a WATCH or MULTI state) and surfaces as StoreUnavailable."""
        conn = None
        try:
            async with asyncio.timeout(self._timeout_s):
                conn = await self._pool.get_connection()
                yield conn
        except (RedisError, OSError, TimeoutError) as exc:
            if conn is not None:
                await conn.disconnect()
            raise StoreUnavailable(f"redis: {exc or type(exc).__name__}") from exc
        except BaseException:
            if conn is not None:
                await conn.disconnect()
            raise
        finally:
            if conn is not None:
                await self._pool.release(conn)


async def _run(conn: Any, *commands: Sequence[Any]) -> list[Any]:
    """Send the commands in one write, read every reply (one round trip)."""
    await conn.send_packed_command(_pack(commands), check_health=False)
    return [await conn.read_response() for _ in commands]


def _pack(commands: Sequence[Sequence[Any]]) -> bytes:
    """RESP arrays of bulk strings; arguments are bytes, str or int (what this module sends)."""
    out = []
    for command in commands:
        out.append(b"*%d\r\n" % len(command))
        for arg in command:
            data = arg if isinstance(arg, bytes) else str(arg).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


async def _transaction(conn: Any, *commands: Sequence[Any]) -> list[Any] | None:
    """MULTI, the commands, EXEC in one round trip: their replies, or None when a WATCHed key changed."""
    replies = await _run(conn, ("MULTI",), *commands, ("EXEC",))
    result = replies[-1]
    if result is None:
        return None
    for reply in result:
        if isinstance(reply, ResponseError):
            raise reply
    return result

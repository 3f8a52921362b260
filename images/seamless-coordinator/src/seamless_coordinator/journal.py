"""Backfill metadata in QuestDB, always off the request path.

Every granted, completed and failed lease becomes a row of `seamless_lease_events` (QuestDB, PG wire, the
coordinator's own credentials). Requests only put the row on a bounded in-memory queue; a background task
writes batches, and keeps them while QuestDB is down (when the queue is full, new rows are dropped and
counted). The same task reads the completed ranges back, from every replica, into an in-memory coverage
map: `completion_ratio` of a lease key is the share of its range [batch_start, batch_end) that completed
leases of the same series (node, interval, world, as-of) already cover. It is answered only once QuestDB
has been read at least once ("where known"); a QuestDB outage never slows or fails a claim.
"""

from __future__ import annotations

import asyncio
import bisect
import collections
import contextlib
import dataclasses
import datetime as dt
import functools
import logging
import re

import psycopg

log = logging.getLogger("seamless_coordinator.journal")

TABLE = "seamless_lease_events"
CREATE_TABLE = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    ts TIMESTAMP,
    event SYMBOL,
    lease_key VARCHAR,
    node_id VARCHAR,
    bar_interval LONG,
    batch_start LONG,
    batch_end LONG,
    world VARCHAR,
    as_of VARCHAR,
    token LONG,
    reason VARCHAR,
    coordinator_id SYMBOL
) TIMESTAMP(ts) PARTITION BY DAY WAL
"""
COLUMNS = (
    "ts, event, lease_key, node_id, bar_interval, batch_start, batch_end, world, as_of, token, reason, coordinator_id"
)
INSERT = f"INSERT INTO {TABLE} ({COLUMNS}) VALUES ({', '.join(['%s'] * len(COLUMNS.split(',')))})"
QUEUE_SIZE = 10_000  # rows waiting for QuestDB; more are dropped (counted)
BATCH_ROWS = 128  # rows per write: the event loop is never held long (the CPU of a write runs on it)
FLUSH_S = 0.5  # a batch waits this long for more rows (measured: 2-row batches cost 6x the CPU per row of 200)
REFRESH_S = 5.0  # how often the coverage map reads new completions (also the longest a batch waits)
PAGE_ROWS = 20_000  # completed ranges per page of the first load
LAG_S = 3.0  # other replicas' completions are re-read this far back (their clocks, WAL apply lag); more is read again
RETRY_S = (0.5, 1, 2, 5, 10)  # reconnect back-off
STATEMENT_TIMEOUT_S = 30.0  # a QuestDB that stops answering is dropped and reconnected

# QMTL's lease key: node_id:interval:batch_start:batch_end:world:requested_as_of. A node id has colons of its
# own (blake3:<hex>, and a hex part may be all digits) and an as-of may have several, so the three numbers anchor
# the parse, tried from the rightmost colon leftwards: the longest node id that leaves a valid range wins.
KEY_TAIL = re.compile(r":(?P<interval>\d+):(?P<start>-?\d+):(?P<end>-?\d+):(?P<world>[^:]*):(?P<as_of>.*)$", re.S)


@dataclasses.dataclass(frozen=True)
class KeyParts:
    node_id: str
    interval: int
    start: int
    end: int
    world: str
    as_of: str

    @property
    def series(self) -> tuple[str, int, str, str]:
        return (self.node_id, self.interval, self.world, self.as_of)


@functools.lru_cache(maxsize=4096)  # a key is parsed for its claim, its complete and their ratios
def parse_key(key: str) -> KeyParts | None:
    colon = len(key)
    while (colon := key.rfind(":", 0, colon)) > 0:
        m = KEY_TAIL.match(key, colon)
        if not m:
            continue
        start, end = int(m["start"]), int(m["end"])
        if start < end and max(abs(start), abs(end)) < 2**63:
            return KeyParts(key[:colon], int(m["interval"]), start, end, m["world"], m["as_of"])
    return None


class IntervalSet:
    """Disjoint half-open ranges [start, end), merged on insert."""

    def __init__(self) -> None:
        self._starts: list[int] = []
        self._ends: list[int] = []

    def add(self, start: int, end: int) -> None:
        i = bisect.bisect_left(self._ends, start)  # first range ending at or after `start` (touching merges)
        j = bisect.bisect_right(self._starts, end)  # ranges starting at or before `end`
        if i < j:
            start, end = min(start, self._starts[i]), max(end, self._ends[j - 1])
        self._starts[i:j] = [start]
        self._ends[i:j] = [end]

    def covered(self, start: int, end: int) -> int:
        total, i = 0, bisect.bisect_right(self._ends, start)
        while i < len(self._starts) and self._starts[i] < end:
            total += min(end, self._ends[i]) - max(start, self._starts[i])
            i += 1
        return total

    def __len__(self) -> int:
        return len(self._starts)


class Journal:
    def __init__(self, dsn: str, *, user: str | None, password: str | None, coordinator_id: str, metrics) -> None:
        self._dsn, self._user, self._password = dsn, user, password
        self._coordinator_id = coordinator_id
        self._metrics = metrics
        self._queue: collections.deque[tuple] = collections.deque()  # rows for QuestDB, at most QUEUE_SIZE
        self._waiting = asyncio.Event()  # set when rows are queued
        self._pending: list[tuple] = []  # a batch taken off the queue, not yet written
        self._coverage: dict[tuple, IntervalSet] = {}
        self._loaded = False  # coverage has been read from QuestDB at least once
        self._since: dt.datetime | None = None  # the next refresh reads completions from then on
        self._task: asyncio.Task | None = None
        self.up = False

    # ------------------------------------------------------------------------------- request path (no I/O)
    def record(self, event: str, key: str, token: int, reason: str | None = None) -> None:
        parts = parse_key(key)
        row = (
            dt.datetime.now(dt.UTC),
            event,
            key,
            parts.node_id if parts else None,
            parts.interval if parts else None,
            parts.start if parts else None,
            parts.end if parts else None,
            parts.world if parts else None,
            parts.as_of if parts else None,
            token,
            reason,
            self._coordinator_id,
        )
        if event == "completed" and parts:
            self._cover(parts.series, parts.start, parts.end)
        if len(self._queue) >= QUEUE_SIZE:
            self._metrics.journal_dropped.inc()
            return
        self._queue.append(row)
        if not self._waiting.is_set():
            self._waiting.set()

    def completion_ratio(self, key: str) -> float | None:
        parts = parse_key(key)
        if parts is None or not self._loaded:
            return None
        ranges = self._coverage.get(parts.series)
        covered = ranges.covered(parts.start, parts.end) if ranges else 0
        return round(covered / (parts.end - parts.start), 6)

    def _cover(self, series: tuple, start: int, end: int) -> None:
        self._coverage.setdefault(series, IntervalSet()).add(start, end)

    # ------------------------------------------------------------------------------- background task
    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="questdb-journal")

    async def stop(self, flush_timeout_s: float = 5.0) -> None:
        """Write what is queued (up to `flush_timeout_s`), then stop."""
        if self._task is None:
            return
        deadline = asyncio.get_running_loop().time() + flush_timeout_s
        while self.up and (self._pending or self._queue):
            if asyncio.get_running_loop().time() > deadline:
                break
            await asyncio.sleep(0.05)
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        left = len(self._pending) + len(self._queue)
        if left:
            log.warning("questdb journal: %d rows not written at shutdown", left)

    async def _run(self) -> None:
        failures = 0
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    self._dsn, user=self._user, password=self._password, autocommit=True, connect_timeout=5
                ) as conn:
                    async with asyncio.timeout(STATEMENT_TIMEOUT_S):
                        await conn.execute(CREATE_TABLE)
                        await self._refresh(conn)
                    self._set_up(True)
                    failures = 0
                    await self._serve(conn)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._set_up(False)
                self._metrics.store_errors.labels(store="questdb").inc()
                delay = RETRY_S[min(failures, len(RETRY_S) - 1)]
                failures += 1
                log.warning("questdb journal: %s: %s (retrying in %ss)", type(exc).__name__, exc, delay)
                await asyncio.sleep(delay)

    async def _serve(self, conn) -> None:
        loop = asyncio.get_running_loop()
        next_refresh = loop.time() + REFRESH_S
        while True:
            if not self._pending:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._waiting.wait(), max(0.0, next_refresh - loop.time()))
                if 0 < len(self._queue) < BATCH_ROWS:
                    await asyncio.sleep(FLUSH_S)  # let a batch gather: fewer, larger writes
                self._waiting.clear()
                while self._queue and len(self._pending) < BATCH_ROWS:
                    self._pending.append(self._queue.popleft())
                if self._queue:
                    self._waiting.set()
            if self._pending:
                try:
                    async with asyncio.timeout(STATEMENT_TIMEOUT_S):
                        await self._write(conn, self._pending)
                except (psycopg.OperationalError, psycopg.InterfaceError):
                    raise  # the connection: reconnect, and write this batch again (rows are at least once)
                except psycopg.Error as exc:  # QuestDB refuses these rows: retrying would never end
                    log.error("questdb journal: %d rows refused, dropped: %s", len(self._pending), exc)
                    self._metrics.journal_dropped.inc(len(self._pending))
                else:
                    self._metrics.journal_written.inc(len(self._pending))
                self._pending = []
                self._metrics.journal_queue.set(len(self._queue))
            if loop.time() >= next_refresh:
                async with asyncio.timeout(STATEMENT_TIMEOUT_S):
                    await self._refresh(conn)
                next_refresh = loop.time() + REFRESH_S

    async def _write(self, conn, rows: list[tuple]) -> None:
        """One single-row INSERT, executed for every row in one pipeline (psycopg's executemany): its parse is
        cached; measured, a multi-row INSERT (one statement per batch length) cost 3-4x more CPU per row."""
        async with conn.cursor() as cursor:
            await cursor.executemany(INSERT, rows)

    async def _refresh(self, conn) -> None:
        """Merge completed ranges into the coverage map: all of them once (in pages, so a long history is never
        in memory at once), then other replicas' recent ones (their event times, within LAG_S of this
        replica's clock: the window tolerates clock skew and QuestDB's WAL apply lag; re-reading is harmless,
        a merge is idempotent)."""
        started = dt.datetime.now(dt.UTC)
        select = (
            f"SELECT ts, node_id, bar_interval, world, as_of, batch_start, batch_end FROM {TABLE} "
            "WHERE event = 'completed' AND batch_start IS NOT NULL"
        )
        if self._since is None:
            since = None
            while True:
                query = select + (" AND ts >= %s" if since else "") + f" ORDER BY ts LIMIT {PAGE_ROWS}"
                rows = await (await conn.execute(query, [since] if since else [])).fetchall()
                self._merge(rows)
                if len(rows) < PAGE_ROWS or rows[-1][0] == since:
                    break
                since = rows[-1][0]
                await asyncio.sleep(0)
        else:
            cursor = await conn.execute(
                select + " AND coordinator_id != %s AND ts >= %s", [self._coordinator_id, self._since]
            )
            while rows := await cursor.fetchmany(500):
                self._merge(rows)
                await asyncio.sleep(0)  # a large read never holds the event loop for long
        self._since = started - dt.timedelta(seconds=LAG_S)
        self._loaded = True

    def _merge(self, rows: list[tuple]) -> None:
        for _ts, node, interval, world, as_of, start, end in rows:
            self._cover((node, interval, world or "", as_of or ""), start, end)

    def _set_up(self, up: bool) -> None:
        if up != self.up:
            log.info("questdb journal: %s", "connected" if up else "unavailable")
        self.up = up
        self._metrics.store_up.labels(store="questdb").set(1 if up else 0)

"""The coordinator's metadata in QuestDB (its own rendered credentials, tables seamless_*), written off the
request path: every lease event becomes a row; completion_ratio comes from the completed ranges, across
replicas; a QuestDB that hangs or is gone never slows or fails a claim, and nothing queued is lost."""

from __future__ import annotations

import signal
import statistics
import time
import uuid

import pytest

from . import stack as stk

pytestmark = pytest.mark.engines
TABLE = "seamless_lease_events"


def _series() -> str:
    return f"blake3:{uuid.uuid4().hex[:12]}"


def _rows(questdb, where: str, params: tuple) -> list[tuple]:
    r = stk.rendered()
    try:
        with questdb.connect(r.questdb_user, r.questdb_password) as conn:
            return conn.execute(
                f"SELECT event, lease_key, node_id, bar_interval, batch_start, batch_end, world, token, reason, "
                f"coordinator_id FROM {TABLE} WHERE {where} ORDER BY ts",
                params,
            ).fetchall()
    except Exception as exc:  # the table may not exist yet
        if "does not exist" in str(exc):
            return []
        raise


def test_every_lease_event_is_a_row(stack, questdb) -> None:
    a, b = stack.replicas
    node = _series()
    key = f"{node}:60:1000:2000:w1:2026-01-01T00:00:00Z"
    token = a.client.post("/v1/leases/claim", {"key": key, "lease_ms": 60_000})[1]["lease"]["token"]
    assert b.client.post("/v1/leases/fail", {"key": key, "token": token, "reason": "disk full"})[0] == 200
    token2 = b.client.post("/v1/leases/claim", {"key": key, "lease_ms": 60_000})[1]["lease"]["token"]
    assert a.client.post("/v1/leases/complete", {"key": key, "token": token2})[0] == 200
    stk.wait_for(lambda: len(_rows(questdb, "node_id = %s", (node,))) == 4, 90, 0.5, "4 rows")
    rows = _rows(questdb, "node_id = %s", (node,))
    events = [(r[0], r[7], r[9]) for r in rows]
    assert events == [
        ("claimed", int(token), "seamless-coordinator-r0"),
        ("failed", int(token), "seamless-coordinator-r1"),
        ("claimed", int(token2), "seamless-coordinator-r1"),
        ("completed", int(token2), "seamless-coordinator-r0"),
    ]
    # the key is parsed the way QMTL builds it: node_id:interval:start:end:world:as_of (node ids have a colon)
    assert rows[0][1:7] == (key, node, 60, 1000, 2000, "w1")
    assert rows[1][8] == "disk full"


def test_completion_ratio_comes_from_completed_ranges_of_every_replica(stack) -> None:
    a, b = stack.replicas
    node = _series()

    def cycle(replica, start: int, end: int) -> dict:
        key = f"{node}:60:{start}:{end}:w1:"
        status, answer = replica.client.post("/v1/leases/claim", {"key": key, "lease_ms": 60_000})
        assert status == 200, answer
        done = replica.client.post("/v1/leases/complete", {"key": key, "token": answer["lease"]["token"]})
        assert done[0] == 200, done
        return answer

    first = cycle(a, 0, 100)
    assert first["completion_ratio"] == 0.0
    cycle(a, 200, 300)
    # replica B never saw these completions: it learns them from QuestDB
    probe = f"{node}:60:50:250:w1:"
    status, answer = b.client.post("/v1/leases/claim", {"key": probe, "lease_ms": 60_000})
    assert status == 200, answer

    def ratio_on_b():
        return b.client.post("/v1/leases/inspect", {"key": probe})[1].get("completion_ratio") == 0.5

    stk.wait_for(ratio_on_b, 90, 0.5, "replica B's completion_ratio from QuestDB")
    # other series (another world, another interval) are not counted
    other = b.client.post("/v1/leases/claim", {"key": f"{node}:300:0:100:w1:", "lease_ms": 60_000})[1]
    assert other["completion_ratio"] == 0.0
    # a completed range answers 1.0 on complete, on the replica that completed it
    done = b.client.post("/v1/leases/complete", {"key": probe, "token": answer["lease"]["token"]})[1]
    assert done["completion_ratio"] == 1.0


def test_questdb_hung_never_slows_or_fails_a_claim_and_loses_nothing(questdb_server) -> None:
    r = stk.rendered()
    # a QuestDB of its own (another config, so the session's shared one is not touched)
    questdb = questdb_server(r.questdb_user, r.questdb_password, config={"pg.select.cache.enabled": "false"})
    redis = stk.start_redis()
    stack = stk.Stack.start(redis, questdb, replicas=1)
    try:
        replica = stack.replicas[0]
        node = _series()

        def cycles(count: int, offset: int) -> list[float]:
            took = []
            for i in range(offset, offset + count):
                key = f"{node}:60:{i * 10}:{i * 10 + 10}:w:"
                started = time.monotonic()
                status, answer = replica.client.post("/v1/leases/claim", {"key": key, "lease_ms": 60_000})
                assert status == 200, answer
                token = answer["lease"]["token"]
                assert replica.client.post("/v1/leases/complete", {"key": key, "token": token})[0] == 200
                took.append(time.monotonic() - started)
            return took

        normal = cycles(50, 0)
        # generous waits: QuestDB applies its write-ahead log in the background, slowly on a loaded machine
        stk.wait_for(lambda: len(_rows(questdb, "node_id = %s", (node,))) == 100, 120, 0.5, "rows before")
        questdb._proc.popen.send_signal(signal.SIGSTOP)
        try:
            hung = cycles(100, 50)
            assert replica.healthy(), "QuestDB must not decide the coordinator's health"
        finally:
            questdb._proc.popen.send_signal(signal.SIGCONT)
        assert max(hung) < 0.5, f"a claim+complete took {max(hung):.3f} s while QuestDB hung"
        assert statistics.median(hung) < max(0.05, 5 * statistics.median(normal))
        # nothing queued while QuestDB hung is lost
        stk.wait_for(lambda: len(_rows(questdb, "node_id = %s", (node,))) == 300, 120, 0.5, "rows after the hang")
        with questdb.connect(r.questdb_user, r.questdb_password) as conn:
            tables = [row[0] for row in conn.execute("SELECT table_name FROM tables()").fetchall()]
        assert tables == [TABLE], f"the coordinator keeps only seamless_ tables: {tables}"
    finally:
        stack.stop()
        redis.stop()


def test_questdb_gone_never_fails_a_claim() -> None:
    from tests.engines._proc import free_port

    redis = stk.start_redis()
    closed = free_port()  # nothing listens there
    stack = stk.Stack.start(
        redis, None, replicas=1, extra_env={"QUESTDB_DSN": f"postgresql://127.0.0.1:{closed}/qmtl?sslmode=disable"}
    )
    try:
        replica = stack.replicas[0]
        code, health = replica.health()
        assert (code, health["questdb"]) == (200, "unavailable")
        for i in range(20):
            key = f"{_series()}:60:{i}:{i + 1}:w:"
            status, answer = replica.client.post("/v1/leases/claim", {"key": key, "lease_ms": 60_000})
            assert status == 200, answer
            assert "completion_ratio" not in answer, "unknown while QuestDB was never read"
    finally:
        stack.stop()
        redis.stop()


def test_the_journal_keeps_up_with_a_burst(stack, questdb) -> None:
    """4,000 rows in a few seconds: the writer has written them all a few seconds later and dropped none."""
    import asyncio

    from prometheus_client.parser import text_string_to_metric_families

    from .api_client import AsyncClient

    node, replica = _series(), stack.replicas[0]

    def sample(name: str) -> float:
        for family in text_string_to_metric_families(replica.metrics()):
            for s in family.samples:
                if s.name == name:
                    return s.value
        raise AssertionError(name)

    written_before = sample("seamless_coordinator_journal_written_rows_total")

    async def burst() -> None:
        async def client(i: int) -> None:
            async with AsyncClient("127.0.0.1", replica.port) as c:
                for n in range(125):
                    key = f"{node}:60:{(i * 125 + n) * 10}:{(i * 125 + n) * 10 + 10}:w:"
                    _, answer = await c.post("/v1/leases/claim", {"key": key, "lease_ms": 60_000})
                    await c.post("/v1/leases/complete", {"key": key, "token": answer["lease"]["token"]})

        await asyncio.gather(*(client(i) for i in range(16)))

    asyncio.run(burst())
    done_at = time.monotonic()
    stk.wait_for(
        lambda: sample("seamless_coordinator_journal_written_rows_total") - written_before >= 4000,
        30,
        0.2,
        "4000 rows written",
    )
    assert time.monotonic() - done_at < 8, "the writer fell behind the requests"
    assert sample("seamless_coordinator_journal_dropped_rows_total") == 0
    stk.wait_for(lambda: len(_rows(questdb, "node_id = %s", (node,))) == 4000, 60, 1, "4000 rows in QuestDB")

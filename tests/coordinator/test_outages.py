"""Redis going away and coming back, a hung Redis, and a graceful stop: /healthz follows Redis (503 while it
does not answer, 200 again without restarting the coordinator), requests fail fast with 503 and change
nothing, SIGTERM lets requests in flight finish."""

from __future__ import annotations

import asyncio
import signal
import time
import uuid

import pytest
from prometheus_client.parser import text_string_to_metric_families

from . import stack as stk
from .api_client import AsyncClient

pytestmark = pytest.mark.engines


@pytest.fixture
def own_stack(questdb):
    redis = stk.start_redis()
    stack = stk.Stack.start(redis, questdb, replicas=2)
    yield stack
    stack.stop()
    redis.stop()


def _key() -> str:
    return f"blake3:{uuid.uuid4().hex[:10]}:60:0:100:w:"


def _metric(text: str, name: str, **labels: str) -> float:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return sample.value
    raise AssertionError(f"no sample {name}{labels} in the metrics")


def test_redis_stopped_gives_503_and_back_gives_200_without_restart(own_stack) -> None:
    a, b = own_stack.replicas
    pids = [a.proc.pid, b.proc.pid]
    status, answer = a.client.post("/v1/leases/claim", {"key": _key(), "lease_ms": 60_000})
    assert status == 200, answer

    stk.stop_redis(own_stack.redis)
    for replica in (a, b):
        stk.wait_for(lambda r=replica: r.health()[0] == 503, 10, what=f"{replica.name} /healthz 503")
        _code, body = replica.health()
        assert body["status"] == "unavailable"
        assert replica.client.get("/livez")[0] == 200, "alive without Redis: the kubelet must not restart it"
        started = time.monotonic()
        status, answer = replica.client.post("/v1/leases/claim", {"key": _key(), "lease_ms": 60_000})
        assert status == 503, answer
        assert answer["error"] == "store_unavailable"
        assert time.monotonic() - started < 5, "a request must fail fast while Redis is down"
    assert _metric(a.metrics(), "seamless_coordinator_store_up", store="redis") == 0
    assert _metric(a.metrics(), "seamless_coordinator_store_errors_total", store="redis") >= 1
    assert _metric(a.metrics(), "seamless_coordinator_requests_total", endpoint="claim", outcome="unavailable") >= 1

    stk.restart_redis(own_stack.redis)
    for replica in (a, b):
        stk.wait_for(replica.healthy, 15, what=f"{replica.name} /healthz 200 after Redis came back")
        status, answer = replica.client.post("/v1/leases/claim", {"key": _key(), "lease_ms": 60_000})
        assert status == 200, answer
    assert [a.proc.pid, b.proc.pid] == pids, "the coordinator was restarted"
    assert a.alive()
    assert b.alive()
    assert _metric(a.metrics(), "seamless_coordinator_store_up", store="redis") == 1


def test_hung_redis_gives_503_within_the_timeout(own_stack) -> None:
    a = own_stack.replicas[0]
    stk.signal_redis(own_stack.redis, signal.SIGSTOP)
    try:
        started = time.monotonic()
        status, answer = a.client.post("/v1/leases/claim", {"key": _key(), "lease_ms": 60_000})
        took = time.monotonic() - started
        assert status == 503, answer
        assert took < 4, f"a hung Redis held the request {took:.1f} s"
        assert a.health()[0] == 503
    finally:
        stk.signal_redis(own_stack.redis, signal.SIGCONT)
    stk.wait_for(a.healthy, 15, what="/healthz 200 after Redis resumed")
    status, answer = a.client.post("/v1/leases/claim", {"key": _key(), "lease_ms": 60_000})
    assert status == 200, answer


def test_sigterm_finishes_requests_in_flight_and_exits_cleanly(own_stack) -> None:
    victim = own_stack.replicas[0]
    results: list[int] = []

    async def client_loop(stop: asyncio.Event) -> None:
        async with AsyncClient("127.0.0.1", victim.port) as c:
            while not stop.is_set():
                try:
                    status, _ = await c.post("/v1/leases/claim", {"key": _key(), "lease_ms": 60_000})
                except (ConnectionError, OSError):
                    return  # the server closed the connection between requests: nothing was lost
                results.append(status)

    async def main() -> None:
        stop = asyncio.Event()
        tasks = [asyncio.create_task(client_loop(stop)) for _ in range(16)]
        await asyncio.sleep(0.5)
        victim.signal(signal.SIGTERM)
        await asyncio.sleep(0.5)
        stop.set()
        await asyncio.gather(*tasks)

    asyncio.run(main())
    # uvicorn re-raises the captured SIGTERM once it has shut down cleanly: exit 0 or "killed by SIGTERM"
    assert victim.proc.popen.wait(15) in (0, -signal.SIGTERM), victim.log()
    assert results
    assert set(results) == {200}, sorted(set(results))
    log = victim.log()
    assert "Application shutdown complete" in log, log
    assert "Finished server process" in log, log
    assert "Traceback" not in log, log
    assert own_stack.replicas[1].healthy()


def test_metrics_count_requests_by_outcome(own_stack) -> None:
    a = own_stack.replicas[0]
    key = _key()
    status, answer = a.client.post("/v1/leases/claim", {"key": key, "lease_ms": 60_000})
    assert status == 200
    assert a.client.post("/v1/leases/claim", {"key": key, "lease_ms": 60_000})[0] == 409
    assert a.client.post("/v1/leases/claim", {"key": key})[0] == 422
    text = a.metrics()
    assert _metric(text, "seamless_coordinator_requests_total", endpoint="claim", outcome="granted") >= 1
    assert _metric(text, "seamless_coordinator_requests_total", endpoint="claim", outcome="held") >= 1
    assert _metric(text, "seamless_coordinator_requests_total", endpoint="claim", outcome="invalid") >= 1
    assert _metric(text, "seamless_coordinator_request_seconds_count", endpoint="claim") >= 3
    # the gauge counts leases of every replica (from Redis), refreshed every few seconds
    stk.wait_for(
        lambda: _metric(own_stack.replicas[1].metrics(), "seamless_coordinator_active_leases") >= 1,
        10,
        what="active_leases gauge",
    )
    assert a.client.post("/v1/leases/complete", {"key": key, "token": answer["lease"]["token"]})[0] == 200
    stk.wait_for(
        lambda: _metric(a.metrics(), "seamless_coordinator_active_leases") == 0, 10, what="active_leases back to 0"
    )

"""Contention and crashes: many claimers on the same keys through two replicas.

Each claimer loops: claim; when granted, it checks that no other claimer holds that key, marks itself the
holder, holds a moment, unmarks, then completes (which must succeed). Unmarking before completing keeps the
check sound: the server can grant the key again only after the complete. Grants are observed one at a time
per key, so their tokens must strictly increase.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from dataclasses import dataclass, field

import pytest

from . import stack as stk
from .api_client import AsyncClient

pytestmark = pytest.mark.engines


@dataclass
class Ledger:
    holders: dict[str, int | None] = field(default_factory=dict)
    grants: dict[str, list[int]] = field(default_factory=dict)
    refused: int = 0
    unavailable: int = 0
    lost: list[str] = field(default_factory=list)  # leases a client held that could not be completed
    failovers: int = 0
    unknown_claims: int = 0  # claims whose replica died before answering (granted or not: unknowable)
    completed_unacknowledged: int = 0  # completes the killed replica applied but could not answer

    def granted(self, key: str, token: int) -> None:
        assert self.holders.get(key) is None, f"two holders of {key}: {self.holders[key]} and {token}"
        self.holders[key] = token
        self.grants.setdefault(key, []).append(token)

    def released(self, key: str) -> None:
        self.holders[key] = None


async def claimer(ports: list[int], keys: list[str], ledger: Ledger, stop_at: float, lease_ms: int, seed: int) -> None:
    rng = random.Random(seed)
    clients = [AsyncClient("127.0.0.1", p, timeout=5) for p in ports]
    current = seed % len(clients)
    try:
        while time.monotonic() < stop_at:
            key = rng.choice(keys)
            asked_at = time.monotonic()  # the lease, if granted, starts after this
            try:
                status, answer = await clients[current].post("/v1/leases/claim", {"key": key, "lease_ms": lease_ms})
            except (ConnectionError, OSError, TimeoutError):
                ledger.unknown_claims += 1
                current, ledger.failovers = (current + 1) % len(clients), ledger.failovers + 1
                continue
            if status == 409:
                ledger.refused += 1
                await asyncio.sleep(rng.random() * 0.002)
                continue
            if status == 503:
                ledger.unavailable += 1
                continue
            assert status == 200, answer
            token = int(answer["lease"]["token"])
            ledger.granted(key, token)
            await asyncio.sleep(rng.random() * 0.002)
            ledger.released(key)
            retried = False
            for _ in range(len(clients)):
                try:
                    status, answer = await clients[current].post(
                        "/v1/leases/complete", {"key": key, "token": str(token)}
                    )
                    break
                except (ConnectionError, OSError, TimeoutError):
                    current, ledger.failovers, retried = (current + 1) % len(clients), ledger.failovers + 1, True
            else:
                raise AssertionError("no replica answered")
            if status == 409 and retried:
                # The replica that died may have applied this complete before its answer was lost. Then the key
                # shows this token completed, or (re-granted since) a newer token: before its expiry only a
                # complete or fail with this token, which only this claimer knows, can end the lease.
                _, seen = await clients[current].post("/v1/leases/inspect", {"key": key})
                seen_token = int(seen["lease"]["token"])
                if seen_token > token or (seen_token, seen["lease"]["state"]) == (token, "completed"):
                    ledger.completed_unacknowledged += 1
                    continue
            # a refused complete is a lost lease unless the lease may have expired (a very slow machine)
            if status != 200 and (time.monotonic() - asked_at) * 1000 < lease_ms:
                ledger.lost.append(f"{key} token {token}: {status} {answer}")
    finally:
        for c in clients:
            await c.close()


def run_claimers(ports, keys, clients: int, seconds: float, lease_ms: int, during=None) -> Ledger:
    ledger = Ledger()

    async def main() -> None:
        stop_at = time.monotonic() + seconds
        tasks = [asyncio.create_task(claimer(ports, keys, ledger, stop_at, lease_ms, seed)) for seed in range(clients)]
        if during is not None:
            await during()
        await asyncio.gather(*tasks)

    asyncio.run(main())
    return ledger


def check(ledger: Ledger, stack: stk.Stack, keys: list[str]) -> None:
    assert not ledger.lost, f"granted leases that could not be completed: {ledger.lost[:5]}"
    for key, tokens in ledger.grants.items():
        assert tokens == sorted(set(tokens)), f"{key}: tokens not strictly increasing in grant order"
    everyone = [t for tokens in ledger.grants.values() for t in tokens]
    assert len(everyone) == len(set(everyone)), "a token was granted twice"
    survivor = next(r for r in stack.replicas if r.alive())
    for key in ledger.grants:
        status, answer = survivor.client.post("/v1/leases/inspect", {"key": key})
        assert status == 200, answer
        assert int(answer["lease"]["token"]) >= ledger.grants[key][-1]


def test_64_claimers_on_one_key_never_two_holders(stack) -> None:
    key = f"blake3:{uuid.uuid4().hex[:10]}:60:0:100:w:"
    ledger = run_claimers([r.port for r in stack.replicas], [key], clients=64, seconds=3, lease_ms=10_000)
    check(ledger, stack, [key])
    assert len(ledger.grants[key]) >= 20, f"only {len(ledger.grants[key])} grants in 3 s"
    assert ledger.refused > len(ledger.grants[key]), "64 claimers on one key must mostly be refused"
    assert ledger.unavailable == 0
    _status, answer = stack.replicas[0].client.post("/v1/leases/inspect", {"key": key})
    assert answer["lease"]["state"] == "completed"
    assert int(answer["lease"]["token"]) == ledger.grants[key][-1]


def test_sigkill_of_a_replica_loses_no_lease_and_grants_none_twice(questdb) -> None:
    redis = stk.start_redis()
    stack = stk.Stack.start(redis, questdb, replicas=2)
    try:
        keys = [f"blake3:{uuid.uuid4().hex[:10]}:60:{i}:{i + 1}:w:" for i in range(8)]
        victim = stack.replicas[0]

        async def kill_midway() -> None:
            await asyncio.sleep(1.5)
            victim.kill()

        ledger = run_claimers(
            [r.port for r in stack.replicas], keys, clients=64, seconds=4, lease_ms=2_000, during=kill_midway
        )
        assert not victim.alive()
        assert ledger.failovers > 0, "no claimer noticed the kill"
        check(ledger, stack, keys)
        granted = sum(len(t) for t in ledger.grants.values())
        assert granted >= 50, f"only {granted} grants"
        assert stack.replicas[1].healthy()
    finally:
        stack.stop()
        redis.stop()

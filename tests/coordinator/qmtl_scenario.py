"""Runs under QMTL's interpreter (QMTL_PYTHON), not the test venv: QMTL's own DistributedBackfillCoordinator
(qmtl/runtime/sdk/backfill_coordinator.py) against two coordinator replicas.

    python qmtl_scenario.py URL_A URL_B KEY_PREFIX

Prints one JSON object: step name -> what the client returned (a lease as a dict, or null), and after each
call that returns nothing (complete, fail) what POST /v1/leases/inspect then shows. The test asserts on it;
this script asserts nothing itself.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import sys
import time

import httpx
from prometheus_client import REGISTRY
from qmtl.runtime.sdk.backfill_coordinator import DistributedBackfillCoordinator, Lease, _label_tuple_from_key


def lease(value: Lease | None):
    return dataclasses.asdict(value) if value is not None else None


async def main(url_a: str, url_b: str, prefix: str) -> dict:
    a, b = DistributedBackfillCoordinator(url_a), DistributedBackfillCoordinator(url_b)
    out: dict = {}

    async def inspect(url: str, key: str):
        async with httpx.AsyncClient(timeout=5) as client:
            response = await client.post(f"{url}/v1/leases/inspect", json={"key": key})
        return {"status": response.status_code, "body": response.json()}

    def ratio(key: str):
        """What the client recorded in its backfill_completion_ratio gauge (labels as the client makes them)."""
        node, interval, lease_key = _label_tuple_from_key(key)
        labels = {"node_id": node, "interval": interval, "lease_key": lease_key}
        return REGISTRY.get_sample_value("backfill_completion_ratio", labels)

    key = f"blake3:{prefix}:60:1000:2000:world-1:"
    first = await a.claim(key, 60_000)
    out["claim"] = lease(first)
    out["claim_ratio_recorded"] = ratio(key)
    out["second_claim_other_replica"] = lease(await b.claim(key, 60_000))
    out["second_claim_same_replica"] = lease(await a.claim(key, 60_000))
    await b.complete(Lease(key=key, token=str(int(first.token) + 10_000), lease_until_ms=first.lease_until_ms))
    out["after_foreign_complete"] = await inspect(url_b, key)
    await a.fail(Lease(key=key, token=str(int(first.token) + 20_000), lease_until_ms=first.lease_until_ms), "not mine")
    out["after_foreign_fail"] = await inspect(url_a, key)
    await b.complete(first)  # the lease granted through A, completed through B
    out["after_complete"] = await inspect(url_a, key)
    second = await b.claim(key, 60_000)  # a completed lease is claimable at once
    out["claim_after_complete"] = lease(second)
    await b.complete(first)  # the old token again: stale
    out["after_stale_complete"] = await inspect(url_b, key)
    await a.fail(second, "backfill exploded")
    out["after_fail"] = await inspect(url_b, key)
    out["claim_after_fail"] = lease(await a.claim(key, 60_000))

    short_key = f"blake3:{prefix}:60:2000:3000:world-1:"
    short = await a.claim(short_key, 2_000)
    out["short_claim"] = lease(short)
    out["short_claim_other_replica_while_held"] = lease(await b.claim(short_key, 60_000))
    await asyncio.sleep(max(0.0, short.lease_until_ms / 1000 - time.time()) + 0.5 if short else 0)
    out["short_after_expiry"] = await inspect(url_b, short_key)
    await a.complete(short)  # completing an expired lease: 409, nothing changes
    out["short_after_expired_complete"] = await inspect(url_a, short_key)
    out["claim_after_expiry"] = lease(await b.claim(short_key, 60_000))

    unknown = f"blake3:{prefix}:60:9000:9100:world-1:"
    await a.complete(Lease(key=unknown, token="5", lease_until_ms=0))
    out["unknown_after_complete"] = await inspect(url_a, unknown)
    return out


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(*sys.argv[1:4]))))

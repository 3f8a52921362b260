"""QMTL's own client, DistributedBackfillCoordinator (installed from the pinned QMTL source, run by QMTL's
interpreter), against two replicas of the coordinator on a real redis-server that loads the chart's rendered
ACL and a real QuestDB with the coordinator's rendered credentials: claim, refused second claim, foreign
token without effect, complete, fail, expiry, unknown key."""

from __future__ import annotations

import json
import pathlib
import subprocess
import uuid

import pytest

from . import stack as stk

pytestmark = pytest.mark.engines
SCENARIO = pathlib.Path(__file__).with_name("qmtl_scenario.py")


@pytest.fixture(scope="module")
def outcome(stack) -> dict:
    python = stk.qmtl_python()
    a, b = stack.urls
    result = subprocess.run(
        [python, str(SCENARIO), a, b, uuid.uuid4().hex[:12]], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
    return json.loads(result.stdout.strip().splitlines()[-1])


def _state(inspected: dict) -> tuple[str, str]:
    assert inspected["status"] == 200, inspected
    return inspected["body"]["lease"]["state"], inspected["body"]["lease"]["token"]


def test_claim_returns_a_lease_with_a_fencing_token(outcome: dict) -> None:
    lease = outcome["claim"]
    assert lease is not None
    assert int(lease["token"]) > 0
    assert lease["lease_until_ms"] > 0
    # the coverage was read from QuestDB: the client received and recorded completion_ratio 0 (nothing done yet)
    assert outcome["claim_ratio_recorded"] == 0.0


def test_second_claim_is_refused_on_either_replica(outcome: dict) -> None:
    assert outcome["second_claim_other_replica"] is None
    assert outcome["second_claim_same_replica"] is None


def test_foreign_tokens_change_nothing(outcome: dict) -> None:
    token = outcome["claim"]["token"]
    assert _state(outcome["after_foreign_complete"]) == ("held", token)
    assert _state(outcome["after_foreign_fail"]) == ("held", token)


def test_complete_through_the_other_replica_ends_the_lease(outcome: dict) -> None:
    assert _state(outcome["after_complete"]) == ("completed", outcome["claim"]["token"])
    again = outcome["claim_after_complete"]
    assert again is not None
    assert int(again["token"]) > int(outcome["claim"]["token"])
    assert _state(outcome["after_stale_complete"]) == ("held", again["token"])


def test_fail_ends_the_lease_with_its_reason(outcome: dict) -> None:
    token = outcome["claim_after_complete"]["token"]
    assert _state(outcome["after_fail"]) == ("failed", token)
    assert outcome["after_fail"]["body"]["lease"]["reason"] == "backfill exploded"
    after = outcome["claim_after_fail"]
    assert after is not None
    assert int(after["token"]) > int(token)


def test_expired_lease_is_claimable_and_cannot_be_completed(outcome: dict) -> None:
    short = outcome["short_claim"]
    assert short is not None
    assert outcome["short_claim_other_replica_while_held"] is None
    assert _state(outcome["short_after_expiry"]) == ("expired", short["token"])
    assert _state(outcome["short_after_expired_complete"]) == ("expired", short["token"])
    renewed = outcome["claim_after_expiry"]
    assert renewed is not None
    assert int(renewed["token"]) > int(short["token"])


def test_unknown_key_stays_unknown(outcome: dict) -> None:
    assert outcome["unknown_after_complete"]["status"] == 404
    assert outcome["unknown_after_complete"]["body"]["error"] == "unknown_key"

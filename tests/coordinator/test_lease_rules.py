"""The lease rules, property-based: hypothesis drives random sequences of claim / complete / fail / inspect,
alternating between two replicas, against a model of the rules, and every answer must be the model's.

The model (per key): never claimed; held by token t; expired (t); completed (t); failed (t).
  claim      held -> 409, nothing changes; otherwise 200 with a token greater than every token before
  complete   the holding token of a held key -> 200, completed; any other token or state -> 409, nothing
  fail       changes; a key never claimed -> 404 (same for fail, which also records its reason)
  inspect    404 for a key never claimed; else its state and its last token
Short leases (1 ms) are waited out, so the model knows them expired; long ones (60 s) outlive the test.
"""

from __future__ import annotations

import dataclasses
import time
import uuid

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

pytestmark = pytest.mark.engines

KEYS = 4
LONG_MS, SHORT_MS, SHORT_WAIT_S = 60_000, 1, 0.01


@dataclasses.dataclass
class KeyModel:
    state: str  # held, expired, completed, failed
    token: int
    reason: str | None = None


@pytest.fixture(scope="module")
def machine(stack):
    clients = [r.client for r in stack.replicas]

    class LeaseRules(RuleBasedStateMachine):
        @initialize()
        def fresh_keys(self) -> None:
            prefix = uuid.uuid4().hex[:10]
            self.keys = [f"blake3:{prefix}:60:{i * 100}:{i * 100 + 100}:w:" for i in range(KEYS)]
            self.model: dict[str, KeyModel] = {}
            self.last_token = 0
            self.calls = 0

        def post(self, replica: int, endpoint: str, body: dict) -> tuple[int, dict]:
            self.calls += 1
            status, answer = clients[replica].post(f"/v1/leases/{endpoint}", body)
            assert isinstance(answer, dict), (endpoint, status, answer)
            return status, answer

        @rule(key=st.integers(0, KEYS - 1), short=st.booleans(), replica=st.integers(0, 1))
        def claim(self, key: int, short: bool, replica: int) -> None:
            k = self.keys[key]
            status, answer = self.post(replica, "claim", {"key": k, "lease_ms": SHORT_MS if short else LONG_MS})
            current = self.model.get(k)
            if current is not None and current.state == "held":
                assert status == 409, answer
                assert answer["error"] == "held"
                return
            assert status == 200, answer
            token = int(answer["lease"]["token"])
            assert token > self.last_token, "fencing tokens must increase with every grant"
            assert answer["lease"]["key"] == k
            self.last_token = token
            self.model[k] = KeyModel("held", token)
            if short:
                time.sleep(SHORT_WAIT_S)
                self.model[k].state = "expired"

        @rule(
            key=st.integers(0, KEYS - 1),
            which=st.sampled_from(["holder", "older", "newer"]),
            op=st.sampled_from(["complete", "fail"]),
            replica=st.integers(0, 1),
        )
        def release(self, key: int, which: str, op: str, replica: int) -> None:
            k = self.keys[key]
            current = self.model.get(k)
            base = current.token if current else self.last_token + 1
            token = {"holder": base, "older": max(1, base - 1), "newer": base + 1000}[which]
            body = {"key": k, "token": str(token)}
            if op == "fail":
                body["reason"] = f"reason-{token}"
            status, answer = self.post(replica, op, body)
            if current is None:
                assert status == 404, answer
                assert answer["error"] == "unknown_key"
            elif current.state == "held" and token == current.token:
                assert status == 200, answer
                current.state = "completed" if op == "complete" else "failed"
                current.reason = body.get("reason")
            else:
                assert status == 409, answer
                assert answer["error"] == "stale_token"

        @rule(key=st.integers(0, KEYS - 1), replica=st.integers(0, 1))
        def inspect(self, key: int, replica: int) -> None:
            k = self.keys[key]
            status, answer = self.post(replica, "inspect", {"key": k})
            current = self.model.get(k)
            if current is None:
                assert status == 404, answer
                return
            assert status == 200, answer
            lease = answer["lease"]
            assert (lease["state"], int(lease["token"])) == (current.state, current.token)
            assert (lease["lease_until_ms"] is not None) == (current.state == "held")
            if current.state == "failed":
                assert lease["reason"] == current.reason

        @invariant()
        def tokens_never_reused(self) -> None:
            tokens = [m.token for m in getattr(self, "model", {}).values()]
            assert len(tokens) == len(set(tokens))

    return LeaseRules


def test_lease_rules_match_the_model(machine) -> None:
    runner = machine.TestCase
    runner.settings = settings(
        max_examples=60,
        stateful_step_count=30,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    runner().runTest()

"""Bad input gets a 4xx JSON answer that says what is wrong; never a 500, never a crash."""

from __future__ import annotations

import socket
import uuid

import pytest

pytestmark = pytest.mark.engines

KEY = "blake3:bad-input:60:0:100:w:"
LEASE_MAX_MS = 3_600_000  # values.yaml seamless-coordinator.leases.maxMs, what the stack renders

# (case, path, JSON body or raw bytes, expected status, expected error code, words the detail must contain)
CASES = [
    ("not-json", "/v1/leases/claim", b"{key: 1", 400, "invalid_json", ["not JSON"]),
    ("not-an-object", "/v1/leases/claim", [KEY, 1000], 400, "invalid_json", ["JSON object"]),
    ("empty-body", "/v1/leases/claim", b"", 400, "invalid_json", ["not JSON"]),
    ("invalid-utf8", "/v1/leases/claim", b'{"key": "\xff\xfe"}', 400, "invalid_json", ["not JSON"]),
    ("key-missing", "/v1/leases/claim", {"lease_ms": 1000}, 422, "invalid_field", ["key", "required"]),
    ("key-null", "/v1/leases/claim", {"key": None, "lease_ms": 1000}, 422, "invalid_field", ["key", "required"]),
    ("key-number", "/v1/leases/claim", {"key": 42, "lease_ms": 1000}, 422, "invalid_field", ["key", "string"]),
    ("key-empty", "/v1/leases/claim", {"key": "", "lease_ms": 1000}, 422, "invalid_field", ["key", "non-empty"]),
    ("key-too-long", "/v1/leases/claim", {"key": "k" * 1025, "lease_ms": 1000}, 422, "invalid_field", ["1024"]),
    ("key-control", "/v1/leases/claim", {"key": "a\nb", "lease_ms": 1000}, 422, "invalid_field", ["control"]),
    ("key-surrogate", "/v1/leases/claim", b'{"key": "\\ud800", "lease_ms": 1000}', 422, "invalid_field", ["key"]),
    ("lease-missing", "/v1/leases/claim", {"key": KEY}, 422, "invalid_field", ["lease_ms", "required"]),
    ("lease-string", "/v1/leases/claim", {"key": KEY, "lease_ms": "1000"}, 422, "invalid_field", ["lease_ms"]),
    ("lease-float", "/v1/leases/claim", {"key": KEY, "lease_ms": 1000.5}, 422, "invalid_field", ["lease_ms"]),
    ("lease-bool", "/v1/leases/claim", {"key": KEY, "lease_ms": True}, 422, "invalid_field", ["lease_ms"]),
    ("lease-zero", "/v1/leases/claim", {"key": KEY, "lease_ms": 0}, 422, "invalid_field", ["between 1 and"]),
    ("lease-negative", "/v1/leases/claim", {"key": KEY, "lease_ms": -5}, 422, "invalid_field", ["between 1 and"]),
    (
        "lease-over-max",
        "/v1/leases/claim",
        {"key": KEY, "lease_ms": LEASE_MAX_MS + 1},
        422,
        "invalid_field",
        ["LEASE_MAX_MS", str(LEASE_MAX_MS)],
    ),
    ("lease-huge", "/v1/leases/claim", {"key": KEY, "lease_ms": 10**40}, 422, "invalid_field", ["between 1 and"]),
    ("token-missing", "/v1/leases/complete", {"key": KEY}, 422, "invalid_field", ["token", "required"]),
    ("token-word", "/v1/leases/complete", {"key": KEY, "token": "abc"}, 422, "invalid_field", ["token"]),
    ("token-zero", "/v1/leases/complete", {"key": KEY, "token": 0}, 422, "invalid_field", ["token"]),
    ("token-negative", "/v1/leases/fail", {"key": KEY, "token": "-3"}, 422, "invalid_field", ["token"]),
    ("token-huge", "/v1/leases/fail", {"key": KEY, "token": "9" * 40}, 422, "invalid_field", ["token"]),
    ("token-float", "/v1/leases/fail", {"key": KEY, "token": 1.5}, 422, "invalid_field", ["token"]),
    ("reason-number", "/v1/leases/fail", {"key": KEY, "token": "1", "reason": 7}, 422, "invalid_field", ["reason"]),
    ("inspect-no-key", "/v1/leases/inspect", {}, 422, "invalid_field", ["key"]),
    ("too-large", "/v1/leases/claim", {"key": KEY, "lease_ms": 1000, "pad": "x" * 70000}, 413, "too_large", ["65536"]),
    ("unknown-path", "/v1/leases/steal", {"key": KEY}, 404, "http", ["Not Found"]),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_request_gets_a_4xx_that_says_why(stack, case) -> None:
    _, path, body, status, error, words = case
    replica = stack.replicas[0]
    if isinstance(body, bytes):
        got, answer = replica.client.post(path, raw=body)
    else:
        got, answer = replica.client.post(path, body)
    assert got == status, answer
    assert isinstance(answer, dict), answer
    assert answer["error"] == error, answer
    for word in words:
        assert word in answer["detail"], (word, answer["detail"])


def test_wrong_method_is_405_json(stack) -> None:
    status, answer = stack.replicas[0].client.get("/v1/leases/claim")
    assert status == 405
    assert answer["error"] == "http"


def _raw(port: int, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(request)
        s.shutdown(socket.SHUT_WR)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    return data


def test_oversized_chunked_body_is_refused_without_reading_it_all(stack) -> None:
    port = stack.replicas[0].port
    chunk = b"x" * 8192
    body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(10)) + b"0\r\n\r\n"
    answer = _raw(
        port,
        b"POST /v1/leases/claim HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n"
        b"Content-Type: application/json\r\n\r\n" + body,
    )
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b"too_large" in answer


def test_lying_content_length_is_refused(stack) -> None:
    answer = _raw(
        stack.replicas[0].port,
        b"POST /v1/leases/claim HTTP/1.1\r\nHost: t\r\nContent-Length: 99999999\r\n\r\n{}",
    )
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]


def test_garbage_http_is_a_4xx_and_the_server_lives_on(stack) -> None:
    replica = stack.replicas[0]
    answer = _raw(replica.port, b"NOT HTTP AT ALL\r\n\r\n")
    assert answer == b"" or answer.split(b" ")[1].startswith(b"4"), answer[:200]
    assert replica.healthy()


def test_a_long_failure_reason_is_cut_not_refused(stack) -> None:
    """A worker that fails with a long exception text must still release its lease."""
    c = stack.replicas[0].client
    key = f"blake3:{uuid.uuid4().hex[:10]}:60:0:100:w:"
    token = c.post("/v1/leases/claim", {"key": key, "lease_ms": 60_000})[1]["lease"]["token"]
    status, answer = c.post("/v1/leases/fail", {"key": key, "token": token, "reason": "é" * 5000})
    assert status == 200, answer
    reason = c.post("/v1/leases/inspect", {"key": key})[1]["lease"]["reason"]
    assert 0 < len(reason) <= 2048
    assert c.post("/v1/leases/claim", {"key": key, "lease_ms": 60_000})[0] == 200


def test_unicode_keys_are_fine(stack) -> None:
    c = stack.replicas[1].client
    key = f"노드:{uuid.uuid4().hex[:6]}:60:0:100:월드:"
    status, answer = c.post("/v1/leases/claim", {"key": key, "lease_ms": 60_000})
    assert status == 200, answer
    assert answer["lease"]["key"] == key
    assert c.post("/v1/leases/complete", {"key": key, "token": answer["lease"]["token"]})[0] == 200


def test_no_500_was_ever_answered(stack) -> None:
    """Runs after the cases above in this module (same replicas): their metrics show no server error."""
    for replica in stack.replicas:
        assert replica.alive()
        assert "Traceback" not in replica.log(), replica.log()
        assert 'outcome="error"' not in replica.metrics()

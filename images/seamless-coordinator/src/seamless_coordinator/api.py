"""The HTTP contract of QMTL's DistributedBackfillCoordinator (qmtl/runtime/sdk/backfill_coordinator.py).

    POST /v1/leases/claim     {key, lease_ms}       200 {lease: {key, token, lease_until_ms}, completion_ratio?}
                                                    409 while another unexpired lease holds the key
    POST /v1/leases/complete  {key, token}          200 when the token holds the lease; 409 stale or foreign
    POST /v1/leases/fail      {key, token, reason}  token, or an expired lease (nothing changes); 404 unknown key
    POST /v1/leases/inspect   {key}                 200 {lease: {key, state, token, holder, lease_until_ms, reason}}
    GET  /healthz                                   200 while Redis answers, 503 otherwise (readiness)
    GET  /livez                                     200 while the process serves (liveness: a Redis outage is
                                                    no reason to restart the coordinator)

Errors are JSON {error, detail}: 400 (not a JSON object), 413 (body too large), 422 (a field is missing or
out of range), 503 (Redis unavailable: try again).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .journal import Journal
from .leases import Granted, LeaseStore, StoreUnavailable
from .metrics import Metrics

log = logging.getLogger("seamless_coordinator.api")

MAX_BODY_BYTES = 64 * 1024  # room for a long failure reason (QMTL sends the exception text)
MAX_KEY_BYTES = 1024
MAX_REASON_CHARS = 2048  # longer failure reasons are cut (a failing worker must still release its lease)
MAX_TOKEN = 2**63 - 1
HEALTH_TIMEOUT_S = 2.0
GAUGE_REFRESH_S = 2.0

Handler = Callable[[dict], Awaitable[tuple[int, str, dict]]]


class ApiError(Exception):
    def __init__(self, status: int, code: str, detail: str, outcome: str = "invalid") -> None:
        super().__init__(detail)
        self.status, self.code, self.detail, self.outcome = status, code, detail, outcome


def encode(status: int, body: dict) -> tuple[list[tuple[bytes, bytes]], bytes]:
    payload = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(payload))]
    if status == 503:
        headers.append((b"retry-after", b"1"))
    return headers, payload


def respond(status: int, body: dict) -> Response:
    headers, payload = encode(status, body)
    return Response(payload, status_code=status, headers={k.decode(): v.decode() for k, v in headers})


class Endpoint:
    """One lease operation as a plain ASGI app (Starlette routes to it; the hot path skips its Request and
    Response objects): read the JSON body within the limit, run the handler, count, answer."""

    def __init__(self, name: str, handler: Handler, metrics: Metrics) -> None:
        self.name, self.handler, self.metrics = name, handler, metrics
        self.latency = metrics.latency.labels(endpoint=name)
        self.outcomes: dict[str, object] = {}

    async def __call__(self, scope, receive, send) -> None:
        start = time.perf_counter()
        try:
            status, outcome, body = await self.handler(await read_json(scope, receive))
        except ApiError as exc:
            status, outcome, body = exc.status, exc.outcome, {"error": exc.code, "detail": exc.detail}
        except StoreUnavailable as exc:
            self.metrics.store_errors.labels(store="redis").inc()
            log.warning("%s: %s", self.name, exc)
            status, outcome = 503, "unavailable"
            body = {"error": "store_unavailable", "detail": f"{exc}: try again"}
        headers, payload = encode(status, body)
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})
        counter = self.outcomes.get(outcome)
        if counter is None:
            counter = self.outcomes[outcome] = self.metrics.requests.labels(endpoint=self.name, outcome=outcome)
        counter.inc()
        self.latency.observe(time.perf_counter() - start)


def create_app(store: LeaseStore, *, metrics: Metrics, lease_max_ms: int, journal: Journal | None = None):
    def ratio(body: dict, key: str) -> dict:
        known = journal.completion_ratio(key) if journal else None
        if known is not None:
            body["completion_ratio"] = known
        return body

    async def claim(data: dict) -> tuple[int, str, dict]:
        key, lease_ms = field_key(data), field_lease_ms(data, lease_max_ms)
        result = await store.claim(key, lease_ms)
        if not isinstance(result, Granted):
            detail = f"key {key!r} is held by another lease until {result.lease_until_ms} (ms since the epoch)"
            return 409, "held", {"error": "held", "detail": detail, "lease_until_ms": result.lease_until_ms}
        if journal:
            journal.record("claimed", key, result.token)
        lease = {"key": key, "token": str(result.token), "lease_until_ms": result.lease_until_ms}
        return 200, "granted", ratio({"lease": lease}, key)

    def release(state: str):
        async def handler(data: dict) -> tuple[int, str, dict]:
            key, token = field_key(data), field_token(data)
            reason = field_reason(data) if state == "failed" else ""
            outcome = await store.release(key, token, state, reason)
            if outcome == "unknown":
                return 404, "unknown", {"error": "unknown_key", "detail": f"no lease was ever granted on key {key!r}"}
            if outcome == "stale":
                detail = (
                    f"token {token} does not hold the lease on key {key!r} (another lease holds it, or it "
                    "expired, completed or failed): nothing changed"
                )
                return 409, "stale", {"error": "stale_token", "detail": detail}
            if journal:
                journal.record(state, key, token, reason or None)
            return 200, state, ratio({"key": key, "token": str(token), "state": state}, key)

        return handler

    async def inspect(data: dict) -> tuple[int, str, dict]:
        key = field_key(data)
        view = await store.inspect(key)
        if view is None:
            return 404, "unknown", {"error": "unknown_key", "detail": f"no lease was ever granted on key {key!r}"}
        lease = {
            "key": key,
            "state": view.state,
            "token": str(view.token),
            "holder": view.holder,
            "lease_until_ms": view.lease_until_ms,
            "reason": view.reason,
        }
        return 200, "found", ratio({"lease": lease}, key)

    async def healthz(request: Request) -> Response:
        questdb = "off" if journal is None else "ok" if journal.up else "unavailable"
        try:
            await asyncio.wait_for(store.ping(), HEALTH_TIMEOUT_S)
        except (StoreUnavailable, TimeoutError) as exc:
            metrics.store_up.labels(store="redis").set(0)
            return respond(503, {"status": "unavailable", "redis": str(exc) or "timeout", "questdb": questdb})
        metrics.store_up.labels(store="redis").set(1)
        return respond(200, {"status": "ok", "redis": "ok", "questdb": questdb})

    async def livez(request: Request) -> Response:
        return respond(200, {"status": "alive"})

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return respond(exc.status_code, {"error": "http", "detail": exc.detail})

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):
        if journal:
            journal.start()
        gauge = asyncio.create_task(refresh_gauge(store, metrics), name="active-leases-gauge")
        try:
            yield
        finally:
            gauge.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await gauge
            if journal:
                await journal.stop()
            await store.close()

    leases = {
        "/v1/leases/claim": Endpoint("claim", claim, metrics),
        "/v1/leases/complete": Endpoint("complete", release("completed"), metrics),
        "/v1/leases/fail": Endpoint("fail", release("failed"), metrics),
        "/v1/leases/inspect": Endpoint("inspect", inspect, metrics),
    }
    routes = [Route(path, endpoint, methods=["POST"]) for path, endpoint in leases.items()]
    routes += [Route("/healthz", healthz, methods=["GET"]), Route("/livez", livez, methods=["GET"])]
    app = Starlette(routes=routes, exception_handlers={HTTPException: http_error}, lifespan=lifespan)

    async def asgi(scope, receive, send) -> None:
        """The lease operations straight to their endpoint (the hot path: measured, skipping Starlette's
        middleware and routing saves about an eighth of the CPU per request); everything else (other methods
        and paths, /healthz, lifespan) through Starlette."""
        if scope["type"] == "http" and scope["method"] == "POST":
            endpoint = leases.get(scope["path"])
            if endpoint is not None:
                await endpoint(scope, receive, send)
                return
        await app(scope, receive, send)

    return asgi


async def refresh_gauge(store: LeaseStore, metrics: Metrics) -> None:
    while True:
        with contextlib.suppress(StoreUnavailable):  # /healthz and the request metrics report it
            metrics.active_leases.set(await store.active_leases())
        await asyncio.sleep(GAUGE_REFRESH_S)


# ------------------------------------------------------------------------------------------------ input
async def read_json(scope, receive) -> dict:
    for name, value in scope["headers"]:
        if name == b"content-length":
            if not value.isdigit():
                raise ApiError(400, "bad_request", "Content-Length is not a number")
            if int(value) > MAX_BODY_BYTES:
                detail = f"the body is {int(value)} bytes; at most {MAX_BODY_BYTES} are accepted"
                raise ApiError(413, "too_large", detail)
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if len(body) > MAX_BODY_BYTES:
            raise ApiError(413, "too_large", f"the body is over {MAX_BODY_BYTES} bytes")
        if not message.get("more_body"):
            break
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, "invalid_json", f"the body is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ApiError(400, "invalid_json", "the body must be a JSON object")
    return data


def _required(data: dict, name: str):
    if name not in data or data[name] is None:
        raise ApiError(422, "invalid_field", f"{name} is required")
    return data[name]


def field_key(data: dict) -> str:
    key = _required(data, "key")
    if not isinstance(key, str) or not key:
        raise ApiError(422, "invalid_field", "key must be a non-empty string")
    try:
        size = len(key.encode("utf-8"))
    except UnicodeEncodeError:
        raise ApiError(422, "invalid_field", "key is not valid Unicode (lone surrogate)") from None
    if size > MAX_KEY_BYTES:
        raise ApiError(422, "invalid_field", f"key is {size} bytes long; at most {MAX_KEY_BYTES} are accepted")
    if not key.isprintable():
        raise ApiError(422, "invalid_field", "key must not contain control characters")
    return key


def field_lease_ms(data: dict, maximum: int) -> int:
    value = _required(data, "lease_ms")
    if not isinstance(value, int) or isinstance(value, bool):
        raise ApiError(422, "invalid_field", "lease_ms must be an integer (milliseconds)")
    if not 1 <= value <= maximum:
        raise ApiError(422, "invalid_field", f"lease_ms must be between 1 and {maximum} (LEASE_MAX_MS), not {value}")
    return value


def field_token(data: dict) -> int:
    value = _required(data, "token")
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 19:
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_TOKEN:
        raise ApiError(
            422, "invalid_field", "token must be the lease's token: a positive integer or its decimal string"
        )
    return value


def field_reason(data: dict) -> str:
    value = data.get("reason")
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ApiError(422, "invalid_field", "reason must be a string")
    return value[:MAX_REASON_CHARS].encode("utf-8", "replace").decode("utf-8")

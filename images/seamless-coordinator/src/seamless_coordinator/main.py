"""`seamless-coordinator`: configured by environment variables only (see --help)."""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import sys

import uvicorn

from .api import create_app
from .journal import Journal
from .leases import LeaseStore
from .metrics import Metrics
from .settings import ENV, Settings, SettingsError

log = logging.getLogger("seamless_coordinator")


def main(argv: list[str] | None = None) -> int:
    epilog = "environment variables:\n" + "\n".join(
        f"  {v.name:20} {'(required)' if v.default is None else repr(v.default):12} {v.help}" for v in ENV
    )
    parser = argparse.ArgumentParser(
        prog="seamless-coordinator",
        description="The Seamless backfill coordinator: leases in Redis, metadata in QuestDB, QMTL's lease API.",
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.parse_args(argv)
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        print(f"seamless-coordinator: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        return runner.run(serve(settings))


def quiet_gc() -> None:
    """Fewer, later garbage collections: what exists at start-up is frozen out of them, and a young
    generation of 50,000 objects instead of 700 (a request makes few reference cycles): collector pauses
    no longer land in the tail of request latency, for a few MB more memory (scripts/benchmark.py measures the
    coordinator's p99)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 50, 1000)


def _loop_factory():
    try:
        import uvloop
    except ImportError:  # optional speed-up (the image installs it)
        return None
    return uvloop.new_event_loop


async def serve(settings: Settings) -> int:
    metrics = Metrics()
    store = LeaseStore(
        settings.redis_dsn,
        username=settings.redis_user,
        password=settings.redis_password,
        coordinator_id=settings.coordinator_id,
        record_ttl_s=settings.record_ttl_s,
        on_retry=lambda op: metrics.transaction_retries.labels(operation=op).inc(),
    )
    journal = None
    if settings.questdb_dsn:
        journal = Journal(
            settings.questdb_dsn,
            user=settings.questdb_user,
            password=settings.questdb_password,
            coordinator_id=settings.coordinator_id,
            metrics=metrics,
        )
    else:
        log.warning("QUESTDB_DSN is empty: no lease metadata is kept and completion_ratio is never answered")
    app = create_app(store, metrics=metrics, lease_max_ms=settings.lease_max_ms, journal=journal)
    metrics_server = None
    if settings.metrics_port:
        try:
            metrics_server = metrics.serve(settings.host, settings.metrics_port)
        except OSError as exc:
            log.error("cannot serve metrics on %s:%s: %s", settings.host, settings.metrics_port, exc)
            return 1
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        lifespan="on",
        access_log=False,
        log_config=None,
        server_header=False,
        proxy_headers=False,  # client addresses are not used: skip the per-request middleware
        timeout_graceful_shutdown=10,
    )
    server = uvicorn.Server(config)
    quiet_gc()
    log.info(
        "coordinator %s: API on %s:%s, metrics on port %s, event loop %s",
        settings.coordinator_id,
        settings.host,
        settings.port,
        settings.metrics_port or "off",
        type(asyncio.get_running_loop()).__module__.split(".")[0],
    )
    try:
        await server.serve()
    finally:
        if metrics_server is not None:
            metrics_server.shutdown()
    return 0 if server.started else 1

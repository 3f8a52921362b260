"""Prometheus metrics, served on PROMETHEUS_PORT (a separate listener from the lease API)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

NAMESPACE = "seamless_coordinator"
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "requests",
            "Lease API requests by endpoint and outcome (granted, held, completed, failed, stale, unknown, found, "
            "invalid, unavailable).",
            ["endpoint", "outcome"],
            namespace=NAMESPACE,
            registry=r,
        )
        self.latency = Histogram(
            "request_seconds",
            "Time to answer a lease API request, by endpoint.",
            ["endpoint"],
            namespace=NAMESPACE,
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.active_leases = Gauge(
            "active_leases",
            "Leases granted and not yet completed, failed or expired (all replicas; refreshed every 2 s).",
            namespace=NAMESPACE,
            registry=r,
        )
        self.store_errors = Counter(
            "store_errors",
            "Failed operations on a store (redis: the request got 503; questdb: the journal retries).",
            ["store"],
            namespace=NAMESPACE,
            registry=r,
        )
        self.store_up = Gauge(
            "store_up", "1 while the store answers, 0 otherwise.", ["store"], namespace=NAMESPACE, registry=r
        )
        self.transaction_retries = Counter(
            "transaction_retries",
            "Optimistic Redis transactions retried because the key changed meanwhile, by operation.",
            ["operation"],
            namespace=NAMESPACE,
            registry=r,
        )
        self.journal_queue = Gauge(
            "journal_queue_rows", "Metadata rows waiting for QuestDB.", namespace=NAMESPACE, registry=r
        )
        self.journal_written = Counter(
            "journal_written_rows", "Metadata rows written to QuestDB.", namespace=NAMESPACE, registry=r
        )
        self.journal_dropped = Counter(
            "journal_dropped_rows",
            "Metadata rows dropped because the queue to QuestDB was full.",
            namespace=NAMESPACE,
            registry=r,
        )
        for store in ("redis", "questdb"):
            self.store_errors.labels(store=store)
            self.store_up.labels(store=store).set(0)

    def serve(self, host: str, port: int):
        """Start the /metrics listener in a thread; returns the server (call shutdown() to stop it)."""
        server, _thread = start_http_server(port, addr=host, registry=self.registry)
        return server

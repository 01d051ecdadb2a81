"""`GET /metrics` in Prometheus' text format, through prometheus-client.

Requests by route and status, their latency, the model's batch sizes, which model answers,
and the answers the server's bounds gave (serve/limits.py): timeouts and overload. With
several uvicorn workers (processes), `mnistlab serve` sets
PROMETHEUS_MULTIPROC_DIR before they start, every worker writes its samples there, and any
worker's /metrics reports the sum over all of them (prometheus-client's multiprocess mode).
"""

from __future__ import annotations

import os
import time

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector

ROUTES = ("/", "/healthz", "/readyz", "/metrics", "/api/model", "/api/predict")
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128)


class Metrics:
    """The server's instruments, in their own registry (or the multiprocess directory)."""

    def __init__(self) -> None:
        # In multiprocess mode samples go to files, not a registry; /metrics collects them.
        own = None if os.environ.get("PROMETHEUS_MULTIPROC_DIR") else CollectorRegistry()
        self.requests = Counter("mnistlab_requests", "HTTP requests answered",
                                ["route", "status"], registry=own)  # fmt: skip
        self.latency = Histogram("mnistlab_request_seconds", "Time to answer a request",
                                 ["route"], registry=own)  # fmt: skip
        self.batch = Histogram("mnistlab_batch_size", "Images per model call",
                               buckets=BATCH_BUCKETS, registry=own)  # fmt: skip
        self.timeouts = Counter("mnistlab_timeouts", "Requests and connections past a deadline, "
                                "by what was late: request, upload, headers, model",
                                ["stage"], registry=own)  # fmt: skip
        self.overload = Counter("mnistlab_overload", "Requests refused with 503 at once, by why: "
                                "concurrency (the worker is full), model_stuck",
                                ["reason"], registry=own)  # fmt: skip
        self.model = Gauge("mnistlab_model_info", "The model this server answers with (1)",
                           ["run", "model", "dataset", "weights_sha256"], registry=own,
                           multiprocess_mode="max")  # fmt: skip
        if own is None:  # made after the instruments, which must write to the files
            own = CollectorRegistry()
            MultiProcessCollector(own)  # reads every worker's files at each collection
        self.registry = own

    def exposition(self) -> tuple[bytes, str]:
        """The body and content type of GET /metrics."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class RequestMetrics:
    """ASGI middleware: counts every HTTP answer by route and status, and times it."""

    def __init__(self, app, metrics: Metrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start, counted = time.perf_counter(), False
        route = scope["path"] if scope["path"] in ROUTES else "other"

        async def count_then_send(message) -> None:
            # Counted before the client can see the answer: a worker killed right after
            # answering has still counted it.
            nonlocal counted
            if message["type"] == "http.response.start" and not counted:
                self.metrics.requests.labels(route, str(message["status"])).inc()
                counted = True
            await send(message)

        try:
            await self.app(scope, receive, count_then_send)
        finally:
            if not counted:  # the app failed before it answered: the server says 500
                self.metrics.requests.labels(route, "500").inc()
            self.metrics.latency.labels(route).observe(time.perf_counter() - start)

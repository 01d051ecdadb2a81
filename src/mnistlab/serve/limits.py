"""Bounds on time and load, so that no request, client or model call holds a worker forever.

- `Deadline`: a request not answered within `timeout` seconds is answered 504 (or 408 when
  the client had not even finished sending its upload), and its work is cancelled.
- `ConcurrencyLimit`: past `limit` requests in progress in a worker, a request is answered
  503 at once, with Retry-After, instead of queueing behind them.
- `HeaderTimeout`: uvicorn's HTTP protocol (httptools) plus a deadline on receiving a
  request's headers: a client that connects, or starts a request, and then goes silent is
  disconnected (uvicorn has a keep-alive timeout between requests, but none for headers).
- The model call's own deadline is the batcher's (batching.py).

The probes (/healthz, /readyz, /metrics) are never refused or cut short: they answer from
the event loop, whatever the model is doing. Each bound counts its answers in /metrics.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import threading

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from mnistlab.serve.batching import ModelStuck, ModelTimeout

PROBES = ("/healthz", "/readyz", "/metrics")
DEFAULT_TIMEOUT = 10.0  # seconds: a request's deadline, its headers' and the model call's
DEFAULT_CONCURRENT = 64  # requests in progress per worker (a few full batches queued)
HANG = "MNISTLAB_SERVE_TEST_HANG"  # tests only: seconds each model call after warm-up sleeps
# What /api/predict answers when a bound is reached (the OpenAPI schema lists them).
RETRY_AFTER = {"Retry-After": {"description": "seconds to wait before trying again",
                               "schema": {"type": "integer"}}}  # fmt: skip
ANSWERS = {
    408: {"description": "the upload did not arrive within the deadline (--timeout)"},
    503: {
        "description": "the worker is full (--max-concurrent) or its model is stuck on a "
        "call past the deadline; try again after Retry-After",
        "headers": RETRY_AFTER,
    },
    504: {"description": "no answer within the deadline (--timeout)"},
}


def add_limits(app: FastAPI, timeout: float, max_concurrent: int, metrics) -> None:
    """The bounds' middleware (inside the request metrics, added last) and the answers to a
    model that does not answer in time."""
    app.add_middleware(Deadline, timeout=timeout, metrics=metrics)
    app.add_middleware(ConcurrencyLimit, limit=max_concurrent, metrics=metrics)

    @app.exception_handler(ModelTimeout)
    def model_late(request: Request, exc: ModelTimeout) -> JSONResponse:
        error = f"the model did not answer within {timeout:g} s; try again later"
        return JSONResponse({"error": error}, 504)

    @app.exception_handler(ModelStuck)
    def model_stuck(request: Request, exc: ModelStuck) -> JSONResponse:
        metrics.overload.labels("model_stuck").inc()
        error = "the model is busy with a call past its deadline; try again shortly"
        return JSONResponse({"error": error}, 503, headers=retry_after(timeout))


def hanging(predict, app: FastAPI, seconds: float):
    """Test hook (HANG): `predict`, sleeping `seconds` first once the warm-up is done, or
    until the server stops (`app.state.stopping`; a real hung call would hold the process,
    whose exit waits for its threads, until it returns)."""
    app.state.stopping = threading.Event()

    def call(images):
        if app.state.ready:
            app.state.stopping.wait(seconds)
        return predict(images)

    return call


def retry_after(seconds: float) -> dict[str, str]:
    return {"Retry-After": str(max(1, math.ceil(seconds)))}


class Deadline:
    """ASGI middleware: every request but the probes ends within `timeout` seconds."""

    def __init__(self, app, timeout: float, metrics) -> None:
        self.app, self.timeout, self.metrics = app, timeout, metrics

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["path"] in PROBES or not self.timeout:
            return await self.app(scope, receive, send)
        started = received = False

        async def receive_counted():
            nonlocal received
            message = await receive()
            received = received or not message.get("more_body", False)
            return message

        async def send_counted(message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            async with asyncio.timeout(self.timeout):
                await self.app(scope, receive_counted, send_counted)
        except TimeoutError:
            stage = "request" if received else "upload"
            self.metrics.timeouts.labels(stage).inc()
            if started:  # too late for another answer: the connection ends unfinished
                return
            if stage == "upload":
                status, error = 408, (f"the upload did not arrive within {self.timeout:g} s; "
                                      "send it again")  # fmt: skip
            else:
                status, error = 504, f"no answer within {self.timeout:g} s; try again later"
            await JSONResponse({"error": error}, status)(scope, receive, send)


class ConcurrencyLimit:
    """ASGI middleware: at most `limit` requests (probes aside) in progress in this worker;
    the next is answered 503 with Retry-After at once."""

    def __init__(self, app, limit: int, metrics) -> None:
        self.app, self.limit, self.metrics = app, limit, metrics
        self.active = 0

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["path"] in PROBES or not self.limit:
            return await self.app(scope, receive, send)
        if self.active >= self.limit:
            self.metrics.overload.labels("concurrency").inc()
            error = f"the server is busy ({self.limit} requests in progress); try again shortly"
            response = JSONResponse({"error": error}, 503, headers=retry_after(1))
            return await response(scope, receive, send)
        self.active += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.active -= 1


class HeaderTimeout(HttpToolsProtocol):
    """uvicorn's httptools protocol with a deadline on each request's headers: from the
    connection (or the first byte of a request) until its headers are complete. A client
    still sending them then is disconnected. The deadline is the server's --timeout, which
    a worker finds where it finds its other settings (server.ENV)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.header_timeout = _server_timeout()

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        self._arm()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm()

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def connection_lost(self, exc) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._disarm()
        if self.header_timeout:
            self._header_timer = self.loop.call_later(self.header_timeout, self._headers_late)

    def _disarm(self) -> None:
        timer = getattr(self, "_header_timer", None)
        if timer is not None:
            timer.cancel()
            self._header_timer = None

    def _headers_late(self) -> None:
        self._header_timer = None
        metrics = self.app_state.get("mnistlab_metrics")
        if metrics is not None:
            metrics.timeouts.labels("headers").inc()
        if not self.transport.is_closing():
            self.transport.close()


def _server_timeout() -> float:
    """The --timeout of the `mnistlab serve` this worker belongs to (DEFAULT_TIMEOUT else)."""
    from mnistlab.serve.server import ENV

    return float(json.loads(os.environ.get(ENV, "{}")).get("timeout", DEFAULT_TIMEOUT))

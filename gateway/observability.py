"""Request ids, metrics and the request middleware of the HTTP layer.

Every request gets a request id (the caller's, when it is well formed) that log lines and audit rows
carry (``gateway.logs``); metrics are prometheus-client counters and histograms per route, and per
verification source (``AdapterMetrics``); bodies are capped before they are read.

A scrape (``exposition``) shows this process's counters or, in prometheus-client's multiprocess
mode (``PROMETHEUS_MULTIPROC_DIR``), those of every gateway process of the machine summed, and the
backlog gauges read from the database at that moment (ADR 011).
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import time
from collections.abc import Iterable
from pathlib import Path

from fastapi import FastAPI, Request
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily, Metric
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.adapters.base import Source
from gateway.adapters.resilience import BreakerState
from gateway.logs import request_id_var
from gateway.ops.service import Backlog
from gateway.privacy import mask_id_numbers
from gateway.problems import problem_response

# What a caller's request id may be (else one is generated): it goes into log lines and audit rows,
# so no spaces, quotes, markup, control or non-ASCII characters, and no more than an audit row holds.
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:\-]{1,64}")


class Metrics:
    """Per-app metric objects (a registry per app keeps tests and replicas independent)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "gateway_http_requests_total",
            "HTTP requests by route, method and status",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "gateway_http_request_duration_seconds",
            "HTTP request latency by route",
            ["route", "method"],
            registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.adapters = AdapterMetrics(self.registry)


class AdapterMetrics:
    """What an operator watches of the verification sources, per source: calls by outcome, their
    latency, the breaker's state and the day's quota used. The adapters' guards report here
    (``GuardObserver``); nothing about the query is ever a label.

    The breaker is this process's own (docs/adr/010-shared-adapter-limits.md), so is its gauge; the
    quota used is the deployment's count on PostgreSQL, this process's on SQLite, as of the last
    call this process made."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.calls = Counter(
            "gateway_adapter_calls_total",
            "Verification calls per source by outcome (found, not_found, cached or the error's kind)",
            ["source", "outcome"],
            registry=registry,
        )
        self.latency = Histogram(
            "gateway_adapter_call_duration_seconds",
            "Latency of verification calls not answered from the cache, retries and waits included",
            ["source"],
            registry=registry,
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30),
        )
        self.breaker = Gauge(
            "gateway_adapter_breaker_state",
            "1 for the circuit breaker's current state per source (closed, open, half_open), else 0",
            ["source", "state"],
            registry=registry,
            multiprocess_mode="liveall",  # each process's own breaker, labelled by its pid
        )
        self.quota = Gauge(
            "gateway_adapter_quota_used",
            "Calls counted today (Beijing time) against the source's daily quota",
            ["source"],
            registry=registry,
            multiprocess_mode="livemax",  # the deployment's count, as the last process to call saw it
        )

    def call_finished(self, source: Source, outcome: str, seconds: float) -> None:
        self.calls.labels(source.value, outcome).inc()
        if outcome != "cached":
            self.latency.labels(source.value).observe(seconds)

    def breaker_state(self, source: Source, state: BreakerState) -> None:
        for each in BreakerState:
            self.breaker.labels(source.value, each.value).set(1 if each is state else 0)

    def quota_used(self, source: Source, used: int) -> None:
        self.quota.labels(source.value).set(used)


class _Families:
    """Metric families computed before the scrape, handed to a registry as a collector."""

    def __init__(self, families: Iterable[Metric]) -> None:
        self.families = list(families)

    def collect(self) -> Iterable[Metric]:
        return self.families


def backlog_families(backlog: Backlog) -> list[Metric]:
    waiting = GaugeMetricFamily(
        "gateway_backlog",
        "Rows waiting in each background queue, by queue and state",
        labels=["queue", "state"],
    )
    for (queue, state), rows in sorted(backlog.waiting.items()):
        waiting.add_metric([queue, state], rows)
    feed = GaugeMetricFamily("gateway_feed_latest_version", "The change feed's newest version")
    feed.add_metric([], backlog.feed_version)
    return [waiting, feed]


# The files prometheus-client writes per process for live gauges ("gauge_livesum_<pid>.db", ...).
_LIVE_GAUGE_FILE = re.compile(r"gauge_live[a-z]*_(\d+)\.db")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # somebody else's process
        return True
    return True


def mark_dead_processes(directory: Path) -> list[int]:
    """Drop the live gauges of the processes that left the multiprocess directory without saying so
    (a worker killed or crashed; one that stops cleanly marks itself). uvicorn's supervisor, which
    restarts a dead worker, has no hook to do it when it happens, so each scrape does it first."""
    dead = sorted(
        {
            int(m.group(1))
            for p in directory.glob("gauge_live*.db")
            if (m := _LIVE_GAUGE_FILE.fullmatch(p.name))
        }
    )
    dead = [pid for pid in dead if not _alive(pid)]
    for pid in dead:
        multiprocess.mark_process_dead(pid, str(directory))  # type: ignore[no-untyped-call]
    return dead


def exposition(metrics: Metrics, backlog: Backlog, multiprocess_dir: Path | None) -> bytes:
    """The text a scrape gets: request metrics (this process's, or the machine's in multiprocess
    mode) and the backlog gauges."""
    registry = CollectorRegistry()
    if multiprocess_dir is None:
        registry.register(_Families(metrics.registry.collect()))
    else:
        mark_dead_processes(multiprocess_dir)
        multiprocess.MultiProcessCollector(registry, path=str(multiprocess_dir))  # type: ignore[no-untyped-call]
    registry.register(_Families(backlog_families(backlog)))
    return generate_latest(registry)


_access_log = logging.getLogger("gateway.access")


class RequestContextMiddleware:
    """Request id, access log and metrics for every HTTP request.

    A plain ASGI middleware, not ``@app.middleware("http")``: Starlette's BaseHTTPMiddleware runs
    each request through an extra task and memory streams, a measurable share of a request's CPU."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = Headers(scope=scope).get("x-request-id", "")
        # The id rides in every log line and audit row, outside the masked message: an ID number or
        # G code sent as a request id is masked here, once, like anywhere else.
        valid = _REQUEST_ID.fullmatch(incoming) is not None
        request_id = mask_id_numbers(incoming) if valid else secrets.token_hex(8)
        scope.setdefault("state", {})["request_id"] = request_id
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message)["X-Request-ID"] = request_id
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route_path = getattr(scope.get("route"), "path", "unmatched")
            method = scope["method"]
            self.metrics.requests.labels(route_path, method, str(status)).inc()
            self.metrics.latency.labels(route_path, method).observe(elapsed)
            _access_log.info(
                "%s %s %s",
                method,
                route_path,
                status,
                extra={
                    "method": method,
                    "path": route_path,
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 2),
                },
            )
            request_id_var.reset(token)


class BodySizeLimitMiddleware:
    """Refuse a request body larger than ``limit`` bytes with 413, before any endpoint reads it.

    A declared Content-Length over the limit is refused unread; a body without one (chunked) is
    read up to the limit and handed on. Routes in ``exempt`` (file uploads) cap their bodies
    themselves, while streaming them."""

    def __init__(self, app: ASGIApp, limit: int, exempt: frozenset[tuple[str, str]]) -> None:
        self.app, self.limit, self.exempt = app, limit, exempt

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = problem_response(
            413,
            "Payload too large",
            f"a request body may be at most {self.limit} bytes",
            "payload-too-large",
            Request(scope),
            extra={"limit_bytes": self.limit},
        )
        await response(scope, receive, send)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or (scope["method"], scope["path"]) in self.exempt:
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > self.limit:
            await self._refuse(scope, receive, send)
            return
        if declared.isdigit():  # the server stops at the declared length
            await self.app(scope, receive, send)
            return
        buffered: list[Message] = []
        size = 0
        while True:
            message = await receive()
            buffered.append(message)
            if message["type"] != "http.request":
                break
            size += len(message.get("body", b""))
            if size > self.limit:
                await self._refuse(scope, receive, send)
                return
            if not message.get("more_body", False):
                break

        async def replay() -> Message:
            return buffered.pop(0) if buffered else await receive()

        await self.app(scope, replay, send)


def install_request_middleware(
    app: FastAPI, metrics: Metrics, *, max_body_bytes: int, uploads: frozenset[tuple[str, str]]
) -> None:
    # Added first, so it runs inside the request-id middleware and its 413 carries the request id.
    app.add_middleware(BodySizeLimitMiddleware, limit=max_body_bytes, exempt=uploads)
    app.add_middleware(RequestContextMiddleware, metrics=metrics)

"""Prometheus metrics of one app, and the middleware that counts, times and logs every
request (one ``ledgerhouse.access`` line each)."""

from __future__ import annotations

import logging
import re
import time
import uuid

from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "ledgerhouse_http_requests",
            "HTTP requests",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "ledgerhouse_http_request_seconds",
            "HTTP request latency",
            ["method", "route"],
            registry=self.registry,
        )
        self.ingested = Counter(
            "ledgerhouse_ingested_rows",
            "Rows ingested",
            ["dataset", "outcome"],
            registry=self.registry,
        )
        self.batches = Counter(
            "ledgerhouse_ingest_batches",
            "Batches by status",
            ["dataset", "status"],
            registry=self.registry,
        )
        self.queries = Counter(
            "ledgerhouse_queries", "SQL queries by status", ["status"], registry=self.registry
        )
        self.cache = Counter(
            "ledgerhouse_result_cache", "Result cache lookups", ["outcome"], registry=self.registry
        )
        self.query_latency = Histogram(
            "ledgerhouse_query_seconds",
            "SQL query latency in the engine, by route",
            ["route"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=self.registry,
        )


#: One line per request: ``GET /v1/tables 200 3.1 ms tenant=t user=u request_id=...``.
access_log = logging.getLogger("ledgerhouse.access")
#: A caller's own X-Request-ID is kept when it looks like an id (not a log injection).
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


class ObserveRequests:
    """Counts, times and logs every request by method, route template and status; gives each
    a request id (the caller's ``X-Request-ID`` or a new one), echoed in the response."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = [500]
        request_id = _request_id(scope)
        scope.setdefault("state", {})["request_id"] = request_id

        async def send_and_record(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_and_record)
        finally:
            elapsed = time.perf_counter() - started
            path = getattr(scope.get("route"), "path", "unmatched")
            method = scope.get("method", "")
            self.metrics.requests.labels(method, path, str(status[0])).inc()
            self.metrics.latency.labels(method, path).observe(elapsed)
            if access_log.isEnabledFor(logging.INFO):
                access_log.info(_access_line(scope, status[0], elapsed, request_id))


def _request_id(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            given = value.decode("latin-1")
            if _REQUEST_ID.fullmatch(given):
                return given
    return uuid.uuid4().hex[:16]


def _access_line(scope: Scope, status: int, elapsed_s: float, request_id: str) -> str:
    """The request's path as sent (not its query string, which may hold values), the caller
    once authenticated (api/deps.py keeps the principal in the request state)."""
    who = ""
    principal = scope.get("state", {}).get("principal")
    if principal is not None:
        who = f" tenant={principal.tenant} user={principal.user}"
    return (
        f"{scope.get('method', '')} {scope.get('path', '')} {status} {elapsed_s * 1000:.1f} ms"
        f"{who} request_id={request_id}"
    )

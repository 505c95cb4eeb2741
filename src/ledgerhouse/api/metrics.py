"""Prometheus metrics of one app, and the middleware that counts every request."""

from __future__ import annotations

import time

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


class ObserveRequests:
    """Counts and times every request by method, route template and status."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = [500]

        async def send_and_record(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_record)
        finally:
            path = getattr(scope.get("route"), "path", "unmatched")
            method = scope.get("method", "")
            self.metrics.requests.labels(method, path, str(status[0])).inc()
            self.metrics.latency.labels(method, path).observe(time.perf_counter() - started)

"""Prometheus metrics of one app, and the middleware that counts, times and logs every
request (one ``ledgerhouse.access`` line each)."""

from __future__ import annotations

import contextlib
import logging
import re
import time
import uuid
from collections.abc import Iterator
from typing import Any

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


class TenantMetrics:
    """The ``ledgerhouse_tenant_*`` series, labelled by tenant, read from the usage meter, the
    result cache and admission at each scrape (docs/tenancy/resources.md)."""

    _COUNTERS = (
        ("queries", "queries", "Queries answered"),
        ("query_errors", "query_errors", "Queries failed, refused by the guard or timed out"),
        ("throttled", "throttled", "Requests refused by admission or the rate limit"),
        ("rows_returned", "rows_returned", "Rows returned by queries"),
        ("bytes_scanned", "scanned_bytes", "Bytes of the pinned files queries read"),
        ("cpu_seconds", "cpu_seconds", "Engine CPU seconds of the querying threads"),
        ("ingest_batches", "ingest_batches", "Batches ingested"),
        ("ingested_rows", "ingested_rows", "Rows ingested"),
    )

    def __init__(self, warehouse: Any) -> None:
        self.warehouse = warehouse

    def describe(self) -> list[Any]:
        return []  # nothing is collected at registration (no metadata read then)

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        wh = self.warehouse
        wh.usage.flush()  # the bytes scanned of the queries counted so far
        totals = dict(wh.usage.totals)
        tenants = sorted(set(wh.meta.tenants_store.tenants()) | set(totals))
        for field, name, doc in self._COUNTERS:
            family = CounterMetricFamily(f"ledgerhouse_tenant_{name}", doc, labels=["tenant"])
            for tenant in tenants:
                counts = totals.get(tenant)
                family.add_metric([tenant], float(getattr(counts, field)) if counts else 0.0)
            yield family
        stored = GaugeMetricFamily(
            "ledgerhouse_tenant_storage_bytes", "Bytes of the tenant's files", labels=["tenant"]
        )
        running = GaugeMetricFamily(
            "ledgerhouse_tenant_queries_running", "Queries running now", labels=["tenant"]
        )
        for tenant in tenants:
            with contextlib.suppress(OSError):
                stored.add_metric([tenant], float(wh.usage.storage_bytes(tenant)))
            running.add_metric([tenant], float(wh.queries.admission.running(tenant)))
        yield stored
        yield running
        cache = wh.queries.cache
        if cache is not None:
            stats = cache.stats()
            used = GaugeMetricFamily(
                "ledgerhouse_tenant_cache_bytes", "Result-cache bytes held", labels=["tenant"]
            )
            budget = GaugeMetricFamily(
                "ledgerhouse_tenant_cache_budget_bytes", "Result-cache budget", labels=["tenant"]
            )
            for tenant, s in sorted(stats.items()):
                used.add_metric([tenant], float(s["bytes"]))
                budget.add_metric([tenant], float(s["budget"]))
            yield used
            yield budget

"""The HTTP API: a thin adapter that parses, calls the Warehouse, returns a response model."""

from __future__ import annotations

import asyncio
import time
from typing import Annotated, Any

from fastapi import FastAPI, Header, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ledgerhouse.api.bodies import BoundedBodies
from ledgerhouse.api.deps import Caller
from ledgerhouse.api.errors import install_error_handlers
from ledgerhouse.api.formats import MEDIA, json_response, negotiate, stream
from ledgerhouse.api.schemas import (
    AnalyticsRequest,
    AnomaliesRequest,
    AttributionRequest,
    CorrelationRequest,
    CubeRequest,
    CubeResponse,
    ErrorEnvelope,
    ExposuresRequest,
    KeyRecord,
    KeyRequest,
    KeyResponse,
    PnlRequest,
    ReconcileRequest,
    ReturnsRequest,
    RotatedKeyResponse,
    SqlRequest,
    SqlResponse,
    TradingRequest,
)
from ledgerhouse.errors import LedgerhouseError, PayloadTooLarge
from ledgerhouse.ingest import format_from_content_type
from ledgerhouse.model.values import json_rows
from ledgerhouse.query import CancelToken
from ledgerhouse.semantic import CubeQuery
from ledgerhouse.services import Warehouse
from ledgerhouse.tenancy import authorize

AcceptHeader = Annotated[
    str | None, Header(description="application/json (default), text/csv, Parquet or Arrow.")
]

ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorEnvelope}
    for code in (400, 401, 403, 404, 408, 409, 413, 422, 429, 500, 503)
}


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


def create_app(warehouse: Warehouse) -> FastAPI:
    app = FastAPI(
        title="Ledgerhouse",
        version="0.2.0",
        description="Financial data warehouse: exactly-once ingestion into a Delta Lake star "
        "schema, guarded SQL with time travel. Authenticate with `Authorization: Bearer <key>`.",
    )
    metrics = Metrics()
    app.state.warehouse = warehouse
    app.state.metrics = metrics
    install_error_handlers(app)

    # A plain ASGI middleware, not @app.middleware("http"): Starlette's BaseHTTPMiddleware
    # hides client disconnects from handlers, and queries must stop when their caller leaves.
    # Added first, so it runs inside _ObserveRequests (whose metrics count its refusals):
    # authentication, size and deadline before any body is read (api/bodies.py).
    app.add_middleware(BoundedBodies, warehouse=warehouse)
    app.add_middleware(_ObserveRequests, metrics=metrics)

    @app.get("/healthz", tags=["ops"])
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["ops"], responses=ERRORS)
    def readyz() -> dict[str, str]:
        warehouse.meta.tenants()  # the metadata store answers
        if not warehouse.root.is_dir():
            from ledgerhouse.errors import StorageError

            raise StorageError(f"warehouse root {warehouse.root} is missing")
        return {"status": "ready"}

    @app.get("/metrics", tags=["ops"])
    def prometheus() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.post("/v1/ingest/{dataset}", tags=["ingest"], status_code=201, responses=ERRORS)
    async def ingest(
        dataset: str,
        request: Request,
        response: Response,
        caller: Caller,
        content_type: Annotated[str | None, Header()] = None,
        idempotency_key: Annotated[str | None, Header()] = None,
    ) -> dict[str, Any]:
        """Ingest one batch. The format comes from Content-Type; `Idempotency-Key` is the
        batch id (default: a hash of the content). A resend returns the original report."""
        fmt = format_from_content_type(content_type)
        authorize(caller, "ingest")  # before a byte of the upload is read
        payload = await _read_body(request, warehouse.settings.max_upload_bytes)
        try:
            report = await run_in_threadpool(
                warehouse.ingest,
                dataset,
                payload,
                fmt=fmt,
                batch_id=idempotency_key,
                principal=caller,
            )
        except LedgerhouseError as exc:
            metrics.batches.labels(dataset, "rejected").inc()
            raise exc
        metrics.batches.labels(dataset, report.status).inc()
        if report.status == "duplicate":
            response.status_code = 200
        else:
            metrics.ingested.labels(dataset, "accepted").inc(report.rows_accepted)
            metrics.ingested.labels(dataset, "quarantined").inc(report.rows_quarantined)
        return report.to_dict()

    @app.get("/v1/ingest/batches", tags=["ingest"], responses=ERRORS)
    def batches(
        caller: Caller, limit: Annotated[int, Query(ge=1, le=1000)] = 100
    ) -> list[dict[str, Any]]:
        return warehouse.batches(principal=caller, limit=limit)

    @app.get("/v1/ingest/batches/{batch_id}", tags=["ingest"], responses=ERRORS)
    def batch(batch_id: str, caller: Caller) -> dict[str, Any]:
        return warehouse.batch(batch_id, principal=caller)

    @app.get("/v1/queries", tags=["query"], responses=ERRORS)
    def queries(
        caller: Caller,
        status: Annotated[str | None, Query(description="ok, error, rejected or timeout")] = None,
        slowest: Annotated[bool, Query(description="Slowest first instead of newest")] = False,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> list[dict[str, Any]]:
        """The query log of the caller's tenant."""
        return warehouse.query_log_entries(
            status=status, slowest=slowest, limit=limit, principal=caller
        )

    @app.get("/v1/queries/{query_id}", tags=["query"], responses=ERRORS)
    def query_entry(
        query_id: str,
        caller: Caller,
        plan: Annotated[bool, Query(description="Add DuckDB's plan")] = False,
    ) -> dict[str, Any]:
        return warehouse.query_log_entry(query_id, plan=plan, principal=caller)

    @app.get("/v1/tables", tags=["query"], responses=ERRORS)
    def tables(caller: Caller, as_of: str | None = None) -> list[dict[str, Any]]:
        return warehouse.tables(as_of=as_of, principal=caller)

    @app.get("/v1/commits", tags=["query"], responses=ERRORS)
    def commits(
        caller: Caller, limit: Annotated[int, Query(ge=1, le=1000)] = 100
    ) -> list[dict[str, Any]]:
        return [
            {
                "id": c.id,
                "created_at": c.created_at.isoformat(),
                "operation": c.operation,
                "batch_id": c.batch_id,
                "changed_tables": c.changed_tables,
                "table_versions": c.table_versions,
            }
            for c in warehouse.commits(principal=caller, limit=limit)
        ]

    @app.post(
        "/v1/query/sql",
        tags=["query"],
        response_model=SqlResponse,
        responses={
            **ERRORS,
            200: {
                "content": {m: {} for m in MEDIA},
                "description": "JSON by default; CSV, Parquet or an Arrow IPC stream by Accept, "
                "with X-Query-Id, X-Commit, X-Route, X-Cache-Hit and X-Truncated headers.",
            },
        },
    )
    async def query_sql(body: SqlRequest, caller: Caller, request: Request) -> Any:
        """Run one read-only SQL query over a pinned commit (latest, or `as_of`). The query is
        interrupted past its time limit, and as soon as the client disconnects. The result
        comes as JSON, or as CSV, Parquet or an Arrow IPC stream when `Accept` asks for it."""
        fmt, media = negotiate(request.headers.get("accept"))
        res = await _cancellable(
            request,
            metrics,
            warehouse.query,
            body.sql,
            as_of=body.as_of,
            limit=body.limit,
            params=body.params,
            timeout_s=body.timeout_s,
            explain=body.explain,
            use_cache=body.cache,
            principal=caller,
        )
        if fmt != "json":
            headers = _result_headers(res.query_id, res.commit.id, res.route, res.truncated)
            return StreamingResponse(stream(res.table, fmt), media_type=media, headers=headers)
        return json_response(
            {
                "query_id": res.query_id,
                "columns": res.columns,
                "rows": json_rows(res.table),
                "route": res.route,
                "cache_hit": res.cache_hit,
                "commit": res.commit.id,
                "elapsed_ms": round(res.elapsed_ms, 3),
                "truncated": res.truncated,
            }
        )

    @app.get("/v1/cubes", tags=["cubes"], responses=ERRORS)
    def cubes(caller: Caller, as_of: str | None = None) -> list[dict[str, Any]]:
        """Every cube: measures, dimensions, hierarchies, segments and rollups (with rows)."""
        return warehouse.cubes(as_of=as_of, principal=caller)

    @app.get("/v1/cubes/{cube}", tags=["cubes"], responses=ERRORS)
    def cube_meta(cube: str, caller: Caller, as_of: str | None = None) -> dict[str, Any]:
        """One cube's metadata."""
        warehouse.semantic.cube(cube)  # 404 for an unknown cube
        return next(c for c in warehouse.cubes(as_of=as_of, principal=caller) if c["name"] == cube)

    @app.post(
        "/v1/cubes/{cube}/query",
        tags=["cubes"],
        response_model=CubeResponse,
        responses={
            **ERRORS,
            200: {
                "content": {m: {} for m in MEDIA},
                "description": "JSON by default; CSV, Parquet or an Arrow IPC stream by Accept.",
            },
        },
    )
    async def cube_query(cube: str, body: CubeRequest, caller: Caller, request: Request) -> Any:
        """Answer a cube query (docs/cubes.md) from the smallest rollup that answers it exactly,
        or from the star schema; `dry_run` returns the SQL and the route without running."""
        fmt, media = negotiate(request.headers.get("accept"))
        query = CubeQuery.model_validate(body.model_dump(exclude={"dry_run", "timeout_s", "drill"}))
        if body.drill is not None:
            query = warehouse.cube_drill(
                cube,
                query,
                body.drill.hierarchy,
                up=body.drill.direction == "up",
                value=body.drill.value,
            )
        if body.dry_run:
            res = warehouse.cube(cube, query, dry_run=True, principal=caller)
        else:
            res = await _cancellable(
                request,
                metrics,
                warehouse.cube,
                cube,
                query,
                timeout_s=body.timeout_s,
                principal=caller,
            )
        if fmt != "json" and res.table is not None:
            headers = _result_headers(res.query_id or "", res.commit, res.route, res.truncated)
            return StreamingResponse(stream(res.table, fmt), media_type=media, headers=headers)
        return json_response(
            {**res.to_dict(), "query": query.model_dump(mode="json", exclude_defaults=True)}
        )

    @app.post("/v1/analytics/performance", tags=["analytics"], responses=ERRORS)
    def analytics_performance(
        body: AnalyticsRequest, caller: Caller, accept: AcceptHeader = None
    ) -> Any:
        """Performance and risk per portfolio (every portfolio when none is named): twr,
        annualized_return, mwr, volatility, sharpe, sortino, calmar, max_drawdown (with peak,
        trough and recovery dates), var / expected_shortfall (and at 99%), beta, alpha,
        tracking_error, information_ratio, and errors naming what is undefined and why."""
        report, commit = warehouse.performance(
            body.portfolios,
            start=body.start,
            end=body.end,
            conventions=body.conventions,
            as_of=body.as_of,
            principal=caller,
        )
        return _frame_response(report, commit, accept, conventions=_effective(body.conventions))

    @app.post("/v1/analytics/returns", tags=["analytics"], responses=ERRORS)
    def analytics_returns(body: ReturnsRequest, caller: Caller, accept: AcceptHeader = None) -> Any:
        """Modified Dietz returns per month, quarter or year, chain-linked into the cumulative
        return (flows weighted by the days they were invested)."""
        frame, commit = warehouse.period_returns(
            body.portfolios,
            every=body.every,
            start=body.start,
            end=body.end,
            as_of=body.as_of,
            principal=caller,
        )
        return _frame_response(frame, commit, accept, method="modified_dietz", every=body.every)

    @app.post("/v1/analytics/exposures", tags=["analytics"], responses=ERRORS)
    def analytics_exposures(
        body: ExposuresRequest, caller: Caller, accept: AcceptHeader = None
    ) -> Any:
        """Long, short, gross and net exposure on a date by hierarchy level and breakdowns."""
        frame, commit = warehouse.analytics(caller).exposures(
            body.date, list(body.by), body.level, body.as_of
        )
        return _frame_response(frame, commit, accept)

    @app.post("/v1/analytics/reconcile_positions", tags=["analytics"], responses=ERRORS)
    def analytics_reconcile(
        body: ReconcileRequest, caller: Caller, accept: AcceptHeader = None
    ) -> Any:
        """Positions rebuilt from cumulative trades up to a date, beside the stored snapshot."""
        frame, commit = warehouse.analytics(caller).reconcile_positions(body.date, body.as_of)
        mismatches = int((~frame["matches"]).sum()) if frame.height else 0
        return _frame_response(frame, commit, accept, mismatches=mismatches)

    @app.post("/v1/analytics/pnl", tags=["analytics"], responses=ERRORS)
    def analytics_pnl(body: PnlRequest, caller: Caller, accept: AcceptHeader = None) -> Any:
        """Realized (average cost) and unrealized P&L by portfolio and instrument."""
        frame, commit = warehouse.analytics(caller).pnl(body.date, body.portfolios, body.as_of)
        return _frame_response(frame, commit, accept, cost_method="average_cost")

    @app.post("/v1/analytics/correlation", tags=["analytics"], responses=ERRORS)
    def analytics_correlation(
        body: CorrelationRequest, caller: Caller, accept: AcceptHeader = None
    ) -> Any:
        """Correlation matrix of the portfolios' daily returns (pairwise complete)."""
        frame, commit = warehouse.analytics(caller).correlation(
            body.portfolios, body.start, body.end, body.min_periods, body.as_of
        )
        return _frame_response(frame, commit, accept)

    @app.post("/v1/analytics/attribution", tags=["analytics"], responses=ERRORS)
    def analytics_attribution(
        body: AttributionRequest, caller: Caller, accept: AcceptHeader = None
    ) -> Any:
        """Brinson-Fachler allocation, selection and interaction by sector against each
        portfolio's benchmark, linked over the period (Carino) or per day."""
        frame, commit = warehouse.analytics(caller).attribution(
            body.portfolios, body.start, body.end, body.daily, body.as_of
        )
        return _frame_response(frame, commit, accept, linking="none" if body.daily else "carino")

    @app.post("/v1/analytics/anomalies", tags=["analytics"], status_code=201, responses=ERRORS)
    def analytics_anomalies(body: AnomaliesRequest, caller: Caller) -> dict[str, Any]:
        """Train the trading-activity anomaly model on one window and score another; the
        scores land in `ml_trade_anomaly` (a new commit). Writers and admins only."""
        return warehouse.detect_anomalies(
            body.train_start,
            body.train_end,
            body.score_start,
            body.score_end,
            contamination=body.contamination,
            seed=body.seed,
            principal=caller,
        )

    @app.get("/v1/models", tags=["analytics"], responses=ERRORS)
    def models(caller: Caller) -> list[dict[str, Any]]:
        """Trained models: features, training and scoring commits, parameters, results."""
        return warehouse.models(principal=caller)

    @app.post("/v1/analytics/vwap", tags=["analytics"], responses=ERRORS)
    def analytics_vwap(body: TradingRequest, caller: Caller, accept: AcceptHeader = None) -> Any:
        """VWAP and TWAP per instrument and day."""
        frame, commit = warehouse.analytics(caller).vwap(
            body.start, body.end, body.instrument, body.as_of
        )
        return _frame_response(frame, commit, accept)

    @app.post("/v1/analytics/slippage", tags=["analytics"], responses=ERRORS)
    def analytics_slippage(
        body: TradingRequest, caller: Caller, accept: AcceptHeader = None
    ) -> Any:
        """Each trade against the prevailing close (as-of join), slippage in basis points."""
        frame, commit = warehouse.analytics(caller).slippage(
            body.start, body.end, body.instrument, body.as_of
        )
        return _frame_response(frame, commit, accept)

    @app.post(
        "/v1/keys", tags=["admin"], status_code=201, response_model=KeyResponse, responses=ERRORS
    )
    def create_key(body: KeyRequest, caller: Caller) -> dict[str, Any]:
        """Create an API key for a user of the caller's tenant (admins only)."""
        key = warehouse.create_api_key(body.user, tuple(body.roles), principal=caller)
        return {"user": body.user, "roles": body.roles, "api_key": key}

    @app.get("/v1/keys", tags=["admin"], response_model=list[KeyRecord], responses=ERRORS)
    def list_keys(
        caller: Caller,
        active: Annotated[bool, Query(description="Only the keys not revoked")] = False,
    ) -> list[dict[str, Any]]:
        """The API keys of the caller's tenant (admins only), without their secrets."""
        return [k.to_dict() for k in warehouse.list_api_keys(active=active, principal=caller)]

    @app.post(
        "/v1/keys/{key_id}/revoke", tags=["admin"], response_model=KeyRecord, responses=ERRORS
    )
    def revoke_key(
        key_id: int,
        caller: Caller,
        force: Annotated[bool, Query(description="Revoke even the last admin key")] = False,
    ) -> dict[str, Any]:
        """Revoke a key of the caller's tenant (admins only): it fails from the next request on.
        The tenant's last admin key answers 409 unless `force=true`."""
        return warehouse.revoke_api_key(key_id, force=force, principal=caller).to_dict()

    @app.post(
        "/v1/keys/{key_id}/rotate",
        tags=["admin"],
        status_code=201,
        response_model=RotatedKeyResponse,
        responses=ERRORS,
    )
    def rotate_key(key_id: int, caller: Caller) -> dict[str, Any]:
        """A new secret for the same user and roles (shown once); the old key is revoked at
        once (admins only)."""
        issued = warehouse.rotate_api_key(key_id, principal=caller)
        return {**issued.key.to_dict(), "api_key": issued.secret, "replaces": key_id}

    return app


async def _cancellable(request: Request, metrics: Metrics, fn: Any, *args: Any, **kw: Any) -> Any:
    """Run a query in the thread pool; interrupt it as soon as the client disconnects."""
    token = CancelToken()
    task = asyncio.ensure_future(run_in_threadpool(fn, *args, cancel=token, **kw))
    try:
        while not task.done():
            await asyncio.wait({task}, timeout=0.1)
            if not task.done() and await request.is_disconnected():
                token.cancel()
        res = await task
    except LedgerhouseError:
        metrics.queries.labels("error").inc()
        raise
    metrics.queries.labels("ok").inc()
    metrics.query_latency.labels(res.route).observe(res.elapsed_ms / 1000)
    metrics.cache.labels("hit" if res.cache_hit else "miss").inc()
    return res


def _effective(conventions: dict[str, Any] | None) -> dict[str, Any]:
    """The conventions a report used: the request's, over the defaults (already validated
    by the report itself)."""
    from ledgerhouse.analytics import Conventions

    return Conventions.model_validate(conventions or {}).model_dump()


def _frame_response(frame: Any, commit: int, accept: str | None = None, **extra: Any) -> Any:
    """An analytics answer: JSON, or CSV / Parquet / an Arrow IPC stream by Accept."""
    fmt, media = negotiate(accept)
    if fmt != "json":
        import polars as pl

        if fmt == "csv":  # CSV has no lists: join them
            lists = [c for c, t in frame.schema.items() if isinstance(t, pl.List)]
            frame = frame.with_columns(pl.col(c).list.join("; ") for c in lists)
        table = frame.to_arrow(compat_level=pl.CompatLevel.oldest())
        headers = {"X-Commit": str(commit), "X-Route": "analytics"}
        return StreamingResponse(stream(table, fmt), media_type=media, headers=headers)
    return json_response(
        {
            "commit": commit,
            **extra,
            "columns": [{"name": n, "type": str(t)} for n, t in frame.schema.items()],
            "rows": json_rows(frame.to_arrow()),
        }
    )


def _result_headers(query_id: str, commit: int, route: str, truncated: bool) -> dict[str, str]:
    return {
        "X-Query-Id": query_id,
        "X-Commit": str(commit),
        "X-Route": route,
        "X-Cache-Hit": str(route == "cache").lower(),
        "X-Truncated": str(truncated).lower(),
    }


class _ObserveRequests:
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


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(
            f"payload of {int(declared):,} bytes exceeds the {limit:,}-byte limit",
            hint="Split the batch, or raise LEDGERHOUSE_MAX_UPLOAD_BYTES.",
        )
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(
                f"payload exceeds the {limit:,}-byte limit",
                hint="Split the batch, or raise LEDGERHOUSE_MAX_UPLOAD_BYTES.",
            )
        chunks.append(chunk)
    return b"".join(chunks)

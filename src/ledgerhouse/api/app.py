"""The HTTP API: ``create_app`` composes the routers (api/routers/, one per area), the error
handlers (api/errors.py), the bounded-bodies middleware and the metrics. A route parses, calls
the Warehouse, and returns a response model (api/schemas/)."""

from __future__ import annotations

from fastapi import FastAPI

from ledgerhouse.api.bodies import BoundedBodies
from ledgerhouse.api.docs import install_docs
from ledgerhouse.api.errors import install_error_handlers
from ledgerhouse.api.metrics import Metrics, ObserveRequests, TenantMetrics
from ledgerhouse.api.ratelimit import tenant_rate_limiter
from ledgerhouse.api.routers import ROUTERS
from ledgerhouse.services import Warehouse


def create_app(warehouse: Warehouse) -> FastAPI:
    app = FastAPI(
        title="Ledgerhouse",
        version="0.2.0",
        description="Financial data warehouse: exactly-once ingestion into a Delta Lake star "
        "schema, guarded SQL with time travel. Authenticate with `Authorization: Bearer <key>`.",
        docs_url=None,  # served by install_docs, with local assets
        redoc_url=None,
    )
    metrics = Metrics()
    app.state.warehouse = warehouse
    app.state.metrics = metrics
    # per-tenant request rates and usage series (docs/tenancy/resources.md)
    app.state.rate_limiter = tenant_rate_limiter(warehouse)
    metrics.registry.register(TenantMetrics(warehouse))
    install_error_handlers(app)

    # A plain ASGI middleware, not @app.middleware("http"): Starlette's BaseHTTPMiddleware
    # hides client disconnects from handlers, and queries must stop when their caller leaves.
    # Added first, so it runs inside ObserveRequests (whose metrics count its refusals):
    # authentication, size and deadline before any body is read (api/bodies.py).
    app.add_middleware(BoundedBodies, warehouse=warehouse)
    app.add_middleware(ObserveRequests, metrics=metrics)

    for router in ROUTERS:
        app.include_router(router)
    install_docs(app)
    return app

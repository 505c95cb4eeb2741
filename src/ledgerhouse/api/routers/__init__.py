"""The API's routers, one per area; ``create_app`` includes them in this order."""

from fastapi import APIRouter

from ledgerhouse.api.routers import (
    admin,
    analytics,
    audit,
    catalog,
    cubes,
    governance,
    ingest,
    lineage,
    metadata,
    openlineage,
    ops,
    quality,
    query,
)

ROUTERS: tuple[APIRouter, ...] = (
    ops.router,
    ingest.router,
    query.router,
    cubes.router,
    analytics.router,
    admin.router,
    audit.router,
    # before lineage: /v1/lineage/events is not a relation named "events"
    openlineage.router,
    lineage.router,
    metadata.router,
    catalog.router,
    quality.router,
    governance.router,
)

__all__ = ["ROUTERS"]

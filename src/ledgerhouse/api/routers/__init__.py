"""The API's routers, one per area; ``create_app`` includes them in this order."""

from fastapi import APIRouter

from ledgerhouse.api.routers import admin, analytics, cubes, ingest, ops, query

ROUTERS: tuple[APIRouter, ...] = (
    ops.router,
    ingest.router,
    query.router,
    cubes.router,
    analytics.router,
    admin.router,
)

__all__ = ["ROUTERS"]

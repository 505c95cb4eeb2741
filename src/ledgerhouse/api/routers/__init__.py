"""The API's routers, one per area; ``create_app`` includes them in this order."""

from fastapi import APIRouter

from ledgerhouse.api.routers import (
    access,
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
    resources,
    schema,
    tenants,
)

ROUTERS: tuple[APIRouter, ...] = (
    ops.router,
    ingest.router,
    query.router,
    cubes.router,
    analytics.router,
    admin.router,
    access.router,  # roles, grants, row and column policies (docs/tenancy/access.md)
    audit.router,
    # before lineage: /v1/lineage/events is not a relation named "events"
    openlineage.router,
    lineage.router,
    metadata.router,
    catalog.router,
    quality.router,
    governance.router,
    resources.router,  # per-tenant limits and usage (docs/tenancy/resources.md)
    tenants.router,  # platform admins (docs/tenancy/lifecycle.md)
    schema.router,  # the tenant's own schema (docs/tenancy/schemas.md)
)

__all__ = ["ROUTERS"]

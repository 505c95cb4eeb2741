"""Resources per tenant (platform admins set them; a tenant's admin reads them) and metered
usage (docs/tenancy/resources.md)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from ledgerhouse.api.deps import Caller, Wh
from ledgerhouse.api.schemas import ERRORS
from ledgerhouse.api.schemas.resources import ResourceOverrides, TenantResourcesRecord, UsageRecord

router = APIRouter(tags=["resources"], responses=ERRORS)

Since = Annotated[
    str | None, Query(description="From this time (ISO), or a duration back: 24h, 7d.")
]
Until = Annotated[str | None, Query(description="Before this time (ISO).")]


@router.get("/v1/tenants/{tenant}/resources")
def show_resources(tenant: str, caller: Caller, wh: Wh) -> TenantResourcesRecord:
    """The tenant's overrides, the limits in force and the server's defaults (a platform
    admin, or the tenant's own admin or auditor)."""
    return TenantResourcesRecord(**wh.resources.show(caller, tenant))


@router.put("/v1/tenants/{tenant}/resources")
def set_resources(
    tenant: str, body: ResourceOverrides, caller: Caller, wh: Wh
) -> TenantResourcesRecord:
    """Replace the tenant's overrides (platform admins only): a field left out or null is the
    server's setting. Applies without a restart."""
    values = body.model_dump(exclude_none=True)
    return TenantResourcesRecord(**wh.resources.set(caller, tenant, values, replace=True))


@router.get("/v1/usage")
def own_usage(caller: Caller, wh: Wh, since: Since = None, until: Until = None) -> UsageRecord:
    """The caller's tenant's metered usage, per hour (its admin or auditor)."""
    return UsageRecord(**wh.usage.usage(caller, None, since=since, until=until))


@router.get("/v1/tenants/{tenant}/usage")
def tenant_usage(
    tenant: str, caller: Caller, wh: Wh, since: Since = None, until: Until = None
) -> UsageRecord:
    """A tenant's metered usage, per hour (a platform admin, or the tenant's own admin)."""
    return UsageRecord(**wh.usage.usage(caller, tenant, since=since, until=until))

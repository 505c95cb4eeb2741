"""Tenants, managed by platform admins (a platform key): create, list, suspend, resume,
delete (export first) and purge. A tenant's own keys, even an admin's, get 403."""

from __future__ import annotations

from fastapi import APIRouter

from ledgerhouse.api.deps import Caller, Wh
from ledgerhouse.api.schemas import ERRORS
from ledgerhouse.api.schemas.tenants import (
    TenantCreated,
    TenantCreateRequest,
    TenantDeletedRecord,
    TenantDeleteRequest,
    TenantPurgedRecord,
    TenantRecord,
    TenantSuspendRequest,
)

router = APIRouter(prefix="/v1/tenants", tags=["tenants"], responses=ERRORS)


@router.get("")
def list_tenants(wh: Wh, caller: Caller) -> list[TenantRecord]:
    """Every tenant: status, created, suspended and deleted times, purge date, latest commit,
    storage bytes (platform admins only)."""
    return [TenantRecord.of(t) for t in wh.platform_session(caller).tenants()]


@router.post("", status_code=201)
def create_tenant(body: TenantCreateRequest, wh: Wh, caller: Caller) -> TenantCreated:
    """Create a tenant and return its first admin key, shown once (platform admins only)."""
    me = wh.platform_session(caller)
    created = me.create_tenant(body.name)
    return TenantCreated.of(created, me.tenant(body.name))


@router.get("/{name}")
def get_tenant(name: str, wh: Wh, caller: Caller) -> TenantRecord:
    return TenantRecord.of(wh.platform_session(caller).tenant(name))


@router.post("/{name}/suspend")
def suspend_tenant(
    name: str, wh: Wh, caller: Caller, body: TenantSuspendRequest | None = None
) -> TenantRecord:
    """Refuse every key and token of the tenant (403 `tenant_suspended`) from the next
    request on; its data is kept, its engine and cached results are released."""
    reason = body.reason if body else None
    return TenantRecord.of(wh.platform_session(caller).suspend_tenant(name, reason=reason))


@router.post("/{name}/resume")
def resume_tenant(name: str, wh: Wh, caller: Caller) -> TenantRecord:
    """Restore a suspended tenant, or a deleted one that is not purged yet."""
    return TenantRecord.of(wh.platform_session(caller).resume_tenant(name))


@router.post("/{name}/delete")
def delete_tenant(
    name: str, wh: Wh, caller: Caller, body: TenantDeleteRequest | None = None
) -> TenantDeletedRecord:
    """Export every table at the latest commit (Parquet and a manifest, under the server's
    <root>/_exports), then mark the tenant deleted (403 `tenant_deleted`) until its
    retention passes."""
    body = body or TenantDeleteRequest()
    me = wh.platform_session(caller)
    deleted = me.delete_tenant(name, retention_days=body.retention_days, reason=body.reason)
    return TenantDeletedRecord.of(deleted, me.tenant(name))


@router.post("/{name}/purge")
def purge_tenant(name: str, wh: Wh, caller: Caller) -> TenantPurgedRecord:
    """Remove a deleted tenant's files and metadata once its retention has passed (409
    `purge_not_due` before, naming the date); its export stays."""
    return TenantPurgedRecord.of(wh.platform_session(caller).purge_tenant(name))

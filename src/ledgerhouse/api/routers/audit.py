"""The audit trail of the caller's tenant (auditors and admins): its entries and a
verification of its hash chain."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from ledgerhouse.api.deps import Me
from ledgerhouse.api.schemas import ERRORS
from ledgerhouse.api.schemas.audit import AuditEntryRecord, AuditVerifyReport

router = APIRouter(prefix="/v1/audit", tags=["governance"], responses=ERRORS)


@router.get("")
def audit_entries(
    me: Me,
    user: Annotated[str | None, Query(description="Only this user's entries")] = None,
    action: Annotated[str | None, Query(description="query, cube, export, ingest, ...")] = None,
    relation: Annotated[str | None, Query(description="Entries that read or wrote it")] = None,
    since: Annotated[str | None, Query(description="ISO date or time, inclusive")] = None,
    until: Annotated[
        str | None, Query(description="ISO date (whole day) or time, exclusive")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
) -> list[AuditEntryRecord]:
    """The audit entries of the caller's tenant, newest first (auditors and admins)."""
    found = me.audit_entries(
        user=user, action=action, relation=relation, since=since, until=until, limit=limit
    )
    return [AuditEntryRecord.model_validate(e) for e in found]


@router.get("/verify")
def verify_audit(
    me: Me,
    expect_head: Annotated[
        str | None, Query(description="A head hash kept from an earlier verify (the anchor)")
    ] = None,
) -> AuditVerifyReport:
    """Recompute the tenant's hash chain; `ok` is false, with each problem, when an entry was
    edited, deleted, moved or cut off the end (auditors and admins)."""
    return AuditVerifyReport.model_validate(me.verify_audit(expect_head=expect_head))

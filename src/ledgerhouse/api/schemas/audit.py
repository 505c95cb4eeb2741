"""The audit trail's records: an entry (GET /v1/audit, `ledgerhouse audit list --json`) and a
verification report (GET /v1/audit/verify, `ledgerhouse audit verify --json`)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class AuditEntryRecord(BaseModel):
    """One entry of the tenant's hash-chained audit trail."""

    seq: int = Field(description="Position in the tenant's chain: 1, 2, 3... with no gap.")
    at: str = Field(description="ISO 8601, UTC.")
    tenant: str
    user: str
    roles: list[str]
    action: str = Field(
        description="query, cube, analytics, export, ingest, ingest_rejected, key_create, "
        "key_revoke, key_rotate, metadata_change, audit_read, ..."
    )
    relations: dict[str, Any] | None = Field(
        description="The relations read or written: {relation: pinned Delta version}."
    )
    columns: dict[str, list[str]] | None = Field(
        description="The columns read per relation (None when not analysed)."
    )
    rows: int | None = Field(description="Rows returned (a read) or stored (an ingestion).")
    query_id: str | None
    batch_id: str | None
    status: str
    detail: dict[str, Any] | None
    prev_hash: str = Field(description="The previous entry's hash (64 zeros for the first).")
    hash: str = Field(description="SHA-256 of the canonical JSON of every field above.")


class AuditProblem(BaseModel):
    seq: int | None
    kind: str = Field(
        description="edited, moved, hash_mismatch, missing, broken_link, truncated, "
        "head_mismatch, head_missing or anchor_not_found"
    )
    message: str
    fields: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="An edit: each field's recorded and stored value."
    )


class AuditVerifyReport(BaseModel):
    """The tenant's chain recomputed from its first entry."""

    tenant: str
    ok: bool
    entries_checked: int
    head_seq: int
    head_hash: str = Field(
        description="Keep it outside the database: the anchor of a later verify."
    )
    last_seq: int
    anchor: dict[str, Any] | None = Field(
        description="With expect_head: the hash and the seq it was found at (None: not found)."
    )
    problems: list[AuditProblem]

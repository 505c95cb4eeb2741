"""The tenant lifecycle's records and request bodies (platform admins; GET /v1/tenants and the
others, ``ledgerhouse tenants ... --json``)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from ledgerhouse.tenancy.lifecycle import (
        CreatedTenant,
        DeletedTenant,
        PurgedTenant,
        TenantInfo,
    )

_TENANT = r"^[a-z][a-z0-9_-]{0,62}$"


class TenantRecord(BaseModel):
    """A tenant: its status, who changed it last and why, its latest commit and its size."""

    name: str
    status: str = Field(description="active, suspended or deleted (exported, pending purge).")
    created_at: datetime
    reason: str | None = Field(description="The reason given with the last status change.")
    changed_by: str | None = Field(description="The platform admin who changed it last.")
    suspended_at: datetime | None
    deleted_at: datetime | None
    purge_after: datetime | None = Field(
        description="A deleted tenant may be purged from then on; it can be resumed until."
    )
    latest_commit: int | None
    latest_commit_at: datetime | None
    storage_bytes: int = Field(description="The bytes of the files under the tenant's root.")

    @classmethod
    def of(cls, info: TenantInfo) -> TenantRecord:
        return cls.model_validate(info.to_dict())


class TenantCreated(BaseModel):
    tenant: TenantRecord
    admin_api_key: str = Field(description="The tenant's first admin key: shown once.")

    @classmethod
    def of(cls, created: CreatedTenant, info: TenantInfo) -> TenantCreated:
        return cls(tenant=TenantRecord.of(info), admin_api_key=created.admin_key)


class TenantExportRecord(BaseModel):
    directory: str = Field(description="Where the Parquet files and manifest.json are.")
    commit_id: int | None = Field(description="The warehouse commit the tables were read at.")
    relations: dict[str, Any] = Field(
        description="{relation: {file, rows, version, bytes, sha256}}"
    )
    manifest_sha256: str


class TenantDeletedRecord(BaseModel):
    tenant: TenantRecord
    export: TenantExportRecord

    @classmethod
    def of(cls, deleted: DeletedTenant, info: TenantInfo) -> TenantDeletedRecord:
        m = deleted.export.manifest
        return cls(
            tenant=TenantRecord.of(info),
            export=TenantExportRecord(
                directory=str(deleted.export.directory),
                commit_id=m["commit_id"],
                relations=m["relations"],
                manifest_sha256=m["manifest_sha256"],
            ),
        )


class TenantPurgedRecord(BaseModel):
    name: str
    purged_at: datetime
    files_removed: int
    bytes_removed: int
    metadata_rows: dict[str, int] = Field(description="{table: rows deleted}")

    @classmethod
    def of(cls, purged: PurgedTenant) -> TenantPurgedRecord:
        return cls.model_validate(purged.to_dict())


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TenantCreateRequest(_Strict):
    name: str = Field(pattern=_TENANT, description="Lower-case letters, digits, '_' or '-'.")


class TenantSuspendRequest(_Strict):
    reason: str | None = Field(
        default=None, max_length=500, description="Why; the refusals name it."
    )


class TenantDeleteRequest(_Strict):
    reason: str | None = Field(default=None, max_length=500)
    retention_days: int | None = Field(
        default=None,
        ge=0,
        le=36_500,
        description="Days before it may be purged (default: the tenant_retention_days "
        "setting); 0 allows a purge at once.",
    )

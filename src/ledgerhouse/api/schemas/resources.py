"""Resources per tenant and metered usage (docs/tenancy/resources.md): the API's bodies and
records, also what the CLI prints with ``--json``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class ResourceOverrides(BaseModel):
    """A tenant's overrides; a field left out (or null) is the server's setting."""

    model_config = ConfigDict(extra="forbid")

    duckdb_memory_limit: str | None = Field(None, description="Engine memory, e.g. '2GB'.")
    duckdb_threads: int | None = Field(None, description="Engine threads (1-256).")
    query_concurrency: int | None = Field(None, description="Queries running at once.")
    query_queue: int | None = Field(None, description="Queries waiting for a slot.")
    query_row_limit: int | None = Field(None, description="Most rows a query returns.")
    storage_quota_bytes: int | None = Field(None, description="Bytes the tenant may store.")
    rate_limit_per_s: float | None = Field(None, description="Requests per second.")
    rate_limit_burst: int | None = Field(None, description="Requests above the rate at once.")
    result_cache_bytes: int | None = Field(None, description="Result-cache budget in bytes.")


class TenantResourcesRecord(BaseModel):
    tenant: str
    overrides: dict[str, Any]
    effective: dict[str, Any]
    defaults: dict[str, Any]


class UsageHour(BaseModel):
    tenant: str
    hour: datetime
    queries: int
    query_errors: int
    throttled: int
    rows_returned: int
    bytes_scanned: int
    cpu_seconds: float
    ingest_batches: int
    ingested_rows: int
    storage_bytes: int | None


class TenantUsage(BaseModel):
    tenant: str
    totals: dict[str, float]
    storage_bytes: int | None
    hours: list[UsageHour]


class UsageRecord(BaseModel):
    since: datetime | None
    until: datetime | None
    tenants: list[TenantUsage]

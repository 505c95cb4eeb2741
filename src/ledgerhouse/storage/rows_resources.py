"""The resource tables (migration 0012): a tenant's resource overrides and its metered usage."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Float, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from ledgerhouse.storage.rows import Base


class TenantResourcesRow(Base):
    """One tenant's overrides of the server-wide limits; a NULL column is the default."""

    __tablename__ = "tenant_resources"
    tenant_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    duckdb_memory_limit: Mapped[str | None] = mapped_column(String(32), nullable=True)
    duckdb_threads: Mapped[int | None] = mapped_column(Integer, nullable=True)
    query_concurrency: Mapped[int | None] = mapped_column(Integer, nullable=True)
    query_queue: Mapped[int | None] = mapped_column(Integer, nullable=True)
    query_row_limit: Mapped[int | None] = mapped_column(Integer, nullable=True)
    storage_quota_bytes: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    rate_limit_per_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    rate_limit_burst: Mapped[int | None] = mapped_column(Integer, nullable=True)
    result_cache_bytes: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_by: Mapped[str] = mapped_column(String(128))


class TenantUsageRow(Base):
    """What one tenant used in one hour (UTC), summed by the usage meter's flushes."""

    __tablename__ = "tenant_usage"
    tenant_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    hour: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    queries: Mapped[int] = mapped_column(Integer, default=0)
    query_errors: Mapped[int] = mapped_column(Integer, default=0)
    throttled: Mapped[int] = mapped_column(Integer, default=0)
    rows_returned: Mapped[int] = mapped_column(BigInteger, default=0)
    bytes_scanned: Mapped[int] = mapped_column(BigInteger, default=0)
    cpu_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    ingest_batches: Mapped[int] = mapped_column(Integer, default=0)
    ingested_rows: Mapped[int] = mapped_column(BigInteger, default=0)
    #: the tenant's stored bytes when the hour was last flushed (a level, not a sum)
    storage_bytes: Mapped[int | None] = mapped_column(BigInteger, nullable=True)

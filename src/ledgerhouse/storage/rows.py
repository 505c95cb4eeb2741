"""The metadata store's tables as SQLAlchemy ORM rows (one declarative ``Base``).

Alembic migrations (``storage/migrations``) create and upgrade them; a change here needs a
migration.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def _now() -> datetime:
    return datetime.now(UTC)


def _aware(ts: datetime) -> datetime:
    # SQLite returns naive datetimes; every stored time is UTC.
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    pass


class TenantRow(Base):
    __tablename__ = "tenants"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    key_generation: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    #: bumped by every change of the tenant's roles, grants or policies (migration 0010)
    access_generation: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    #: the lifecycle (migration 0011, storage/tenants.py): active | suspended | deleted, the
    #: reason and author of the last change, and when the tenant may be purged once deleted
    status: Mapped[str] = mapped_column(String(16), default="active", server_default="active")
    status_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    status_by: Mapped[str | None] = mapped_column(String(128), nullable=True)
    suspended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    purge_after: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class ApiKeyRow(Base):
    __tablename__ = "api_keys"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user: Mapped[str] = mapped_column(String(128))
    roles: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    #: {name: [values]} the key's principal carries (row policies' parameters; migration 0010)
    attributes: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)


class CommitRow(Base):
    __tablename__ = "warehouse_commits"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    operation: Mapped[str] = mapped_column(String(64))
    batch_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    table_versions: Mapped[dict[str, int]] = mapped_column(JSON)
    changed_tables: Mapped[list[str]] = mapped_column(JSON)


class BatchRow(Base):
    __tablename__ = "ingest_batches"
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), primary_key=True)
    batch_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    dataset: Mapped[str] = mapped_column(String(64))
    # committed | rejected | rejected_by_quality (32 characters since migration 0006)
    status: Mapped[str] = mapped_column(String(32))
    commit_id: Mapped[int | None] = mapped_column(ForeignKey("warehouse_commits.id"), nullable=True)
    report: Mapped[dict[str, Any]] = mapped_column(JSON)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class QueryLogRow(Base):
    __tablename__ = "query_log"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(64), index=True)
    user: Mapped[str] = mapped_column(String(128))
    fingerprint: Mapped[str] = mapped_column(String(32))
    text: Mapped[str] = mapped_column(Text)
    route: Mapped[str] = mapped_column(String(64))
    commit_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    duration_ms: Mapped[float] = mapped_column(Float)
    rows: Mapped[int] = mapped_column(Integer)
    bytes: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    #: a cube or analytics call's request (None for SQL); {relation: pinned Delta version};
    #: {relation: [columns read]} (computed off the query path; None when not analysed)
    request: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    relations: Mapped[dict[str, int | None] | None] = mapped_column(JSON, nullable=True)
    columns: Mapped[dict[str, list[str]] | None] = mapped_column(JSON, nullable=True)
    #: the query's parameters, type-tagged (storage/query_store.py ``encode_params``); None
    #: without parameters (and before migration 0009)
    params: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)


class ModelRow(Base):
    __tablename__ = "ml_models"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    training_commit: Mapped[int] = mapped_column(Integer)
    scoring_commit: Mapped[int | None] = mapped_column(Integer, nullable=True)
    info: Mapped[dict[str, Any]] = mapped_column(JSON)

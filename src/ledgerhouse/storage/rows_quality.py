"""The metadata store's rows of data quality: a tenant's own checks and every check result
(migration 0006)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ledgerhouse.storage.rows import Base


class QualityCheckRow(Base):
    """A check a tenant added (API, CLI, library); built-in and cube-folder checks live in
    files, not here."""

    __tablename__ = "quality_checks"
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), primary_key=True)
    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    relation: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(64))
    severity: Mapped[str] = mapped_column(String(16))
    #: the validated declaration (CheckSpec.to_dict)
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class QualityResultRow(Base):
    """One check's verdict on one commit (``commit_id``), or on a batch it kept from being
    committed (``batch_id``, no commit)."""

    __tablename__ = "quality_results"
    __table_args__ = (
        Index("ix_quality_results_tenant_check", "tenant_id", "check_name", "id"),
        Index("ix_quality_results_tenant_relation", "tenant_id", "relation", "id"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(String(64), index=True)
    check_name: Mapped[str] = mapped_column(String(128))
    relation: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(64))
    severity: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))  # pass | warn | fail | error | skipped
    failing: Mapped[int] = mapped_column(Integer)
    rows_checked: Mapped[int] = mapped_column(Integer)
    #: what a history-based check observed (a volume check's row count), for the next verdicts
    observed: Mapped[float | None] = mapped_column(Float, nullable=True)
    sample: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)
    message: Mapped[str] = mapped_column(Text)
    duration_ms: Mapped[float] = mapped_column(Float)
    commit_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    batch_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    trigger: Mapped[str] = mapped_column(String(16))  # commit | on_demand
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)

"""The audit trail's tables (``storage/audit.py``): the entries of each tenant's hash chain,
and each tenant's chain head (its last seq and hash), updated with every append.

Created by migration 0005; a change here needs a migration.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ledgerhouse.storage.rows import Base


class AuditEntryRow(Base):
    """One audit entry: ``hash`` is the SHA-256 of ``canonical``, the canonical JSON of every
    other field (``prev_hash`` included), which is kept so that ``verify`` can say which
    field of an edited row changed."""

    __tablename__ = "audit_log"
    tenant_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    user: Mapped[str] = mapped_column(String(128))
    roles: Mapped[list[str]] = mapped_column(JSON)
    action: Mapped[str] = mapped_column(String(32))
    relations: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    columns: Mapped[dict[str, list[str]] | None] = mapped_column(JSON, nullable=True)
    rows: Mapped[int | None] = mapped_column(Integer, nullable=True)
    query_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    batch_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    status: Mapped[str] = mapped_column(String(32))
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
    canonical: Mapped[str] = mapped_column(Text)


class AuditHeadRow(Base):
    """A tenant's chain head: an append moves it from ``seq`` to ``seq + 1`` with a
    compare-and-set on ``seq``, in the transaction that inserts the entry."""

    __tablename__ = "audit_heads"
    tenant_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64))

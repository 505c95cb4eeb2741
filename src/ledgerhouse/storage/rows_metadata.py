"""Rows of governance metadata (migration 0008): the annotations a tenant's stewards lay over
the built-in descriptions, the tenant's glossary, and every change to either (versioned: who,
when, before and after, why)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ledgerhouse.storage.rows import Base


class AnnotationRow(Base):
    """One object's overrides (a null field inherits the built-in value)."""

    __tablename__ = "metadata_annotations"
    tenant_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    #: table, column, cube, measure, dimension or term
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    #: ``fact_trade``, ``fact_trade.price``, ``trades``, ``trades.notional``, ``NAV``
    name: Mapped[str] = mapped_column(String(256), primary_key=True)
    #: the overridden fields: owner, description, tags, classifications, terms, definition,
    #: synonyms (absent = the built-in value)
    fields: Mapped[dict[str, Any]] = mapped_column(JSON)
    version: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_by: Mapped[str] = mapped_column(String(128))


class MetadataChangeRow(Base):
    """One edit of one object: the fields it changed, before and after."""

    __tablename__ = "metadata_changes"
    __table_args__ = (
        Index("ix_metadata_changes_object", "tenant_id", "kind", "name", "id"),
        Index("ix_metadata_changes_tenant_at", "tenant_id", "changed_at"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(256))
    version: Mapped[int] = mapped_column(Integer)
    before: Mapped[dict[str, Any]] = mapped_column(JSON)
    after: Mapped[dict[str, Any]] = mapped_column(JSON)
    user: Mapped[str] = mapped_column(String(128))
    roles: Mapped[str] = mapped_column(String(256))
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    #: the warehouse commit that wrote a description into the Delta table's log, if any
    commit_id: Mapped[int | None] = mapped_column(Integer, nullable=True)

"""The metadata store's rows of tenant schemas: each tenant's own dimension extensions, cubes
and marts, and the generation that changes with every one of them (migration 0013)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from ledgerhouse.storage.rows import Base


class TenantSchemaObjectRow(Base):
    """One object of a tenant's own schema: an ``extension`` of a dimension, a ``cube`` or a
    ``mart``, with its validated declaration."""

    __tablename__ = "tenant_schema_objects"
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)  # extension | cube | mart
    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    #: the validated declaration (an extension's attributes, a cube's YAML, a mart's SQL)
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class TenantSchemaGenerationRow(Base):
    """Bumped by every change of a tenant's schema: a process holding the tenant's relations
    and cubes in memory re-reads them when it differs (one primary-key read per use)."""

    __tablename__ = "tenant_schema_generations"
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), primary_key=True)
    generation: Mapped[int] = mapped_column(Integer)

"""The lineage tables (``storage/lineage.py``): each distinct graph once, by digest, and the
digest in force at each warehouse commit.

Created by migration 0007; a change here needs a migration.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from ledgerhouse.storage.rows import Base


class LineageSnapshotRow(Base):
    """One lineage graph (``LineageGraph.to_dict()``), stored once whatever the number of
    commits and tenants that share it."""

    __tablename__ = "lineage_snapshots"
    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    graph: Mapped[dict[str, Any]] = mapped_column(JSON)


class CommitLineageRow(Base):
    """The graph in force when a tenant's warehouse commit was made."""

    __tablename__ = "commit_lineage"
    tenant_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    commit_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    digest: Mapped[str] = mapped_column(ForeignKey("lineage_snapshots.digest"), index=True)

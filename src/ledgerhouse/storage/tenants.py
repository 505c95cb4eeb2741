"""Tenants in the metadata store: created once, listed."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from ledgerhouse.storage.rows import TenantRow, _now


class TenantStore:
    def __init__(self, engine: Engine, sessions: sessionmaker[Session]) -> None:
        self._engine = engine
        self._sessions = sessions

    def ensure_tenant(self, tenant: str) -> bool:
        """Create the tenant unless it exists; True when it was created now."""
        with self._sessions.begin() as s:
            if s.get(TenantRow, tenant) is not None:
                return False
            s.add(TenantRow(id=tenant, created_at=_now()))
            return True

    def tenants(self) -> list[str]:
        with self._sessions.begin() as s:
            return list(s.scalars(select(TenantRow.id).order_by(TenantRow.id)))

"""Tenant schemas in the metadata store: each tenant's own extensions, cubes and marts.

Rows in ``storage/rows_schemas.py`` (migration 0013). Declarations are plain dicts (validated
by ``tenancy/schemas.py``): storage imports no domain. Every change bumps the tenant's schema
generation in the same transaction.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from ledgerhouse.storage.rows import _aware, _now
from ledgerhouse.storage.rows_schemas import TenantSchemaGenerationRow, TenantSchemaObjectRow


class SchemaStore:
    def __init__(self, engine: Engine, sessions: sessionmaker[Session]) -> None:
        self._engine = engine
        self._sessions = sessions

    def generation(self, tenant: str) -> int:
        """The tenant's schema generation (0 before its first schema object)."""
        with self._sessions.begin() as s:
            row = s.get(TenantSchemaGenerationRow, tenant)
            return row.generation if row is not None else 0

    def objects(self, tenant: str) -> tuple[int, list[dict[str, Any]]]:
        """The generation and every schema object of the tenant (kind, name, spec, who, when),
        read in one transaction."""
        with self._sessions.begin() as s:
            row = s.get(TenantSchemaGenerationRow, tenant)
            rows = s.scalars(
                select(TenantSchemaObjectRow)
                .where(TenantSchemaObjectRow.tenant_id == tenant)
                .order_by(TenantSchemaObjectRow.kind, TenantSchemaObjectRow.name)
            )
            found = [
                {
                    "kind": r.kind,
                    "name": r.name,
                    "spec": r.spec,
                    "created_by": r.created_by,
                    "created_at": _aware(r.created_at),
                }
                for r in rows
            ]
            return (row.generation if row is not None else 0), found

    def put(self, tenant: str, kind: str, name: str, spec: dict[str, Any], user: str) -> int:
        """Add (or replace) one object; return the new generation."""
        with self._sessions.begin() as s:
            s.merge(
                TenantSchemaObjectRow(
                    tenant_id=tenant,
                    kind=kind,
                    name=name,
                    spec=spec,
                    created_by=user,
                    created_at=_now(),
                )
            )
            return self._bump(s, tenant)

    def remove(self, tenant: str, kind: str, name: str) -> bool:
        """Remove one object; False when the tenant has none of that kind and name."""
        with self._sessions.begin() as s:
            gone = s.execute(
                delete(TenantSchemaObjectRow).where(
                    TenantSchemaObjectRow.tenant_id == tenant,
                    TenantSchemaObjectRow.kind == kind,
                    TenantSchemaObjectRow.name == name,
                )
            )
            if not gone.rowcount:  # type: ignore[attr-defined]
                return False
            self._bump(s, tenant)
            return True

    @staticmethod
    def _bump(s: Session, tenant: str) -> int:
        row = s.get(TenantSchemaGenerationRow, tenant)
        if row is None:
            row = TenantSchemaGenerationRow(tenant_id=tenant, generation=0)
            s.add(row)
        row.generation += 1
        return row.generation

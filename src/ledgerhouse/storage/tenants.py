"""Tenants in the metadata store: created, listed, their lifecycle status, and their removal.

A tenant is ``active``, ``suspended`` or ``deleted`` (exported, pending purge). Every status
change raises the tenant's key generation in the same transaction, so every process's cached
API keys of the tenant are read again on their next request. ``status_of`` is asked on every
authenticated request: one primary-key read with a statement built once, like the key
generation (storage/keys.py).

The platform's pseudo-tenant (``access.PLATFORM_TENANT``) has a row so that its API keys have
a tenant to belong to, but it is not a tenant: ``tenants()`` and ``records()`` never list it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import MetaData, bindparam, delete, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from ledgerhouse.access import PLATFORM_TENANT
from ledgerhouse.storage.rows import TenantRow, _aware, _now

STATUSES = ("active", "suspended", "deleted")

# Built once: every authenticated request runs it.
_STATUS = select(
    TenantRow.status, TenantRow.status_reason, TenantRow.suspended_at, TenantRow.deleted_at,
    TenantRow.purge_after,
).where(TenantRow.id == bindparam("tenant"))  # fmt: skip


@dataclass(frozen=True)
class TenantStatus:
    """What the per-request check needs: the status and, when not active, since when, why
    and (deleted) until when the tenant can be resumed."""

    status: str
    reason: str | None = None
    suspended_at: datetime | None = None
    deleted_at: datetime | None = None
    purge_after: datetime | None = None


@dataclass(frozen=True)
class TenantRecord:
    """A tenant's row: its name, status, and who changed the status last, when and why."""

    name: str
    status: str
    created_at: datetime
    reason: str | None
    changed_by: str | None
    suspended_at: datetime | None
    deleted_at: datetime | None
    purge_after: datetime | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status,
            "created_at": self.created_at,
            "reason": self.reason,
            "changed_by": self.changed_by,
            "suspended_at": self.suspended_at,
            "deleted_at": self.deleted_at,
            "purge_after": self.purge_after,
        }


def _opt(ts: datetime | None) -> datetime | None:
    return _aware(ts) if ts is not None else None


def _record(row: TenantRow) -> TenantRecord:
    return TenantRecord(
        name=row.id,
        status=row.status or "active",
        created_at=_aware(row.created_at),
        reason=row.status_reason,
        changed_by=row.status_by,
        suspended_at=_opt(row.suspended_at),
        deleted_at=_opt(row.deleted_at),
        purge_after=_opt(row.purge_after),
    )


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

    def ensure_platform(self) -> None:
        """The platform pseudo-tenant's row (its API keys belong to it); never listed."""
        with self._sessions.begin() as s:
            if s.get(TenantRow, PLATFORM_TENANT) is None:
                s.add(TenantRow(id=PLATFORM_TENANT, created_at=_now()))

    def tenants(self) -> list[str]:
        """Every tenant's name (active, suspended or deleted and not yet purged)."""
        with self._sessions.begin() as s:
            q = select(TenantRow.id).where(TenantRow.id != PLATFORM_TENANT)
            return list(s.scalars(q.order_by(TenantRow.id)))

    def records(self) -> list[TenantRecord]:
        with self._sessions.begin() as s:
            q = select(TenantRow).where(TenantRow.id != PLATFORM_TENANT).order_by(TenantRow.id)
            return [_record(r) for r in s.scalars(q)]

    def record(self, tenant: str) -> TenantRecord | None:
        if tenant == PLATFORM_TENANT:
            return None
        with self._sessions.begin() as s:
            row = s.get(TenantRow, tenant)
            return _record(row) if row is not None else None

    def status_of(self, tenant: str) -> TenantStatus | None:
        """The tenant's status (None: no such tenant): one primary-key read."""
        with self._engine.connect() as c:
            row = c.execute(_STATUS, {"tenant": tenant}).first()
        if row is None:
            return None
        status, reason, suspended, deleted, purge_after = row
        if status == "active" or status is None:
            return _ACTIVE
        return TenantStatus(status, reason, _opt(suspended), _opt(deleted), _opt(purge_after))

    def set_status(
        self,
        tenant: str,
        status: str,
        *,
        by: str,
        reason: str | None = None,
        at: datetime | None = None,
        purge_after: datetime | None = None,
        expect: tuple[str, ...] | None = None,
    ) -> tuple[TenantRecord, TenantRecord] | None:
        """Move the tenant to ``status`` (from one of ``expect`` when given) and raise its key
        generation, in one transaction; the (before, after) records, or None when the tenant
        does not exist. A status not in ``expect`` changes nothing and returns (before,
        before)."""
        if status not in STATUSES:
            raise ValueError(f"unknown tenant status {status!r}")
        when = at or _now()
        with self._sessions.begin() as s:
            # raising the generation first takes the write lock, as key changes do: two
            # status changes of one tenant run one after the other
            s.execute(
                update(TenantRow)
                .where(TenantRow.id == tenant, TenantRow.id != PLATFORM_TENANT)
                .values(key_generation=TenantRow.key_generation + 1)
            )
            row = s.get(TenantRow, tenant) if tenant != PLATFORM_TENANT else None
            if row is None:
                return None
            before = _record(row)
            if expect is not None and before.status not in expect:
                return before, before
            row.status = status
            row.status_reason = reason
            row.status_by = by
            if status == "active":
                row.suspended_at = row.deleted_at = row.purge_after = None
            elif status == "suspended":
                row.suspended_at = when
            else:
                row.deleted_at = when
                row.purge_after = purge_after
            s.flush()
            return before, _record(row)

    def remove(self, tenant: str) -> dict[str, int]:
        """Delete every metadata row of ``tenant`` (each table with a ``tenant_id`` column,
        children first, found by reflection so tables added later are included) and then the
        tenant's row; {table: rows deleted}."""
        if tenant == PLATFORM_TENANT:
            raise ValueError("the platform pseudo-tenant cannot be removed")
        reflected = MetaData()
        reflected.reflect(self._engine)
        removed: dict[str, int] = {}
        with self._engine.begin() as c:
            for table in reversed(reflected.sorted_tables):
                if table.name == "tenants" or "tenant_id" not in table.c:
                    continue
                n = c.execute(delete(table).where(table.c.tenant_id == tenant)).rowcount
                if n:
                    removed[table.name] = int(n)
            c.execute(delete(TenantRow).where(TenantRow.id == tenant))
        return removed


_ACTIVE = TenantStatus("active")
